"""Files out: one suffix -> format function, output checks, and outputs committed as one set.

Every output of a run is written to a temporary file beside its target, and the temporary
files are renamed over their targets together at the very end (with SIGINT/SIGTERM held off
while renaming), so a failure or a signal leaves the previous set of files as it was and no
temporary file behind. Character devices and FIFOs (``/dev/null``, ``/dev/stdout``, a pipe)
are written in place, never renamed over.

CSV cells that a spreadsheet would run as a formula (a leading ``=``, ``+``, ``-``, ``@``,
tab or carriage return; OWASP "CSV injection") are written with a leading ``'``, except plain
numbers and phone numbers such as ``+79001234567``; a value that itself starts with ``'`` gets
one more, so readers that remove exactly one leading ``'`` get every value back. Parquet and
JSON keep values as they are.

Tables arrive typed (:mod:`viber_sessions.tables`): timestamps as ``timestamp[ns, UTC]``, money
as ``decimal128``, repeated strings dictionary-encoded. Parquet keeps the types (dictionaries
are written as plain strings); CSV and JSON get :func:`as_text`: ISO-8601 UTC text for
timestamps, so CSV files read as before.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .entry import held
from .errors import UsageError, ViberSessionsError

FORMATS = {".json": "json", ".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".txt": "table", ".table": "table", ".html": "html", ".htm": "html"}


class OutputError(ViberSessionsError):
    """An output file could not be written (disk full, read-only folder, ...)."""


def output_format(path: str, allowed: Sequence[str], option: str = "--output") -> str:
    """The format of an output file from its suffix; a usage error when the suffix is not one of
    ``allowed`` (a ``.pdf`` never silently receives JSON). Special files (``/dev/stdout``, FIFOs)
    have no suffix to read: they take ``allowed[0]``."""
    low = path.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if low.endswith(suffix):
            kind = FORMATS[suffix]
            if kind in allowed:
                return kind
            break
    if _is_special(path):
        return allowed[0]
    names = sorted({s for s, k in FORMATS.items() if k in allowed})
    raise UsageError(f"{option} {path}: cannot write this kind of file; use a name ending in {', '.join(names)}")


def _suffix(path: str) -> str:
    low = path.lower()
    return next((suffix for suffix in sorted(FORMATS, key=len, reverse=True) if low.endswith(suffix)), "")


def _is_special(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def check_outputs(outputs: Mapping[str, str | None], inputs: Sequence[str], folders: Sequence[str] = ()) -> None:
    """Refuse, before anything is read, an output that is an input (the same file, also through
    links), two outputs onto one file, an output whose folder does not exist, and a data file
    (CSV or Parquet) written inside an input folder (the next run would read it as a log)."""
    given = {opt: p for opt, p in outputs.items() if p}
    roots = [os.path.realpath(f) for f in folders]
    for opt, path in given.items():
        real = os.path.realpath(path)
        if FORMATS.get(_suffix(path)) in ("csv", "parquet"):
            for root, name in zip(roots, folders):
                if os.path.commonpath([root, real]) == root:
                    raise UsageError(f"{opt} {path} is inside the input folder {name}: the next run would read it "
                                     "as a log; write it elsewhere")
    seen: dict = {}
    input_ids = {}
    for name in inputs:
        ident = _identity(name)
        if ident is not None:
            input_ids[ident] = name
    for opt, path in given.items():
        if _is_special(path):
            continue
        real = os.path.realpath(path)
        ident = _identity(path)
        if ident is not None and ident in input_ids:
            raise UsageError(f"{opt} {path} is an input ({input_ids[ident]}): refusing to overwrite it")
        key = ident or real
        if key in seen:
            raise UsageError(f"{opt} {path} and {seen[key][0]} {seen[key][1]} are the same file: give each output its own")
        seen[key] = (opt, path)
        folder = Path(real).parent
        if not folder.is_dir():
            raise UsageError(f"{opt} {path}: the folder {str(Path(path).parent)!r} does not exist")


def _fail(path: str, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on the device"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason = "the folder or file is not writable" if exc.errno != errno.EROFS else "read-only file system"
    return OutputError(f"cannot write {path}: {reason}")


class Staging:
    """Something staged beside its targets: committed when the ``with`` block ends without an
    error, its temporaries removed in any case. Subclasses say how to commit (``_commit``),
    clean up (``_cleanup``) and name a failure to commit (``_failure``)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        try:
            if kind is None and not self.__dict__.get("_committed"):
                with held():       # a signal between this commit and the next ones waits for all of them
                    self._commit_once()
                    for other in self.__dict__.get("_then", ()):
                        other._commit_once()
        finally:
            self._cleanup()
        return False

    def commit_with(self, other: "Staging") -> None:
        """Commit ``other`` (whose ``with`` block holds this one's) right after this one, with
        signals held across both commits: a signal between them would leave one set new and
        the other old. ``other`` then does not commit again when its own block ends."""
        self.__dict__.setdefault("_then", []).append(other)

    def _commit_once(self) -> None:
        try:
            self._commit()
        except OSError as err:
            raise self._failure(err) from None
        self._committed = True

    def _commit(self) -> None:
        raise NotImplementedError

    def _cleanup(self) -> None:
        raise NotImplementedError

    def _failure(self, err: OSError) -> Exception:
        raise NotImplementedError


