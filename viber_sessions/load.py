"""Load message logs (CSV, CSV.gz, Parquet, stdin) into one typed table: a :class:`MessageLog`.

Everything here is column work with pyarrow and numpy; no Python loop runs per row except on
the error path, where the offending rows are described one by one. A CSV line is one record
(no field holds a line break: see "CSV lines"); blank lines and all-empty rows are counted, not
read; timestamps are valid in [2000-01-01, 2100-01-01) UTC only; Parquet metadata is checked
against the file's size before anything is allocated.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import InputError, Problem, UsageError
from .timeutil import DAY_NS, MAX_NS, MIN_NS, NS, check_timezone, in_range, local_to_utc

REQUIRED = ("message_id", "timestamp", "business_id", "subscriber_id", "direction", "message_type")
OPTIONAL = ("status",)
CANONICAL = REQUIRED + OPTIONAL
ID_COLUMNS = ("message_id", "business_id", "subscriber_id")

#: Accepted spellings of the direction (case-insensitive) -> is the message inbound?
DIRECTIONS: Mapping[str, bool] = {
    "inbound": True, "in": True, "mo": True, "incoming": True, "subscriber": True,
    "outbound": False, "out": False, "mt": False, "outgoing": False, "business": False,
}
#: Integer epoch values below this are seconds, at or above it milliseconds (auto-detection).
EPOCH_MS_THRESHOLD = 100_000_000_000
EPOCH_UNITS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
ON_INVALID = ("error", "skip")

_ISO_NAIVE = r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
_RE_NAIVE = f"^{_ISO_NAIVE}$"
_RE_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?\s?(Z|[+-]\d{2}(:?\d{2})?)$"
_RE_INT = r"^\d{1,19}$"          # negative epochs lie before 2000: invalid
DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


@dataclass(frozen=True)
class LoadOptions:
    """How to read the input: column names, time zone of naive timestamps, invalid rows."""

    column_map: Mapping[str, str] = field(default_factory=dict)
    input_tz: str = "UTC"
    epoch_unit: str | None = None
    on_invalid: str = "error"

    def __post_init__(self):
        check_timezone(self.input_tz, "--input-tz")
        unknown = sorted(set(self.column_map) - set(CANONICAL))
        if unknown:
            raise UsageError(f"--map {unknown[0]}=...: {unknown[0]!r} is not a column of the log "
                             f"(columns: {', '.join(CANONICAL)})")
        sources = Counter(self.source_name(c) for c in CANONICAL)
        for c in CANONICAL:
            if sources[self.source_name(c)] > 1:
                others = [o for o in CANONICAL if o != c and self.source_name(o) == self.source_name(c)]
                raise UsageError(f"--map: {c} and {others[0]} both name the column {self.source_name(c)!r}")
        if self.epoch_unit is not None and self.epoch_unit not in EPOCH_UNITS:
            raise UsageError(f"--epoch-unit must be one of {', '.join(EPOCH_UNITS)}, not {self.epoch_unit!r}")
        if self.on_invalid not in ON_INVALID:
            raise UsageError(f"--on-invalid must be 'error' or 'skip', not {self.on_invalid!r}")

    def source_name(self, canonical: str) -> str:
        return self.column_map.get(canonical, canonical)


@dataclass(eq=False)
class MessageLog:
    """The loaded rows that passed validation, column by column, plus the rejected ones.

    ``row`` is each loaded row's position in the input (all files' rows numbered from 0 in
    the order given); ids are dictionary codes into ``businesses`` / ``subscribers``;
    ``timestamp`` is int64 nanoseconds since the epoch, UTC.
    """

    sources: list[str]
    offsets: np.ndarray
    row: np.ndarray
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
    notices: tuple[Problem, ...] = ()         # load-time warnings (e.g. a last line without a line end)

    def __len__(self) -> int:
        return len(self.row)

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


# ---------------------------------------------------------------------------------------------
# Finding the input files


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Files, directories (their data files, sorted) and globs, in the order given; ``-`` is stdin."""
    files: list[str] = []
    for item in inputs:
        if item == "-":
            files.append("-")
            continue
        path = Path(item)
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and _is_data_file(p.name))
            if not found:
                raise InputError(Problem(item, None, None, "no_data_files",
                                         "directory holds no .csv, .csv.gz or .parquet file"))
            files.extend(found)
        elif path.exists():
            files.append(item)
        elif glob.has_magic(item):
            found = sorted(glob.glob(item, recursive=True))
            if not found:
                raise InputError(Problem(item, None, None, "no_match", "no file matches this pattern"))
            files.extend(found)
        else:
            raise InputError(Problem(item, None, None, "missing_file", "no such file"))
    return files


def _is_data_file(name: str) -> bool:
    return name.lower().endswith(DATA_SUFFIXES)


def _is_parquet(name: str) -> bool:
    return name.lower().endswith((".parquet", ".pq"))


# ---------------------------------------------------------------------------------------------
# Reading one file into raw columns


def _csv_opener(name: str, stdin):
    """A function that opens the CSV afresh each call (stdin is read once and kept)."""
    if name == "-":
        data = (stdin or sys.stdin.buffer).read()
        return lambda: pa.BufferReader(data)
    return lambda: pa.input_stream(name, compression="detect")


@dataclass
class RawFile:
    """One file's canonical columns (or one batch of them), and what was set aside on the way.

    ``malformed`` holds the data rows that could not be split into fields, as ``(data row,
    text, code)`` (a quote left open at the line end, a wrong number of fields, text that is not
    UTF-8; data rows count from 1 after the header, blank lines not counted); with
    ``on_invalid="error"`` only the first ones are kept and ``n_malformed`` counts them all.
    ``blank`` counts blank lines and all-empty rows (no data rows); ``notices`` are load-time
    warnings; ``header`` is False for a file without any non-blank line.
    """

    table: pa.Table
    malformed: list[tuple[int, str, str]] = field(default_factory=list)
    blank: int = 0
    notices: list[Problem] = field(default_factory=list)
    n_malformed: int | None = None
    header: bool = True

    @property
    def malformed_count(self) -> int:
        return len(self.malformed) if self.n_malformed is None else self.n_malformed


DICT = pa.dictionary(pa.int32(), pa.string())
#: Read dictionary-encoded (the reader encodes them, in parallel): everything but the message id.
DICT_COLUMNS = ("business_id", "subscriber_id", "direction", "message_type", "status")
TS_UTC = pa.timestamp("ns", tz="UTC")
#: Invalid data lines whose text is kept with --on-invalid error (the first is reported, all counted).
KEEP_WHEN_ERROR = 100


@contextlib.contextmanager
def reading(name: str):
    """Turn the errors of reading ``name`` into one InputError line that names the file."""
    try:
        yield
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(Problem(name, None, None, "missing_file", "no such file")) from None
    except (pa.ArrowMemoryError, MemoryError):
        raise InputError(Problem(name, None, None, "too_large", "not enough memory to read this file "
                                 "(bill it with --memory-limit)")) from None
    except (pa.ArrowException, OSError, UnicodeDecodeError, EOFError) as exc:
        text = _first_line(str(exc))
        if "truncated compressed stream" in text.lower() or isinstance(exc, EOFError):
            raise InputError(Problem(name, None, None, "truncated", "the compressed file is cut short "
                                     "(the end of its compressed stream is missing)")) from None
        raise InputError(Problem(name, None, None, "unreadable", text)) from None


