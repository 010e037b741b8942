"""Loading everything: the typed files assembled into one :class:`MessageLog`, with the table of
rejected rows."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import phones
from ..errors import InputError, Problem, UsageError
from .discover import expand_inputs
from .options import CANONICAL, LoadOptions
from .raw import RawFile, check_columns
from .read import read_raw
from .typed import Rows, Typed, as_display, consecutive, type_columns


class Later:
    """A dataclass field that may be given as a Future (worked out on a thread while the run
    goes on): reading it waits for the value (and raises the thread's error, if any)."""

    def __init__(self, default=()):
        self.default = default

    def __set_name__(self, owner, name: str):
        self.key = f"_{name}_later"

    def __get__(self, obj, owner=None):
        if obj is None:
            return self.default
        value = obj.__dict__.get(self.key, self.default)
        if isinstance(value, Future):
            value = obj.__dict__[self.key] = value.result()
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.key] = value


@dataclass(eq=False)
class MessageLog:
    """The loaded rows that passed validation, column by column, plus the rejected ones.

    ``row`` is each loaded row's position in the input (all files' rows numbered from 0 in
    the order given); ids are dictionary codes into ``businesses`` / ``subscribers``;
    ``timestamp`` is int64 nanoseconds since the epoch, UTC.
    """

    sources: list[str]
    offsets: np.ndarray
    row: np.ndarray = Rows()              # may be given as a range (made an array when read)
    message_id: pa.Array
    business: np.ndarray
    businesses: pa.Array
    subscriber: np.ndarray
    subscribers: pa.Array
    timestamp: np.ndarray
    inbound: np.ndarray
    mtype: np.ndarray
    message_types: list[str]
    status: np.ndarray | None
    statuses: list[str]
    rejected: pa.Table
    problems: list[Problem]
    blank_lines: int = 0                      # blank lines / all-empty rows (outside the row identity)
    notices: tuple[Problem, ...] = Later()    # load-time warnings (e.g. a last line without a line end)

    def __len__(self) -> int:
        return len(self.timestamp)

    @property
    def rows_read(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_rejected(self) -> int:
        return self.rejected.num_rows

    def locate(self, global_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(file index, 1-based row within its file) of global input rows."""
        global_rows = np.asarray(global_rows, dtype=np.int64)
        f = np.searchsorted(self.offsets, global_rows, side="right") - 1
        return f, global_rows - self.offsets[f] + 1

    def message_type_names(self) -> pa.Array:
        return names_of(self.message_types, self.mtype)

    def status_names(self) -> pa.Array | None:
        return None if self.status is None else names_of(self.statuses, self.status)


def names_of(names: Sequence, codes: np.ndarray) -> pa.Array:
    """The name of each code as strings (code -1: null)."""
    idx = np.where(codes < 0, len(names), codes) if len(codes) and codes.min() < 0 else codes
    return pa.array(list(names) + [None], pa.string()).take(pa.array(idx))


def _unify(parts: list[tuple[np.ndarray, list]]) -> tuple[np.ndarray, list[str]]:
    """Concatenate per-file small-dictionary codes into one code space (names sorted)."""
    names = sorted({n for _, ns in parts for n in ns if n})
    index = {n: i for i, n in enumerate(names)}
    out = []
    for codes, ns in parts:
        if ns == names[:len(ns)] and codes.dtype == np.int32:
            out.append(codes)             # the file's codes are the common ones already
            continue
        remap = np.array([index.get(n, -1) if n else -1 for n in ns] + [-1], dtype=np.int32)
        out.append(remap[codes])          # code -1 picks the last entry: -1
    if len(out) == 1:
        return out[0], names
    return (np.concatenate(out) if out else np.zeros(0, np.int32)), names


def load(inputs: Sequence[str] | str, options: LoadOptions | None = None, stdin=None,
         progress=None, file_problems: list[Problem] | None = None, on_ids=None) -> MessageLog:
    """Read every input into one :class:`MessageLog`.

    Raises :class:`InputError` naming the file, row and value of the first invalid row (and how
    many there are) unless ``options.on_invalid == "skip"``, in which case invalid rows are kept
    aside in ``MessageLog.rejected`` with their problem; when the skip leaves no row at all, that
    is an error too ("all N rows were rejected"), and so is an input without any data row ("no
    data rows"). With ``file_problems`` (a list), a file that cannot be read at all (missing, no
    such column, ...) is reported there and left out instead of stopping the run, no data rows is
    reported there too, and every row may be rejected (``validate`` lists them). ``on_ids``,
    when given, is called with each file's typed ``message_id`` array as soon as it is typed,
    before the file's other columns (see :mod:`viber_sessions.segment.ahead`).
    """
    options = options or LoadOptions()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [str(inputs)]
    if not inputs:
        raise UsageError("no input files given")
    files: list[str] = []
    for item in inputs:
        try:
            files.extend(expand_inputs([str(item)]))
        except InputError as exc:
            if file_problems is None:
                raise
            file_problems.extend(exc.problems)
    typed: list[Typed] = []
    read: list[str] = []
    for name in files:
        try:
            typed.append(type_columns(name, read_raw(name, options, stdin), options, on_ids=on_ids))
        except InputError as exc:
            if file_problems is None:
                raise
            file_problems.extend(exc.problems)
            continue
        read.append(name)
        if progress is not None:
            progress(name)
    strict = file_problems is None
    if read and sum(t.n_rows for t in typed) == 0:
        problem = no_data_rows(read, sum(t.blank for t in typed), [t.header for t in typed])
        if strict:
            raise InputError(problem)
        file_problems.append(problem)
    return assemble(read, typed, options, strict=strict)


def from_table(table, options: LoadOptions | None = None,
               name: str = "<table>") -> MessageLog:
    """A :class:`MessageLog` from an in-memory pyarrow Table or pandas DataFrame with the
    canonical columns (for library use). As :func:`load`: a table without rows is an error
    ("no data rows"), and so is one whose every row is rejected with ``on_invalid="skip"``."""
    options = options or LoadOptions()
    if not isinstance(table, pa.Table):
        table = arrow_table(table, name)
    wanted = {options.source_name(c): c for c in CANONICAL}
    check_columns(name, table.column_names, options)
    if table.num_rows == 0:
        raise InputError(Problem(name, None, None, "no_data_rows", "no data rows (the table has no rows)"))
    table = table.select([s for s in wanted if s in table.column_names])
    table = table.rename_columns([wanted[c] for c in table.column_names])
    return assemble([name], [type_columns(name, RawFile(table), options)], options, strict=True)


def arrow_table(frame, name: str) -> pa.Table:
    """A pandas DataFrame as a pyarrow Table; a column Arrow cannot convert (text mixed with
    numbers or other objects) is one error naming it."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        for column in frame.columns:
            try:
                pa.Table.from_pandas(frame[[column]], preserve_index=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as inner:
                why = str(inner.args[0] if inner.args else inner).splitlines()[0][:200]
                raise InputError(Problem(name, None, str(column), "bad_column_type",
                                         f"the column mixes values of different types ({why}); give it one type, "
                                         f"text for identifiers (e.g. df[{str(column)!r}].astype('string'))")) from None
        raise InputError(Problem(name, None, None, "bad_column_type", str(exc).splitlines()[0][:300])) from None


def _encode_ids(arrays: list[pa.Array]) -> tuple[np.ndarray, pa.Array]:
    """int32 codes and one dictionary for identifier arrays (strings or dictionaries) of all files."""
    chunks = [a if pa.types.is_dictionary(a.type) else pc.dictionary_encode(a) for a in arrays]
    chunks = [c for c in chunks if len(c)] or chunks[:1]
    if not chunks:
        return np.zeros(0, np.int32), pa.array([], pa.string())
    if len(chunks) > 1:
        chunks = pa.chunked_array(chunks).unify_dictionaries().chunks
    codes = [c.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False) for c in chunks]
    return (codes[0] if len(codes) == 1 else np.concatenate(codes)), chunks[0].dictionary


def assemble(files: list[str], typed: list[Typed], options: LoadOptions, strict: bool = False) -> MessageLog:
    """One MessageLog from the typed files. ``strict``: with ``on_invalid="skip"``, a log whose
    every row is rejected is an error too."""
    offsets = np.zeros(len(files) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([t.n_rows for t in typed])
    n_bad = sum(t.n_invalid for t in typed)
    if n_bad and (options.on_invalid == "error" or (strict and n_bad == offsets[-1])):
        first = next(t for t in typed if t.n_invalid).problems(limit=1)[0][1]
        if options.on_invalid == "error":
            raise InputError([first], total=n_bad)
        raise InputError(all_rejected(n_bad, first))

    keep = [~t.bad.mask for t in typed]
    per_file = [t.problems() if t.n_invalid else [] for t in typed]
    problems = [p for ps in per_file for _, p in ps]
    rejected = rejected_table(typed, offsets, per_file)

    def cat(arrays):
        arrays = [a for a in arrays if len(a)] or arrays[:1]
        if len(arrays) == 1 and isinstance(arrays[0], pa.Array) and arrays[0].type == pa.string():
            return arrays[0]              # one file's ids as they are (combining copies them)
        return pa.chunked_array(arrays, type=pa.string()).combine_chunks() if arrays else pa.array([], pa.string())

    def take(arr, k: np.ndarray):
        if k.all():
            return arr
        return arr.filter(pa.array(k)) if isinstance(arr, pa.Array) else arr[k]

    def join(arrays, dtype):
        if len(arrays) == 1:
            return arrays[0]
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype)

    message_id = cat([take(t.message_id, k) for t, k in zip(typed, keep)])
    business, businesses = _encode_ids([take(t.business_id, k) for t, k in zip(typed, keep)])
    subscriber, subscribers = _encode_ids([take(t.subscriber_id, k) for t, k in zip(typed, keep)])
    mtype, mtypes = _unify([(take(t.mtype, k), t.mtypes) for t, k in zip(typed, keep)])
    if any(t.status is not None for t in typed):
        status, statuses = _unify([((take(t.status, k) if t.status is not None else np.full(int(k.sum()), -1, np.int32)),
                                    t.statuses) for t, k in zip(typed, keep)])
    else:
        status, statuses = None, []
    notices = with_spellings([p for t in typed for p in t.notices], files, subscribers, options)
    return MessageLog(
        sources=list(files), offsets=offsets,
        row=loaded_rows(typed, keep, offsets),
        message_id=message_id,
        business=business, businesses=businesses, subscriber=subscriber, subscribers=subscribers,
        timestamp=join([take(t.timestamp, k) for t, k in zip(typed, keep)], np.int64),
        inbound=join([take(t.inbound, k) for t, k in zip(typed, keep)], bool),
        mtype=mtype, message_types=mtypes, status=status, statuses=statuses,
        rejected=rejected, problems=problems, blank_lines=sum(t.blank for t in typed), notices=notices,
    )


def loaded_rows(typed: list[Typed], keep: list[np.ndarray], offsets: np.ndarray) -> np.ndarray | range:
    """The input row of each loaded row: a range when one file's rows are all loaded in order
    (the array is then made only if it is read)."""
    if len(typed) == 1 and consecutive(typed[0], "positions") is not None and keep[0].all():
        return consecutive(typed[0], "positions")
    parts = []
    for t, k, offset in zip(typed, keep, offsets.tolist()):
        rows = t.positions if k.all() else t.positions[k]
        parts.append(rows + offset if offset else rows)
    return parts[0] if len(parts) == 1 else (np.concatenate(parts) if parts else np.zeros(0, np.int64))


#: Distinct subscribers from which the spellings check runs on a thread (see :func:`with_spellings`).
SPELLINGS_ON_A_THREAD = 100_000


def with_spellings(notices: list, files: Sequence[str], subscribers: pa.Array,
                   options: LoadOptions) -> tuple | Future:
    """``notices`` and the :func:`spelling_notice`, distinct, in order. With many subscribers
    the check (Arrow work that lets other threads run) is made on a thread while the run
    segments the log: a Future for :class:`Later`."""
    def done() -> tuple:
        spelled = spelling_notice(files, subscribers, options)
        return tuple(dict.fromkeys(notices + ([spelled] if spelled is not None else [])))

    if options.subscriber_format != "as_is" or len(subscribers) < SPELLINGS_ON_A_THREAD:
        return done()
    future: Future = Future()

    def work():
        try:
            future.set_result(done())
        except BaseException as exc:        # noqa: BLE001 - raised where the notices are read
            future.set_exception(exc)

    threading.Thread(target=work, name="viber-sessions-spellings", daemon=True).start()
    return future


def spelling_notice(files: Sequence[str], subscribers: pa.Array, options: LoadOptions) -> Problem | None:
    """The warning that some subscribers appear under more than one spelling (read as
    different subscribers), when they are read as written; ``subscribers`` are the distinct ids."""
    if options.subscriber_format != "as_is":
        return None
    found = phones.subscriber_spellings(subscribers)
    if not found.count:
        return None
    shown = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
    return Problem(shown, None, options.source_name("subscriber_id"), "subscriber_spellings",
                   f"{found.describe()}; each spelling is billed as a subscriber of its own, with its own sessions: "
                   "give --subscriber-format e164 (and --default-region) to read them as phone numbers")


def all_rejected(n: int, first: Problem) -> Problem:
    """The error when --on-invalid skip rejected every row: nothing would be billed."""
    return Problem(first.file, first.row, first.column, "all_rows_rejected",
                   f"all {n} rows were rejected (--on-invalid skip); the first: {first.message}", first.value)


def no_data_rows(files: Sequence[str], blank: int, headers: Sequence[bool]) -> Problem:
    """The error when the whole input holds no data row (headers and blank lines only)."""
    if len(files) == 1:
        what = "the file is empty" if not headers[0] and not blank else \
            "no data rows: the file holds " + ("a header" if headers[0] else "no header") + \
            (f" and {blank} blank line{'s' if blank != 1 else ''}" if blank else " only")
        return Problem(files[0], None, None, "no_data_rows", what)
    shown = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
    return Problem(shown, None, None, "no_data_rows",
                   f"no data rows in any of the {len(files)} files (headers and blank lines only)")


REJECTED_SCHEMA = pa.schema([
    ("row", pa.int64()), ("file", pa.string()), ("file_row", pa.int64()), ("column", pa.string()),
    ("code", pa.string()), ("error", pa.string()),
    *[(c, pa.string()) for c in CANONICAL],
])


def rejected_table(typed: list[Typed], offsets, per_file) -> pa.Table:
    """The rejected rows with their raw values (as text) and the first problem of each."""
    if not any(per_file):
        return REJECTED_SCHEMA.empty_table()
    columns: dict[str, list] = {f.name: [] for f in REJECTED_SCHEMA}
    for i, (t, ps) in enumerate(zip(typed, per_file)):
        if not ps:
            continue
        idx = [j for j, _ in ps if j is not None]
        raw = t.raw.take(pa.array(idx, pa.int64()))
        values = {c: iter(as_display(raw.column(c).combine_chunks()).to_pylist()) if c in raw.column_names else None
                  for c in CANONICAL}
        for j, p in ps:
            columns["row"].append(int(offsets[i]) + p.row)
            columns["file"].append(p.file)
            columns["file_row"].append(p.row)
            columns["column"].append(p.column)
            columns["code"].append(p.code)
            columns["error"].append(str(p))
            for c in CANONICAL:
                columns[c].append(next(values[c]) if (j is not None and values[c] is not None) else None)
    return pa.table(columns, schema=REJECTED_SCHEMA)