class OutputSet(Staging):
    """Outputs staged as temporary files and committed together::

        with OutputSet() as out:
            write_json(out.stage("invoice.json"), ...)
            write_table(table, out.stage("m.parquet"))
        # all renamed here; on an exception (or signal) none is and the temporaries are gone
    """

    def __init__(self):
        self._staged: list[tuple[str, str]] = []   # (temporary, target)

    def stage(self, path: str) -> str:
        """A temporary path to write ``path``'s new content to."""
        target = Path(path)
        folder = tempfile.gettempdir() if _is_special(path) else str(target.parent)
        with held():      # a signal between creating the file and noting it would leave it behind
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
            except OSError as exc:
                raise _fail(path, exc) from None
            os.close(fd)
            self._staged.append((tmp, path))
        return tmp

    def _failure(self, err: OSError) -> Exception:
        return _fail(self._current, err)

    def _commit(self) -> None:
        umask = os.umask(0)
        os.umask(umask)
        with held():
            for tmp, target in self._staged:
                self._current = target
                if _is_special(target):
                    with open(tmp, "rb") as src, open(target, "wb") as dst:
                        while chunk := src.read(1 << 20):
                            dst.write(chunk)
                    os.unlink(tmp)
                else:
                    os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes 0600; a normal file follows the umask
                    os.replace(tmp, target)

    def _cleanup(self) -> None:
        with held():
            for tmp, _ in self._staged:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            self._staged.clear()

    _current = ""


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """One output on its own: a temporary path that replaces ``path`` when the block ends."""
    check_outputs({"output": path}, [])
    with OutputSet() as out:
        tmp = out.stage(path)
        try:
            yield tmp
        except OSError as exc:
            raise _fail(path, exc) from None


def write_text(tmp: str, text: str, target: str | None = None) -> None:
    try:
        Path(tmp).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(target or tmp, exc) from None


# ---------------------------------------------------------------------------------------------
# Tables

_FORMULA = r"^['=+\-@\t\r]"
_PLAIN_NUMBER = r"^[+-]?[0-9]+([.,][0-9]+)?$"


def neutralise_text(value: str) -> str:
    """One CSV cell as written: a leading ``'`` before what a spreadsheet would run."""
    import re

    if value and re.match(_FORMULA, value) and not re.match(_PLAIN_NUMBER, value):
        return "'" + value
    return value


def neutralise(table: pa.Table) -> pa.Table:
    """Every string cell of ``table`` through :func:`neutralise_text`, vectorised."""
    for i, field in enumerate(table.schema):
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            continue
        col = table.column(i)
        if pa.types.is_dictionary(field.type):
            col = col.cast(kind)
        risky = pc.and_(pc.match_substring_regex(col, _FORMULA),
                        pc.invert(pc.match_substring_regex(col, _PLAIN_NUMBER)))
        if pc.any(risky).as_py():
            col = pc.if_else(risky, pc.binary_join_element_wise("'", col, ""), col)
            table = table.set_column(i, field.name, col)
    return table


def as_text(table: pa.Table) -> pa.Table:
    """``table`` as CSV and JSON show it: each timestamp as ISO-8601 UTC text
    (``2026-10-05T09:00:00Z``, fractions of a second only when present); a null timestamp with a
    ``raw_<name>`` column beside it (a rejected row's) as that raw text, so a rejected row reads
    as it was written; dictionary-encoded columns as their values. Other columns (numbers,
    decimals, booleans, strings) stay as they are."""
    from .timeutil import iso_utc

    names = table.column_names
    for i, field in enumerate(table.schema):
        col = table.column(i)
        if pa.types.is_timestamp(field.type):
            col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
            ns = col.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
            text = iso_utc(ns.fill_null(0).to_numpy(zero_copy_only=False))
            if col.null_count:
                raw = f"raw_{field.name}"
                fill = (table.column(raw).combine_chunks().cast(pa.string()) if raw in names
                        else pa.nulls(len(col), pa.string()))
                text = pc.if_else(col.is_valid(), text, fill)
            table = table.set_column(i, field.name, text)
        elif pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, col.cast(field.type.value_type))
    return table


def parquet_ready(table: pa.Table) -> pa.Table:
    """``table`` as Parquet stores it: dictionary-encoded columns as their plain values (a reader
    gets the same column types whether or not a column was encoded); every other type kept."""
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table


def csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(neutralise(as_text(table)), buf, pacsv.WriteOptions(quoting_style="needed"))
    return buf.getvalue()


def write_table(table: pa.Table, tmp: str, target: str, kind: str | None = None) -> None:
    """``table`` as CSV (``.csv``, ``.csv.gz``) or Parquet to the staged file ``tmp`` of
    ``target``, deterministically (no timestamps or writer ids that vary between runs)."""
    kind = kind or output_format(target, ("csv", "parquet"))
    try:
        if kind == "parquet":
            pq.write_table(parquet_ready(table), tmp, compression="zstd")
        else:
            compression = "gzip" if target.lower().endswith(".gz") else None
            with pa.output_stream(tmp, compression=compression) as out:
                pacsv.write_csv(neutralise(as_text(table)), out, pacsv.WriteOptions(quoting_style="needed"))
    except OSError as exc:
        raise _fail(target, exc) from None


def write_tables(parts, tmp: str, target: str) -> None:
    """Tables that arrive part by part (same columns) as one CSV or Parquet file, the same bytes
    as :func:`write_table` of their concatenation."""
    kind = output_format(target, ("csv", "parquet"))
    writer = sink = None
    try:
        for k, table in enumerate(parts):
            if kind == "parquet":
                table = parquet_ready(table)
                writer = writer or pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table)
            else:
                sink = sink or pa.output_stream(tmp, compression="gzip" if target.lower().endswith(".gz") else None)
                pacsv.write_csv(neutralise(as_text(table)), sink,
                                pacsv.WriteOptions(quoting_style="needed", include_header=k == 0))
    except OSError as exc:
        raise _fail(target, exc) from None
    finally:
        if writer is not None:
            writer.close()
        if sink is not None:
            sink.close()