def parquet_dictionary_columns(schema: pa.Schema, wanted: Mapping[str, str]) -> list[str]:
    """The source columns to read dictionary-encoded: strings among DICT_COLUMNS."""
    return [src for src in wanted if src in schema.names and wanted[src] in DICT_COLUMNS
            and (pa.types.is_string(schema.field(src).type) or pa.types.is_large_string(schema.field(src).type))]


def read_raw(name: str, options: LoadOptions, stdin=None) -> RawFile:
    """One file's rows with the canonical columns it has, renamed to canonical names.

    CSV columns are read as text (identifiers stay exactly as written), the low-cardinality and
    id columns dictionary-encoded by the reader; timestamps are parsed by the reader when every
    value carries an offset, else read as text and parsed afterwards. Parquet columns keep their
    stored types (string columns come dictionary-encoded). A missing or doubled column is an
    error that names it. Blank lines and all-empty rows are counted and left out.
    """
    with reading(name):
        if name != "-" and _is_parquet(name):
            return read_parquet(name, options)
        return read_csv(name, options, stdin)


def read_parquet(name: str, options: LoadOptions, row_groups: Sequence[int] | None = None) -> RawFile:
    """A Parquet file (or some of its row groups) as raw canonical columns."""
    pf, present, wanted = open_parquet(name, options)
    if row_groups is None:
        check_memory(name, pf.metadata.num_rows)
        table = pf.read(columns=present, use_threads=True)
    else:
        table = pf.read_row_groups(list(row_groups), columns=present, use_threads=True)
    table, blank = drop_blank_rows(table.rename_columns([wanted[c] for c in table.column_names]))
    return RawFile(table, blank=blank)


def open_parquet(name: str, options: LoadOptions) -> tuple[pq.ParquetFile, list[str], dict[str, str]]:
    """The file (string columns read dictionary-encoded), the source columns to read and their
    canonical names, after checking its columns and the sizes its metadata declares."""
    # ParquetFile, not read_table: the same reader without the datasets layer (which imports
    # pandas: a third of a second per run)
    wanted = {options.source_name(c): c for c in CANONICAL}
    pf = pq.ParquetFile(name)
    schema = pf.schema_arrow
    _check_columns(name, schema.names, options)
    check_parquet_sizes(name, pf.metadata, os.path.getsize(name))
    present = [src for src in wanted if src in schema.names]
    pf = pq.ParquetFile(name, read_dictionary=parquet_dictionary_columns(schema, wanted) or None)
    return pf, present, wanted


#: A Parquet row group may declare at most this many rows per byte of its column chunks. Real
#: logs take 2 bytes a row or more (a distinct message id and timestamp per row); 32 rows a byte
#: needs delta encodings of perfectly regular synthetic data; a crafted run-length encoding
#: reaches hundreds of millions (a 2 KB file claiming 10^12 rows).
MAX_ROWS_PER_BYTE = 1000
#: Memory a loaded row takes at the least (the in-memory path refuses what cannot fit).
MIN_BYTES_PER_ROW = 40


def check_parquet_sizes(name: str, meta: pq.FileMetaData, file_size: int) -> None:
    """Refuse a file whose metadata declares more than its bytes can hold (before anything is
    allocated): column chunks outside the file, row counts that disagree, or more rows than
    MAX_ROWS_PER_BYTE allows."""
    def bad(message: str):
        raise InputError(Problem(name, None, None, "bad_parquet_metadata",
                                 f"{message}: the file is damaged or crafted"))

    flat = [meta.schema.column(c).max_repetition_level == 0 for c in range(meta.num_columns)]
    total = 0
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        rows, chunk_bytes = rg.num_rows, 0
        if rows < 0:
            bad(f"row group {g} declares {rows} rows")
        for c in range(rg.num_columns):
            col = rg.column(c)
            start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
            size = col.total_compressed_size
            if start is None or start < 0 or size < 0 or start + size > file_size:
                bad(f"row group {g}, column {col.path_in_schema!r} lies outside the file ({file_size} bytes)")
            if c < len(flat) and flat[c] and col.num_values != rows:    # a value (or null) per row
                bad(f"row group {g}, column {col.path_in_schema!r} declares {col.num_values} values "
                    f"for {rows} rows")
            chunk_bytes += size
        if rows > MAX_ROWS_PER_BYTE * max(chunk_bytes, 1) + 1024:
            bad(f"row group {g} declares {rows} rows in {chunk_bytes} bytes")
        total += rows
    if total != meta.num_rows:
        bad(f"the row groups hold {total} rows, the file declares {meta.num_rows}")


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(name: str, rows: int) -> None:
    """Refuse to load more rows than the memory can hold at the very least."""
    avail = available_memory()
    if avail is not None and rows * MIN_BYTES_PER_ROW > avail:
        raise InputError(Problem(name, None, None, "too_large",
                                 f"declares {rows} rows: more than the {avail >> 20} MiB of available memory "
                                 "can hold (bill it with --memory-limit)"))


def drop_blank_rows(table: pa.Table) -> tuple[pa.Table, int]:
    """Leave out the rows whose every column is null or empty (blank rows, not data rows)."""
    blank = _all_missing(table, first="message_id")
    if blank is None:
        return table, 0
    return table.filter(pa.array(~blank)), int(blank.sum())


def _all_missing(table: pa.Table, first: str | None = None) -> np.ndarray | None:
    """Which rows have every column null or empty; None when no row has (the common case costs
    one look at the first column, chunk by chunk: nothing is copied)."""
    if table.num_rows == 0 or table.num_columns == 0:
        return None
    names = table.column_names
    order = ([first] if first in names else []) + [n for n in names if n != first]
    empty = None
    for name in order:
        column = table.column(name)
        missing = np.concatenate([_missing(chunk) for chunk in column.chunks]) if column.num_chunks \
            else np.zeros(0, bool)
        empty = missing if empty is None else empty & missing
        if not empty.any():
            return None
    return empty


def read_any(name: str) -> pa.Table:
    """A whole CSV (every column as text) or Parquet file, for side inputs such as statements."""
    with reading(name):
        if _is_parquet(name):
            return pq.read_table(name)
        with _csv_opener(name, None)() as stream:
            header = read_header(name, stream)
            if header.names is None:
                raise InputError(Problem(name, None, None, "empty_file", "the file is empty (no header row)"))
            keys = [f"f{i}" for i in range(len(header.names))]
            source = _Chain(header.rest, stream)
            if not source.prime():
                return pa.table({k: pa.array([], pa.string()) for k in keys}).rename_columns(header.names)
            table = pacsv.read_csv(source, read_options=pacsv.ReadOptions(column_names=keys, block_size=1 << 24),
                                   parse_options=PARSE, convert_options=pacsv.ConvertOptions(
                                       column_types={k: pa.string() for k in keys}, strings_can_be_null=False))
        return table.rename_columns(header.names)


def _first_line(text: str) -> str:
    text = text.strip().splitlines()[0] if text.strip() else "cannot be read"
    return text[:300]


def _check_columns(name: str, names: Sequence[str], options: LoadOptions) -> None:
    """Every required column present, and no canonical column twice (also after --map)."""
    missing = [c for c in REQUIRED if options.source_name(c) not in names]
    if missing:
        c = missing[0]
        src = options.source_name(c)
        hint = f" (mapped from {src!r} with --map)" if src != c else " (use --map to name another column)"
        shown = ", ".join(n if n.isprintable() else repr(n) for n in names)
        if len(shown) > 300:
            shown = shown[:300] + "..."
        raise InputError(Problem(name, None, src, "missing_column",
                                 f"required column is missing{hint}; the file has: {shown}"))
    rename = {options.source_name(c): c for c in CANONICAL}
    after = Counter(rename.get(n, n) for n in names)
    for c in CANONICAL:
        if after[c] > 1:
            sources = [n for n in names if rename.get(n, n) == c]
            if len(set(sources)) == 1:
                message = f"{len(sources)} columns have this name; rename or drop all but one"
            else:
                message = (f"columns {', '.join(repr(s) for s in dict.fromkeys(sources))} would all be "
                           f"{c!r} after --map; rename or drop the others")
            raise InputError(Problem(name, None, sources[0], "duplicate_column", message))


# ---------------------------------------------------------------------------------------------
# CSV lines
#
# No field of a message log holds a line break (DECISIONS "Reading exports"): every line end
# ends a record. Arrow's CSV reader lets a quoted field run on over line ends, so one stray
# quote swallows the rows after it. The scanner below splits the text into lines itself and
# reads each line with Arrow's own rules for quotes and delimiters; a line is blank (empty,
# spaces and tabs only, or every field empty), a data row Arrow reads as it is, or an invalid
# data row (a quote left open at the line end, a wrong number of fields, text of a read column
# that is not UTF-8), which is set aside with its row number. Arrow then reads the data rows.
#
# The common case pays for almost none of this: Arrow reads the file as it is while the line
# ends are counted (a vectorised count, no copy); when every line became one row, the last line
# is whole, and no row is empty, the result stands. Otherwise the file is read again, exactly.
# (Keeping empty lines as rows instead of counting them was tried: a gigabyte of line ends
# then became a billion rows in memory.)

LINE_OK, LINE_OPEN_QUOTE, LINE_FIELDS, LINE_ENCODING = 0, 1, 2, 3
MALFORMED = {
    LINE_OPEN_QUOTE: ("malformed_line", "a quoted field is not closed on its line (fields may not contain line "
                                        "breaks: drop that column, or export xlsx or JSON Lines instead)"),
    LINE_FIELDS: ("malformed_row", "wrong number of fields (not as many as the header has)"),
    LINE_ENCODING: ("bad_encoding", "the text is not valid UTF-8"),
}
PARSE = pacsv.ParseOptions(delimiter=",", quote_char='"', double_quote=True, escape_char=False,
                           newlines_in_values=False, ignore_empty_lines=True)
_DELIM, _QUOTE = ord(","), ord('"')
#: The longest header line, and the longest line of a file (a longer one is an error).
HEADER_MAX = 1 << 20
LINE_MAX = 1 << 26
BLOCK = 1 << 24
_NO_BYTES = np.zeros(0, np.uint8)
_NO_RECORDS = np.zeros((0, 4), np.int64)


@numba.njit(cache=True, nogil=True)
def _utf8_width(b, i, n):  # pragma: no cover - compiled
    """Bytes of the valid UTF-8 sequence that starts at b[i] (a byte >= 0x80), or 0."""
    c = b[i]
    if c < 0xC2 or c > 0xF4:
        return 0
    if c < 0xE0:
        need, lo, hi = 1, 0x80, 0xBF
    elif c < 0xF0:
        need, lo, hi = 2, (0xA0 if c == 0xE0 else 0x80), (0x9F if c == 0xED else 0xBF)
    else:
        need, lo, hi = 3, (0x90 if c == 0xF0 else 0x80), (0x8F if c == 0xF4 else 0xBF)
    if i + need >= n or b[i + 1] < lo or b[i + 1] > hi:
        return 0
    for k in range(2, need + 1):
        if (b[i + k] & 0xC0) != 0x80:
            return 0
    return need + 1


@numba.njit(cache=True, nogil=True)
def _scan_field(b, i, n, delim, quote, chk):  # pragma: no cover - compiled
    """Read one field from b[i] as Arrow does: (end, has content, has a byte other than space
    or tab, quote left open at the line end, invalid UTF-8 met)."""
    content = False
    other = False
    bad_text = False
    if i < n and b[i] == quote:
        other = True
        i += 1
        while True:
            if i >= n or b[i] == 10 or b[i] == 13:
                return i, content, other, True, bad_text
            c = b[i]
            if c == quote:
                if i + 1 < n and b[i + 1] == quote:
                    content = True
                    i += 2
                    continue
                i += 1
                break
            content = True
            w = 1
            if c >= 128 and chk:
                w = _utf8_width(b, i, n)
                if w == 0:
                    bad_text = True
                    w = 1
            i += w
    while i < n:
        c = b[i]
        if c == delim or c == 10 or c == 13:
            break
        content = True
        if c != 32 and c != 9:
            other = True
        w = 1
        if c >= 128 and chk:
            w = _utf8_width(b, i, n)
            if w == 0:
                bad_text = True
                w = 1
        i += w
    return i, content, other, False, bad_text


@numba.njit(cache=True, nogil=True)
def _scan_lines(b, delim, quote, check, out, rec):  # pragma: no cover - compiled
    """Classify the lines of ``b`` (whole lines; the last may lack its line end).

    ``check[k]``: validate UTF-8 in field k (the header has ``len(check)`` fields). With a
    non-empty ``out`` (``len(b) + 1`` bytes) every readable data line is copied there, each
    ended by a line feed; ``rec`` ((k, 4)) receives (data line index, start, end, kind) of the
    first k invalid data lines. Returns (data lines, blank lines, invalid data lines, bytes
    written, the last line is a data line).
    """
    n = b.shape[0]
    nf = check.shape[0]
    write = out.shape[0] > 0
    n_data = n_blank = n_bad = o = 0
    last_data = False
    i = 0
    while i < n:
        start = i
        if b[i] == 10 or b[i] == 13:                     # an empty line
            i += 2 if (b[i] == 13 and i + 1 < n and b[i + 1] == 10) else 1
            n_blank += 1
            last_data = False
            continue
        fields = 0
        content = other = open_quote = bad_text = False
        while True:
            i, c1, o1, open_quote, t1 = _scan_field(b, i, n, delim, quote, fields < nf and check[fields])
            content |= c1
            other |= o1
            bad_text |= t1
            fields += 1
            if open_quote or i >= n or b[i] != delim:
                break
            other = True
            i += 1
        end = i
        if i < n:                                        # the line end
            i += 2 if (b[i] == 13 and i + 1 < n and b[i + 1] == 10) else 1
        if not open_quote and (not content or not other):
            n_blank += 1
            last_data = False
            continue
        kind = 1 if open_quote else (2 if fields != nf else (3 if bad_text else 0))
        if kind:
            if n_bad < rec.shape[0]:
                rec[n_bad, 0], rec[n_bad, 1], rec[n_bad, 2], rec[n_bad, 3] = n_data, start, end, kind
            n_bad += 1
        elif write:
            out[o:o + end - start] = b[start:end]
            o += end - start
            out[o] = 10
            o += 1
        n_data += 1
        last_data = True
    return n_data, n_blank, n_bad, o, last_data


@numba.njit(cache=True, nogil=True)
def _count_lf(b):  # pragma: no cover - compiled
    """The line feeds in ``b``, eight bytes at a time (the bytes equal to 10 become 0x80 in a
    word, exactly; their number is a multiply away): two to three times a byte loop's speed."""
    m = b.shape[0] // 8
    words = b[:m * 8].view(np.uint64)
    low7 = np.uint64(0x7F7F7F7F7F7F7F7F)
    lf = np.uint64(0x0A0A0A0A0A0A0A0A)
    ones = np.uint64(0x0101010101010101)
    n = 0
    for i in range(m):
        t = words[i] ^ lf                        # zero bytes where b == 10
        y = ~(((t & low7) + low7) | t | low7)    # 0x80 in exactly those bytes
        n += ((y >> np.uint64(7)) * ones) >> np.uint64(56)
    for i in range(m * 8, b.shape[0]):
        n += b[i] == 10
    return n


@numba.njit(cache=True, nogil=True)
def _has_lone_cr(b):  # pragma: no cover - compiled
    """Whether some carriage return inside ``b`` is not followed by a line feed."""
    for i in range(b.shape[0] - 1):
        if b[i] == 13 and b[i + 1] != 10:
            return True
    return False


_kernels = {"ready": False}


def _load_kernels() -> None:
    """numba starts through segment.load_kernels (which spares the command line numba's probe
    for a BLAS); the kernels above then load from numba's cache."""
    if not _kernels["ready"]:
        from .segment import load_kernels

        load_kernels()
        _kernels["ready"] = True


def _bytes_of(data) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def _line_kind(line: bytes, check: np.ndarray) -> tuple[str, int]:
    """('blank' | 'data', kind) of one line of a file whose header has ``len(check)`` fields."""
    _load_kernels()
    rec = np.zeros((1, 4), np.int64)
    n_data, n_blank, n_bad, _, _ = _scan_lines(_bytes_of(line), _DELIM, _QUOTE, check, _NO_BYTES, rec)
    if n_data == 0:
        return "blank", LINE_OK
    return "data", int(rec[0, 3]) if n_bad else LINE_OK


@dataclass
class Header:
    """The first non-blank line of a CSV stream: its names (None: no such line), the text
    read past it, and the blank lines before it."""

    names: list[str] | None
    rest: bytes = b""
    blank: int = 0


def read_header(name: str, stream) -> Header:
    """Read the header line with plain reads (never Arrow's reader: a header followed by a
    gigabyte of blank lines crashed it), skipping blank lines before it."""
    buf, blank, eof, start = b"", 0, False, True
    while True:
        if start and (len(buf) >= 3 or eof):
            buf, start = (buf[3:] if buf.startswith(b"\xef\xbb\xbf") else buf), False
        cut = _line_end(buf, eof) if not start else None
        if cut is None:
            if eof:
                return Header(None, b"", blank + (1 if buf.strip(b" \t,") == b"" and buf else 0))
            if len(buf) > HEADER_MAX:
                raise InputError(Problem(name, None, None, "bad_header",
                                         f"the first line is longer than {HEADER_MAX >> 20} MiB: not a CSV header"))
            chunk = stream.read(1 << 16)
            eof = not chunk
            buf += chunk
            continue
        line, end = cut
        kind = _header_kind(line)
        if kind == "blank":
            blank += 1
            buf = buf[end:]
            continue
        if kind == "open_quote":
            raise InputError(Problem(name, None, None, "bad_header", "the header line has a quote that is not "
                                     "closed on the line", line[:200].decode("utf-8", "backslashreplace")))
        return Header(_header_names(name, line), buf[end:], blank)


def _header_kind(line: bytes) -> str:
    """'blank', 'open_quote' or 'data': the reading of ``_scan_lines`` for one line, in Python
    (string searches: fast for any header, and no compiled kernel is needed to read one)."""
    if not line.strip(b" \t"):
        return "blank"
    i, n, content = 0, len(line), False
    while True:
        if line[i:i + 1] == b'"':                        # a quoted field
            j = i + 1
            while True:
                k = line.find(b'"', j)
                if k < 0:
                    return "open_quote"
                content |= k > j
                if line[k + 1:k + 2] == b'"':
                    content, j = True, k + 2
                    continue
                i = k + 1
                break
        k = line.find(b",", i)
        content |= (n if k < 0 else k) > i
        if k < 0:
            return "data" if content else "blank"
        i = k + 1


def _line_end(buf: bytes, eof: bool) -> tuple[bytes, int] | None:
    """(first line, offset after its line end) of ``buf``, or None when more text is needed."""
    lf, cr = buf.find(b"\n"), buf.find(b"\r")
    ends = [p for p in (lf, cr) if p >= 0]
    if not ends:
        return (buf, len(buf)) if eof and buf else None
    p = min(ends)
    if buf[p] == 13:
        if p + 1 == len(buf) and not eof:
            return None                          # a \r\n may be cut between two reads
        return buf[:p], p + (2 if buf[p + 1:p + 2] == b"\n" else 1)
    return buf[:p], p + 1


def _header_names(name: str, line: bytes) -> list[str]:
    text = line.decode("utf-8", "replace")
    try:
        return next(csv.reader([text], delimiter=",", quotechar='"', doublequote=True, strict=False))
    except (csv.Error, StopIteration):
        raise InputError(Problem(name, None, None, "bad_header", "the header line cannot be read",
                                 text[:200])) from None


class _Chain:
    """A file-like object for Arrow's CSV reader: ``first`` (text already read), then the rest
    of ``stream``. Subclasses look at every piece as it passes (``seen``)."""

    closed = False

    def __init__(self, first: bytes, stream):
        self.buf, self.pos, self.stream = first, 0, stream
        self._eof = False

    def readable(self) -> bool:
        return True

    def prime(self) -> bool:
        """Whether any text follows (reads ahead at most one piece)."""
        if self.pos >= len(self.buf) and not self._eof:
            self.buf, self.pos = self._next(BLOCK), 0
        return self.pos < len(self.buf)

    def _next(self, nbytes: int):
        chunk = self.stream.read(nbytes)
        if not chunk:
            self._eof = True
        return chunk

    def read(self, nbytes: int = -1):
        nbytes = nbytes if nbytes is not None and nbytes > 0 else BLOCK
        if self.pos >= len(self.buf):
            if self._eof:
                return b""
            self.buf, self.pos = self._next(nbytes), 0       # may be longer than nbytes
            if not len(self.buf):
                return b""
        start, end = self.pos, min(len(self.buf), self.pos + nbytes)
        self.pos = end
        self.seen(self.buf, start, end)
        return self.buf if start == 0 and end == len(self.buf) else memoryview(self.buf)[start:end]

    def seen(self, buf, start: int, end: int) -> None:
        pass


class _CountingReader(_Chain):
    """Counts the line ends of the text as Arrow reads it (vectorised, no copy), notes a
    carriage return that is not followed by a line feed, and keeps the last pieces (for the
    last line)."""

    TAIL = 1 << 20

    def __init__(self, first: bytes, stream):
        super().__init__(first, stream)
        self.lf = self.size = 0
        self.lone_cr = self.cr_at_end = False
        self.last: list = []

    def seen(self, buf, start: int, end: int) -> None:
        _load_kernels()
        arr = _bytes_of(buf)[start:end]
        self.lf += int(_count_lf(arr))
        if self.cr_at_end and arr[0] != 10:
            self.lone_cr = True
        if buf.find(b"\r", start, end) >= 0:
            self.lone_cr |= bool(_has_lone_cr(arr))
        self.cr_at_end = bool(arr[-1] == 13)
        self.size += end - start
        self.last = (self.last + [(buf, start, end)])[-2:]

    def last_line(self) -> bytes | None:
        """The last line (without its line end), or None when longer than TAIL."""
        tail = b"".join(buf[max(start, end - self.TAIL):end] for buf, start, end in self.last)[-self.TAIL:]
        body = tail[:-1] if tail.endswith(b"\n") else tail
        body = body[:-1] if body.endswith(b"\r") else body
        p = max(body.rfind(b"\n"), body.rfind(b"\r"))
        if p < 0 and self.size > len(tail):
            return None
        return body[p + 1:]

    def ends_with_line_end(self) -> bool:
        if not self.last:
            return True
        buf, _, end = self.last[-1]
        return buf[end - 1:end] in (b"\n", b"\r")

    def last_line_whole(self, check: np.ndarray) -> bool:
        """Whether the last line is a readable data line (a quote left open on it would have
        run to the end of the text: Arrow reads that as a value)."""
        last = self.last_line()
        return last is not None and _line_kind(last, check) == ("data", LINE_OK)

    def lines(self) -> int | None:
        """The number of lines (None when a lone carriage return ends some: Arrow counts those,
        this count does not)."""
        if self.lone_cr or self.cr_at_end:
            return None
        return self.lf + (0 if self.ends_with_line_end() else 1)


class _LineCleaner(_Chain):
    """The data lines of a CSV stream (after its header) that Arrow can read as they are, piece
    by piece; counts the blank lines and sets aside the invalid data lines (``bad``: data row,
    text, code) with their row numbers. ``keep``: how many invalid lines to keep (all: None)."""

    def __init__(self, name: str, first: bytes, stream, check: np.ndarray, keep: int | None):
        super().__init__(b"", stream)
        self.name, self.check, self.keep = name, check, keep
        self.raw_first = first
        self.pending = b""
        self.rows = self.blank = self.n_bad = self.n_kept = 0
        self.bad: list[tuple[int, str, str]] = []
        self.unterminated_row: int | None = None
        self.done = False

    def _next(self, nbytes: int):
        """The next cleaned piece (never empty until the end)."""
        while not self.done:
            data, final = self._lines()
            if final:
                self.done = True
            piece = self._clean(data, final) if len(data) else b""
            if len(piece):
                return piece
        self._eof = True
        return b""

    def _lines(self):
        """Raw text ending at a line end (or at the end of the stream: final)."""
        while True:
            if self.raw_first:
                chunk, self.raw_first = self.raw_first, b""
            else:
                chunk = self.stream.read(BLOCK)
            if not chunk:
                data, self.pending = self.pending, b""
                return data, True
            data = self.pending + chunk if self.pending else chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                cut = data.rfind(b"\r", 0, len(data) - 1) + 1     # lone carriage returns only
            if cut:
                self.pending = data[cut:]
                return memoryview(data)[:cut], False
            self.pending = data
            if len(data) > LINE_MAX:
                raise InputError(Problem(self.name, self.rows + 1, None, "line_too_long",
                                         f"a line is longer than {LINE_MAX >> 20} MiB"))

    def _clean(self, data: bytes, final: bool):
        _load_kernels()
        arr = _bytes_of(data)
        n_data, n_blank, n_bad, _, last_data = _scan_lines(arr, _DELIM, _QUOTE, self.check, _NO_BYTES, _NO_RECORDS)
        out = data
        if n_blank or n_bad:
            room = n_bad if self.keep is None else max(0, min(n_bad, self.keep - len(self.bad)))
            rec = np.zeros((room, 4), np.int64)
            buf = np.empty(len(arr) + 1, np.uint8)
            _, _, _, size, _ = _scan_lines(arr, _DELIM, _QUOTE, self.check, buf, rec)
            out = memoryview(buf[:size])
            for idx, start, end, kind in rec.tolist():
                code = MALFORMED[kind][0]
                text = bytes(data[start:min(end, start + 4096)]).decode("utf-8", "backslashreplace")
                self.bad.append((self.rows + idx + 1, text, code))
            self.n_kept += len(rec)
        self.rows += n_data
        self.blank += n_blank
        self.n_bad += n_bad
        if final and last_data and bytes(data[-1:]) not in (b"\n", b"\r"):
            self.unterminated_row = self.rows
        return out

    def notices(self) -> list[Problem]:
        if self.unterminated_row is None:
            return []
        return [no_final_newline(self.name, self.unterminated_row)]


def no_final_newline(name: str, row: int) -> Problem:
    return Problem(name, row, None, "no_final_newline",
                   "the last line has no line end (the file may have been cut short); it was read as it stands")


@dataclass
class _CsvLayout:
    """How Arrow reads one CSV file: the header's names, which fields are read (by position:
    names in a header may repeat or be empty) and their canonical names."""

    names: list[str]
    fields: list[int]
    canonical: list[str]

    @classmethod
    def of(cls, name: str, names: list[str], options: LoadOptions) -> "_CsvLayout":
        _check_columns(name, names, options)
        wanted = {options.source_name(c): c for c in CANONICAL}
        fields = [i for i, n in enumerate(names) if n in wanted]
        return cls(list(names), fields, [wanted[names[i]] for i in fields])

    @property
    def check(self) -> np.ndarray:
        """The fields whose text must be UTF-8 (the read ones)."""
        out = np.zeros(len(self.names), dtype=bool)
        out[self.fields] = True
        return out

    def read_options(self, threads: bool, block_size: int = BLOCK) -> pacsv.ReadOptions:
        return pacsv.ReadOptions(column_names=[f"f{i}" for i in range(len(self.names))], use_threads=threads,
                                 block_size=block_size)

    def convert_options(self, ts_type) -> pacsv.ConvertOptions:
        types = {f"f{i}": (ts_type if c == "timestamp" else DICT if c in DICT_COLUMNS else pa.string())
                 for i, c in zip(self.fields, self.canonical)}
        return pacsv.ConvertOptions(include_columns=list(types), column_types=types, strings_can_be_null=False,
                                    quoted_strings_can_be_null=False)

    def canonical_table(self, table: pa.Table) -> pa.Table:
        return table.rename_columns(self.canonical)

    def empty(self) -> pa.Table:
        return pa.table({c: pa.array([], pa.string()) for c in self.canonical})


def _empty_raw(blank: int) -> RawFile:
    """A file without a non-blank line: no header, no rows."""
    return RawFile(pa.table({c: pa.array([], pa.string()) for c in REQUIRED}), blank=blank, header=False)


class _TextTimestamps(Exception):
    """Some timestamp has no offset (or is no timestamp): read the column as text."""


def read_csv(name: str, options: LoadOptions, stdin=None) -> RawFile:
    """A whole CSV file: Arrow's fast reader when the file turns out plain (see "CSV lines"),
    else the exact line-by-line reading."""
    opener = _csv_opener(name, stdin)
    for ts_type in (TS_UTC, pa.string()):
        with opener() as stream:
            header = read_header(name, stream)
            if header.names is None:
                return _empty_raw(header.blank)
            layout = _CsvLayout.of(name, header.names, options)
            try:
                fast = _read_plain(layout, header, stream, ts_type)
            except _TextTimestamps:
                continue
        if fast is None:
            break
        table, unterminated = fast
        notices = [no_final_newline(name, table.num_rows)] if unterminated else []
        return RawFile(layout.canonical_table(table), blank=header.blank, notices=notices)
    keep = KEEP_WHEN_ERROR if options.on_invalid == "error" else None
    return _read_exact(name, opener, options, keep)


def _read_plain(layout: _CsvLayout, header: Header, stream, ts_type) -> tuple[pa.Table, bool] | None:
    """(table, the last line has no line end) read by Arrow as it is, or None when that reading
    cannot be trusted: a parse error; an empty line or row, or a record over several lines (the
    line ends, counted as Arrow reads, are not one per row); a last line that is not a whole
    data line (a quote left open on it runs to the end of the text, one row all the same)."""
    source = _CountingReader(header.rest, stream)
    if not source.prime():
        return layout.empty(), False
    try:
        table = pacsv.read_csv(source, read_options=layout.read_options(True), parse_options=PARSE,
                               convert_options=layout.convert_options(ts_type))
    except pa.ArrowInvalid as exc:
        if ts_type != pa.string() and "conversion error to timestamp" in str(exc):
            raise _TextTimestamps() from None
        return None
    if source.lines() != table.num_rows or _has_empty_row(table):
        return None
    if not source.last_line_whole(layout.check):
        return None
    return table, not source.ends_with_line_end()


def _has_empty_row(table: pa.Table) -> bool:
    """Whether some row has every read column empty (then only the exact reading can tell
    whether the other columns are empty too)."""
    return _all_missing(table) is not None


def _read_exact(name: str, opener, options: LoadOptions, keep: int | None) -> RawFile:
    """A CSV file read line by line (see "CSV lines"), then by Arrow."""
    with opener() as stream:
        header = read_header(name, stream)
        layout = _CsvLayout.of(name, header.names, options)
        cleaner = _LineCleaner(name, header.rest, stream, layout.check, keep)
        data = b"".join(iter(lambda: cleaner.read(BLOCK), b""))
    table = layout.empty()
    if data:
        for ts_type in (TS_UTC, pa.string()):
            try:
                table = pacsv.read_csv(pa.BufferReader(data), read_options=layout.read_options(True),
                                       parse_options=PARSE, convert_options=layout.convert_options(ts_type))
                break
            except pa.ArrowInvalid as exc:
                if ts_type == pa.string() or "conversion error to timestamp" not in str(exc):
                    raise
    return RawFile(layout.canonical_table(table), malformed=cleaner.bad, blank=header.blank + cleaner.blank,
                   notices=cleaner.notices(), n_malformed=cleaner.n_bad)


# ---------------------------------------------------------------------------------------------
# Typing one file's columns


class _Bad:
    """Collects invalid cells of one file: a boolean row mask plus the first cell per row."""

    def __init__(self, n: int):
        self.mask = np.zeros(n, dtype=bool)
        self.cells: list[tuple[np.ndarray, str, str, str, pa.Array]] = []

    def add(self, rows_mask: np.ndarray, column: str, code: str, message: str, values: pa.Array):
        rows_mask = rows_mask & ~self.mask   # report the first problem of each row only
        if rows_mask.any():
            self.mask |= rows_mask
            self.cells.append((rows_mask, column, code, message, values))

    def problems(self, name: str, positions: np.ndarray, limit: int | None = None) -> list[tuple[int, Problem]]:
        """(table index, problem) of each invalid row, in row order; ``positions`` maps table
        rows to 0-based rows of the file."""
        out: list[tuple[int, Problem]] = []
        for rows_mask, column, code, message, values in self.cells:
            idx = np.flatnonzero(rows_mask)
            if limit is not None:
                idx = idx[:limit]
            vals = _as_display(values.take(pa.array(idx))).to_pylist() if code != "missing_value" \
                else [None] * len(idx)
            for i, v in zip(idx.tolist(), vals):
                out.append((i, Problem(name, int(positions[i]) + 1, column, code, message,
                                       None if v is None else str(v))))
        out.sort(key=lambda t: t[0])
        return out if limit is None else out[:limit]


def _combine(column) -> pa.Array:
    """One array from a column's chunks. Dictionary chunks are put on one dictionary: chunks
    read from one Parquet row group share theirs, so each distinct dictionary is encoded once
    and the chunks' indices are translated (much cheaper than unifying chunk by chunk)."""
    if not isinstance(column, pa.ChunkedArray):
        return column
    if column.num_chunks == 1:
        return column.chunk(0)
    if not pa.types.is_dictionary(column.type) or column.num_chunks == 0:
        return column.combine_chunks()
    groups: dict[tuple, int] = {}
    dictionaries = []
    chunk_group = []
    for chunk in column.chunks:
        d = chunk.dictionary
        key = (len(d), d.offset, *(b.address if b is not None else 0 for b in d.buffers()))
        if key not in groups:
            groups[key] = len(dictionaries)
            dictionaries.append(d)
        chunk_group.append(groups[key])
    if sum(len(d) for d in dictionaries) <= 4096:      # small dictionaries: Arrow's own unify is fastest
        return column.unify_dictionaries().combine_chunks()
    encoded = pc.dictionary_encode(pa.chunked_array(dictionaries, type=dictionaries[0].type).combine_chunks())
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    starts = np.cumsum([0] + [len(d) for d in dictionaries])
    parts = []
    for chunk, g in zip(column.chunks, chunk_group):
        indices = chunk.indices
        idx = indices.to_numpy(zero_copy_only=False) if indices.null_count == 0 else \
            indices.fill_null(-1).to_numpy(zero_copy_only=False)
        translated = codes[starts[g]:starts[g + 1]][idx]
        if indices.null_count:
            parts.append(pa.array(translated, mask=idx < 0))
        else:
            parts.append(pa.array(translated))
    indices = pa.concat_arrays(parts) if len(parts) > 1 else parts[0]
    return pa.DictionaryArray.from_arrays(indices, encoded.dictionary)


def _id_column(name: str, column: str, arr: pa.Array) -> pa.Array:
    """An identifier column as strings, or as a dictionary of strings (kept encoded)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        values = arr.dictionary
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            arr = arr.dictionary_decode()
            t = arr.type
        else:
            if pa.types.is_large_string(values.type):
                arr = pa.DictionaryArray.from_arrays(arr.indices, values.cast(pa.string()))
            return arr
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t) or pa.types.is_null(t):
        return arr.cast(pa.string())
    raise InputError(Problem(name, None, column, "bad_column_type",
                             f"column must hold strings (identifiers are kept exactly as written), not {t}"))


def _missing(arr: pa.Array) -> np.ndarray:
    """Null, or an empty string (fast when there is none)."""
    if pa.types.is_dictionary(arr.type):
        values = arr.dictionary
        empty = np.append(pc.fill_null(pc.equal(values, ""), True).to_numpy(zero_copy_only=False), True)
        if arr.null_count == 0 and not empty[:-1].any():
            return np.zeros(len(arr), dtype=bool)
        return empty[arr.indices.fill_null(len(values)).to_numpy(zero_copy_only=False)]
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        if arr.null_count == 0 and (len(arr) == 0 or pc.min(pc.binary_length(arr)).as_py() > 0):
            return np.zeros(len(arr), dtype=bool)
        return pc.fill_null(pc.equal(pc.binary_length(arr), 0), True).to_numpy(zero_copy_only=False)
    return arr.is_null().to_numpy(zero_copy_only=False)


def _encode_small(arr: pa.Array) -> tuple[np.ndarray, list]:
    """Codes (-1: null) and names of a low-cardinality column, normalised: trimmed, lowercase."""
    enc = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(_as_display(arr))
    raw = enc.dictionary.to_pylist()
    names: list = []
    remap = np.empty(len(raw) + 1, dtype=np.int32)
    for i, value in enumerate(raw):
        norm = value.strip().lower() if isinstance(value, str) else value
        if norm not in names:
            names.append(norm)
        remap[i] = names.index(norm)
    remap[len(raw)] = -1
    indices = enc.indices
    idx = (indices.fill_null(len(raw)) if indices.null_count else indices).to_numpy(zero_copy_only=False)
    return remap[idx], names


def parse_timestamps(arr: pa.Array, input_tz: str, epoch_unit: str | None) -> tuple[np.ndarray, np.ndarray]:
    """int64 UTC nanoseconds and a mask of invalid values, for a column of any supported type.

    Only instants in [2000-01-01, 2100-01-01) UTC are valid; a value outside, in any unit, is
    invalid (never multiplied into int64 nanoseconds first: that wraps).
    """
    n = len(arr)
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    exact = False                     # ok alone says which values are valid instants
    if pa.types.is_timestamp(t):
        result, ok = _scaled(_int64_values(arr), EPOCH_UNITS[t.unit], naive=t.tz is None, tz=input_tz)
        exact = t.tz is not None
    elif pa.types.is_date(t):
        days = _int64_values(arr) if pa.types.is_date32(t) else _int64_values(arr) // 86_400_000
        result, ok = _scaled(days, DAY_NS, naive=True, tz=input_tz)
    elif pa.types.is_integer(t):
        result, ok = _epoch(_int64_values(arr), epoch_unit)
        exact = True
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        result, ok = _text_timestamps(arr, input_tz, epoch_unit)
    else:
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    bad = ~ok
    if arr.null_count:
        bad |= arr.is_null().to_numpy(zero_copy_only=False)
    if not exact:
        bad |= ~in_range(result)
    if bad.any():
        result = np.where(bad, 0, result)
    return result, bad


def _int64_values(arr: pa.Array) -> np.ndarray:
    """The stored integers of an integer, timestamp or date column (nulls as 0; unsigned values
    past the int64 range wrap to negative values, which are invalid instants anyway)."""
    if pa.types.is_date32(arr.type):
        arr = arr.cast(pa.int32())
    values = arr.cast(pa.int64(), safe=False) if not pa.types.is_int64(arr.type) else arr
    if values.null_count:
        values = values.fill_null(0)
    return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _scaled(values: np.ndarray, unit: int, naive: bool, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """(UTC nanoseconds, valid) of values counted in ``unit`` nanoseconds, range-checked before
    they are scaled; ``naive``: wall-clock values, read in ``tz``."""
    margin = DAY_NS if naive else 0       # a wall clock is within a day of its instant
    ok = (values >= (MIN_NS - margin) // unit) & (values < (MAX_NS + margin) // unit)
    ns = np.where(ok, values, 0) * unit if unit != 1 or not ok.all() else values
    if naive:
        ns = local_to_utc(pa.array(ns, pa.timestamp("ns")), tz).cast(pa.int64()).to_numpy(zero_copy_only=False)
    return ns, ok


def _epoch(values: np.ndarray, unit: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(UTC nanoseconds, valid) of integer epoch values: in ``unit``, or seconds below
    EPOCH_MS_THRESHOLD and milliseconds from it."""
    values = values.astype(np.int64, copy=False)
    if unit is not None:
        return _scaled(values, EPOCH_UNITS[unit], naive=False, tz="UTC")
    seconds = (values > -EPOCH_MS_THRESHOLD) & (values < EPOCH_MS_THRESHOLD)
    s_ns, s_ok = _scaled(np.where(seconds, values, 0), NS, naive=False, tz="UTC")
    ms_ns, ms_ok = _scaled(np.where(seconds, 0, values), 1_000_000, naive=False, tz="UTC")
    return np.where(seconds, s_ns, ms_ns), np.where(seconds, s_ok, ms_ok)


#: The largest integer text that may be an instant before 2100 in any unit (nanoseconds).
_MAX_INT_TEXT = str(MAX_NS - 1)


def _text_timestamps(arr: pa.Array, input_tz: str, epoch_unit: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(UTC nanoseconds, valid) of ISO-8601 or integer epoch text."""
    n = len(arr)
    arr = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    # Fast path: every value has an offset.
    try:
        out = arr.cast(TS_UTC).cast(pa.int64())
        return out.fill_null(0).to_numpy(zero_copy_only=False), np.ones(n, dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    result = np.zeros(n, dtype=np.int64)
    ok = np.ones(n, dtype=bool)

    def matches(pattern):
        return pc.fill_null(pc.match_substring_regex(arr, pattern), False).to_numpy(zero_copy_only=False)

    is_int, has_off, naive = matches(_RE_INT), matches(_RE_OFFSET), matches(_RE_NAIVE)
    ok &= is_int | has_off | naive | arr.is_null().to_numpy(zero_copy_only=False)
    if is_int.any():
        idx = np.flatnonzero(is_int)
        values = arr.take(pa.array(idx))
        # 19 digits may pass int64: anything above the last nanosecond before 2100 is invalid
        big = ((pc.utf8_length(values).to_numpy(zero_copy_only=False) == len(_MAX_INT_TEXT))
               & pc.greater(values, _MAX_INT_TEXT).to_numpy(zero_copy_only=False))
        ok[idx[big]] = False
        idx, values = idx[~big], values.filter(pa.array(~big))
        result[idx], ok[idx] = _epoch(values.cast(pa.int64()).to_numpy(zero_copy_only=False), epoch_unit)
    for mask, convert in ((has_off, lambda a: a.cast(TS_UTC)),
                          (naive, lambda a: local_to_utc(a.cast(pa.timestamp("ns")), input_tz))):
        if mask.any():
            _convert_text(arr, np.flatnonzero(mask), convert, result, ok)
    return result, ok


def _convert_text(arr: pa.Array, idx: np.ndarray, convert, result: np.ndarray, ok: np.ndarray) -> None:
    values = arr.take(pa.array(idx))
    try:
        result[idx] = convert(values).cast(pa.int64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Some value matched the pattern but is no real date (month 13, hour 25, year 2611
        # beyond int64 nanoseconds...): find which, one by one (error path only), convert the rest.
        good = np.array([_castable(v, convert) for v in values.to_pylist()], dtype=bool)
        ok[idx[~good]] = False
        if good.any():
            result[idx[good]] = convert(values.filter(pa.array(good))).cast(pa.int64()).to_numpy(zero_copy_only=False)


def _castable(value, convert) -> bool:
    try:
        convert(pa.array([value], pa.string()))
        return True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False


@dataclass
class _Typed:
    """One file's typed columns. ``positions`` gives each table row's 0-based data row in the
    file (invalid CSV lines are not in the table); ``n_rows`` counts every data row of the file;
    ``blank`` the blank lines and rows left out; ``notices`` load-time warnings."""

    name: str
    n_rows: int
    positions: np.ndarray
    malformed: list[tuple[int, str, str]]
    n_malformed: int
    message_id: pa.Array
    business_id: pa.Array
    subscriber_id: pa.Array
    timestamp: np.ndarray
    inbound: np.ndarray
    mtype: np.ndarray
    mtypes: list
    status: np.ndarray | None
    statuses: list
    bad: _Bad
    raw: pa.Table
    blank: int = 0
    notices: list = field(default_factory=list)
    header: bool = True

    def problems(self, limit: int | None = None) -> list[tuple[int | None, Problem]]:
        """(table index or None for a malformed line, problem), in file row order."""
        out = self.bad.problems(self.name, self.positions, limit)
        for row, text, code in self.malformed[:limit]:
            out.append((None, Problem(self.name, row, None, code, MALFORMED_MESSAGES[code], text)))
        out.sort(key=lambda t: t[1].row)
        return out if limit is None else out[:limit]

    @property
    def n_invalid(self) -> int:
        return int(self.bad.mask.sum()) + self.n_malformed


MALFORMED_MESSAGES = {code: message for code, message in MALFORMED.values()}
BAD_TIMESTAMP = ("not a timestamp in [2000-01-01, 2100-01-01) UTC (ISO-8601 such as 2026-10-05T09:00:00+03:00, "
                 "or epoch seconds/milliseconds)")


def type_columns(name: str, raw: RawFile, options: LoadOptions, base: int = 0) -> _Typed:
    """Convert one file's raw columns (or one batch of them, whose first row is row ``base`` of
    the file, counting from 0); invalid cells are collected, not raised."""
    table = raw.table
    n = table.num_rows
    n_rows = n + raw.malformed_count
    positions = np.arange(base, base + n_rows, dtype=np.int64)
    if raw.malformed_count:
        # with only the first invalid lines kept (error mode) the later positions are off; only
        # the first problem and the count are reported then, and those stay exact
        positions = np.delete(positions, [r - 1 - base for r, _, _ in raw.malformed])[:n]
    bad = _Bad(n)
    ids = {}
    for column in ID_COLUMNS:
        arr = _id_column(name, options.source_name(column), _combine(table.column(column)))
        if column == "message_id" and pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        bad.add(_missing(arr), options.source_name(column), "missing_value", "missing value", arr)
        ids[column] = arr

    ts_raw = _combine(table.column("timestamp"))
    if pa.types.is_dictionary(ts_raw.type):
        ts_raw = ts_raw.dictionary_decode()
    try:
        ts, ts_bad = parse_timestamps(ts_raw, options.input_tz, options.epoch_unit)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:   # pragma: no cover - defensive
        raise InputError(Problem(name, None, options.source_name("timestamp"), "bad_timestamp",
                                 _first_line(str(exc)))) from None
    bad.add(_missing(ts_raw), options.source_name("timestamp"), "missing_value", "missing value", ts_raw)
    bad.add(ts_bad, options.source_name("timestamp"), "bad_timestamp", BAD_TIMESTAMP, ts_raw)

    direction = _combine(table.column("direction"))
    dcodes, dnames = _encode_small(direction)
    lookup = np.array([DIRECTIONS.get(d, -1) if d else -2 for d in dnames] + [-2], dtype=np.int8)
    dvals = lookup[dcodes]
    bad.add(dvals == -2, options.source_name("direction"), "missing_value", "missing value", direction)
    bad.add(dvals == -1, options.source_name("direction"), "bad_direction",
            "unknown direction (use inbound/outbound, in/out, mo/mt, incoming/outgoing or subscriber/business)",
            direction)

    mt = _combine(table.column("message_type"))
    mcodes, mnames = _encode_small(mt)
    empty_type = np.array([not t for t in mnames] + [True], dtype=bool)
    bad.add(empty_type[mcodes], options.source_name("message_type"), "missing_value", "missing value", mt)

    status = statuses = None
    if "status" in table.column_names:
        st = _combine(table.column("status"))
        scodes, snames = _encode_small(st)
        # An empty status means "no status given" (delivered), not an error.
        remap = np.array([i if s else -1 for i, s in enumerate(snames)] + [-1], dtype=np.int32)
        status = remap[scodes]
        statuses = snames

    return _Typed(name=name, n_rows=n_rows, positions=positions, malformed=list(raw.malformed),
                  n_malformed=raw.malformed_count, message_id=ids["message_id"], business_id=ids["business_id"],
                  subscriber_id=ids["subscriber_id"], timestamp=ts, inbound=dvals == 1,
                  mtype=mcodes, mtypes=mnames, status=status, statuses=statuses or [], bad=bad,
                  raw=table, blank=raw.blank, notices=list(raw.notices), header=raw.header)


def _as_display(arr: pa.Array) -> pa.Array:
    """Any column as strings, for messages and for checks that work on text."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_string(arr.type):
        return arr
    try:
        return arr.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], pa.string())


# ---------------------------------------------------------------------------------------------
# Loading everything


def _unify(parts: list[tuple[np.ndarray, list]]) -> tuple[np.ndarray, list[str]]:
    """Concatenate per-file small-dictionary codes into one code space (names sorted)."""
    names = sorted({n for _, ns in parts for n in ns if n})
    index = {n: i for i, n in enumerate(names)}
    out = []
    for codes, ns in parts:
        remap = np.array([index.get(n, -1) if n else -1 for n in ns] + [-1], dtype=np.int32)
        out.append(remap[codes])          # code -1 picks the last entry: -1
    if len(out) == 1:
        return out[0], names
    return (np.concatenate(out) if out else np.zeros(0, np.int32)), names


def load(inputs: Sequence[str] | str, options: LoadOptions | None = None, stdin=None,
         progress=None, file_problems: list[Problem] | None = None) -> MessageLog:
    """Read every input into one :class:`MessageLog`.

    Raises :class:`InputError` naming the file, row and value of the first invalid row (and how
    many there are) unless ``options.on_invalid == "skip"``, in which case invalid rows are kept
    aside in ``MessageLog.rejected`` with their problem; when the skip leaves no row at all, that
    is an error too ("all N rows were rejected"), and so is an input without any data row ("no
    data rows"). With ``file_problems`` (a list), a file that cannot be read at all (missing, no
    such column, ...) is reported there and left out instead of stopping the run, no data rows is
    reported there too, and every row may be rejected (``validate`` lists them).
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
    typed: list[_Typed] = []
    read: list[str] = []
    for name in files:
        try:
            typed.append(type_columns(name, read_raw(name, options, stdin), options))
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
    canonical columns (for library use)."""
    options = options or LoadOptions()
    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    wanted = {options.source_name(c): c for c in CANONICAL}
    _check_columns(name, table.column_names, options)
    table = table.select([s for s in wanted if s in table.column_names])
    table = table.rename_columns([wanted[c] for c in table.column_names])
    return assemble([name], [type_columns(name, RawFile(table), options)], options)


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


def assemble(files: list[str], typed: list[_Typed], options: LoadOptions, strict: bool = False) -> MessageLog:
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
    rejected = _rejected_table(typed, offsets, per_file)

    def cat(arrays):
        arrays = [a for a in arrays if len(a)] or arrays[:1]
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
    return MessageLog(
        sources=list(files), offsets=offsets,
        row=join([take(t.positions, k) + offsets[i] for i, (t, k) in enumerate(zip(typed, keep))], np.int64),
        message_id=message_id,
        business=business, businesses=businesses, subscriber=subscriber, subscribers=subscribers,
        timestamp=join([take(t.timestamp, k) for t, k in zip(typed, keep)], np.int64),
        inbound=join([take(t.inbound, k) for t, k in zip(typed, keep)], bool),
        mtype=mtype, message_types=mtypes, status=status, statuses=statuses,
        rejected=rejected, problems=problems, blank_lines=sum(t.blank for t in typed),
        notices=tuple(p for t in typed for p in t.notices),
    )


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


def _rejected_table(typed: list[_Typed], offsets, per_file) -> pa.Table:
    """The rejected rows with their raw values (as text) and the first problem of each."""
    if not any(per_file):
        return REJECTED_SCHEMA.empty_table()
    columns: dict[str, list] = {f.name: [] for f in REJECTED_SCHEMA}
    for i, (t, ps) in enumerate(zip(typed, per_file)):
        if not ps:
            continue
        idx = [j for j, _ in ps if j is not None]
        raw = t.raw.take(pa.array(idx, pa.int64()))
        values = {c: iter(_as_display(raw.column(c).combine_chunks()).to_pylist()) if c in raw.column_names else None
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
