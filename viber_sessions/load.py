"""Load message logs (CSV, CSV.gz, Parquet, stdin) into one typed table: a :class:`MessageLog`.

Everything here is column work with pyarrow and numpy; no Python loop runs per row except on
the error path, where the offending rows are described one by one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import InputError, Problem, UsageError
from .timeutil import check_timezone

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
_RE_INT = r"^-?\d{1,19}$"
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
    """One file's canonical columns, and the CSV lines that could not be split into fields
    (``(data row, text)``; data rows count from 1 after the header)."""

    table: pa.Table
    malformed: list[tuple[int, str]] = field(default_factory=list)


DICT = pa.dictionary(pa.int32(), pa.string())
#: Read dictionary-encoded (the reader encodes them, in parallel): everything but the message id.
DICT_COLUMNS = ("business_id", "subscriber_id", "direction", "message_type", "status")


@contextlib.contextmanager
def reading(name: str):
    """Turn the errors of reading ``name`` into one InputError line that names the file."""
    try:
        yield
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(Problem(name, None, None, "missing_file", "no such file")) from None
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(Problem(name, None, None, "unreadable", _first_line(str(exc)))) from None


def parquet_dictionary_columns(schema: pa.Schema, wanted: Mapping[str, str]) -> list[str]:
    """The source columns to read dictionary-encoded: strings among DICT_COLUMNS."""
    return [src for src in wanted if src in schema.names and wanted[src] in DICT_COLUMNS
            and (pa.types.is_string(schema.field(src).type) or pa.types.is_large_string(schema.field(src).type))]


def read_raw(name: str, options: LoadOptions, stdin=None) -> RawFile:
    """One file's rows with the canonical columns it has, renamed to canonical names.

    CSV columns are read as text (identifiers stay exactly as written), the low-cardinality and
    id columns dictionary-encoded by the reader; timestamps are parsed by the reader when every
    value carries an offset, else read as text and parsed afterwards. Parquet columns keep their
    stored types (string columns come dictionary-encoded). A missing required column is an
    error that names it.
    """
    wanted = {options.source_name(c): c for c in CANONICAL}
    malformed: list[tuple[int, str]] = []
    with reading(name):
        if name != "-" and _is_parquet(name):
            # ParquetFile, not read_table: the same reader without the datasets layer (which
            # imports pandas: a third of a second per run)
            schema = pq.ParquetFile(name).schema_arrow
            _check_columns(name, schema.names, options)
            present = [src for src in wanted if src in schema.names]
            table = pq.ParquetFile(name, read_dictionary=parquet_dictionary_columns(schema, wanted) or None).read(
                columns=present, use_threads=True)
        else:
            opener = _csv_opener(name, stdin)
            names = _csv_header(name, opener())
            _check_columns(name, names, options)
            present = [src for src in wanted if src in names]
            types = {src: (DICT if wanted[src] in DICT_COLUMNS else pa.string()) for src in present}
            ts_src = options.source_name("timestamp")

            def read(ts_type, handler=None):
                return pacsv.read_csv(
                    opener(), read_options=pacsv.ReadOptions(use_threads=handler is None, block_size=1 << 24),
                    parse_options=pacsv.ParseOptions(invalid_row_handler=handler),
                    convert_options=pacsv.ConvertOptions(include_columns=present, column_types={**types, ts_src: ts_type},
                                                         strings_can_be_null=False, quoted_strings_can_be_null=False))

            try:
                try:
                    table = read(pa.timestamp("ns", tz="UTC"))
                except pa.ArrowInvalid as exc:
                    if "CSV conversion error" not in str(exc):
                        raise
                    table = read(pa.string())       # some timestamp has no offset, or is an epoch value
            except pa.ArrowInvalid as exc:
                if "CSV parse error" not in str(exc):
                    raise
                # Error path: read again, single-threaded so that rows are numbered, setting
                # aside the lines with the wrong number of fields.
                def keep_aside(row):
                    malformed.append((row.number - 1, row.text))
                    return "skip"

                table = read(pa.string(), keep_aside)
    return RawFile(table.rename_columns([wanted[c] for c in table.column_names]), malformed)


def read_any(name: str) -> pa.Table:
    """A whole CSV (every column as text) or Parquet file, for side inputs such as statements."""
    with reading(name):
        if _is_parquet(name):
            return pq.read_table(name)
        opener = _csv_opener(name, None)
        names = _csv_header(name, opener())
        return pacsv.read_csv(opener(), convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in names}, strings_can_be_null=False))


def _first_line(text: str) -> str:
    text = text.strip().splitlines()[0] if text.strip() else "cannot be read"
    return text[:300]


def _csv_header(name: str, stream) -> list[str]:
    try:
        reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=1 << 16),
                                parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: "skip"))
        names = reader.schema.names
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise InputError(Problem(name, None, None, "empty_file", "the file is empty (no header row)")) from None
        raise
    return names


def _check_columns(name: str, names: Sequence[str], options: LoadOptions) -> None:
    missing = [c for c in REQUIRED if options.source_name(c) not in names]
    if missing:
        c = missing[0]
        src = options.source_name(c)
        hint = f" (mapped from {src!r} with --map)" if src != c else " (use --map to name another column)"
        raise InputError(Problem(name, None, src, "missing_column",
                                 f"required column is missing{hint}; the file has: {', '.join(names)}"))


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
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t):
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
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        if arr.null_count == 0 and (len(arr) == 0 or pc.min(pc.binary_length(arr)).as_py() > 0):
            return np.zeros(len(arr), dtype=bool)
        return pc.fill_null(pc.equal(arr, ""), True).to_numpy(zero_copy_only=False)
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
    """int64 UTC nanoseconds and a mask of unparseable values, for a column of any supported type."""
    n = len(arr)
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    bad = arr.is_null().to_numpy(zero_copy_only=False).copy()
    if pa.types.is_timestamp(t):
        if t.tz is None:
            arr = _localize(arr.cast(pa.timestamp("ns")), input_tz)
        out = arr.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
        if out.null_count:
            out = out.fill_null(0)
        return out.to_numpy(zero_copy_only=False).astype(np.int64, copy=False), bad
    if pa.types.is_date(t):
        arr = _localize(arr.cast(pa.timestamp("ns")), input_tz)
        return arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), bad
    if pa.types.is_integer(t):
        return _epoch(arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), epoch_unit), bad
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)

    arr = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    # Fast paths: every value has an offset / none has one.
    try:
        out = arr.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
        return out.fill_null(0).to_numpy(zero_copy_only=False), bad
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    result = np.zeros(n, dtype=np.int64)
    is_int = pc.fill_null(pc.match_substring_regex(arr, _RE_INT), False).to_numpy(zero_copy_only=False)
    has_off = pc.fill_null(pc.match_substring_regex(arr, _RE_OFFSET), False).to_numpy(zero_copy_only=False)
    naive = pc.fill_null(pc.match_substring_regex(arr, _RE_NAIVE), False).to_numpy(zero_copy_only=False)
    bad |= ~(is_int | has_off | naive)
    if is_int.any():
        idx = np.flatnonzero(is_int)
        values = arr.take(pa.array(idx))
        try:
            ints = values.cast(pa.int64()).to_numpy(zero_copy_only=False)
            result[idx] = _epoch(ints, epoch_unit)
        except (pa.ArrowInvalid, OverflowError):
            bad[idx] = True
    for mask, convert in ((has_off, lambda a: a.cast(pa.timestamp("ns", tz="UTC"))),
                          (naive, lambda a: _localize(a.cast(pa.timestamp("ns")), input_tz))):
        if not mask.any():
            continue
        idx = np.flatnonzero(mask)
        values = arr.take(pa.array(idx))
        try:
            result[idx] = convert(values).cast(pa.int64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # Some value matched the pattern but is no real date (month 13, hour 25, ...):
            # find which, one by one (error path only), and convert the rest.
            ok = np.array([_castable(v, convert) for v in values.to_pylist()], dtype=bool)
            bad[idx[~ok]] = True
            good = idx[ok]
            if len(good):
                result[good] = convert(arr.take(pa.array(good))).cast(pa.int64()).to_numpy(zero_copy_only=False)
    return result, bad


def _castable(value, convert) -> bool:
    try:
        convert(pa.array([value], pa.string()))
        return True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False


def _localize(arr: pa.Array, tz: str) -> pa.Array:
    if tz == "UTC":
        return arr.cast(pa.timestamp("ns", tz="UTC"))
    return pc.assume_timezone(arr, timezone=tz, ambiguous="earliest", nonexistent="earliest")


def _epoch(values: np.ndarray, unit: str | None) -> np.ndarray:
    values = values.astype(np.int64, copy=False)
    if unit is not None:
        return values * EPOCH_UNITS[unit]
    seconds = np.abs(values) < EPOCH_MS_THRESHOLD
    return np.where(seconds, values * 1_000_000_000, values * 1_000_000)


@dataclass
class _Typed:
    """One file's typed columns. ``positions`` gives each table row's 0-based row in the file
    (malformed CSV lines are not in the table); ``n_rows`` counts every data row of the file."""

    name: str
    n_rows: int
    positions: np.ndarray
    malformed: list[tuple[int, str]]
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

    def problems(self, limit: int | None = None) -> list[tuple[int | None, Problem]]:
        """(table index or None for a malformed line, problem), in file row order."""
        out = self.bad.problems(self.name, self.positions, limit)
        for row, text in self.malformed[:limit]:
            out.append((None, Problem(self.name, row, None, "malformed_row",
                                      "wrong number of fields (not as many as the header has)",
                                      text)))
        out.sort(key=lambda t: t[1].row)
        return out if limit is None else out[:limit]

    @property
    def n_invalid(self) -> int:
        return int(self.bad.mask.sum()) + len(self.malformed)


def type_columns(name: str, raw: RawFile, options: LoadOptions, base: int = 0) -> _Typed:
    """Convert one file's raw columns (or one batch of them, whose first row is row ``base`` of
    the file, counting from 0); invalid cells are collected, not raised."""
    table = raw.table
    n = table.num_rows
    n_rows = n + len(raw.malformed)
    positions = np.arange(base, base + n_rows, dtype=np.int64)
    if raw.malformed:
        positions = np.delete(positions, [r - 1 - base for r, _ in raw.malformed])
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
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(Problem(name, None, options.source_name("timestamp"), "bad_timestamp",
                                 _first_line(str(exc)))) from None
    bad.add(_missing(ts_raw), options.source_name("timestamp"), "missing_value", "missing value", ts_raw)
    bad.add(ts_bad, options.source_name("timestamp"), "bad_timestamp",
            "not a timestamp (ISO-8601 such as 2026-10-05T09:00:00+03:00, or epoch seconds/milliseconds)",
            ts_raw)

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
                  message_id=ids["message_id"], business_id=ids["business_id"],
                  subscriber_id=ids["subscriber_id"], timestamp=ts, inbound=dvals == 1,
                  mtype=mcodes, mtypes=mnames, status=status, statuses=statuses or [], bad=bad,
                  raw=table)


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
    aside in ``MessageLog.rejected`` with their problem. With ``file_problems`` (a list), a file
    that cannot be read at all (missing, no such column, ...) is reported there and left out
    instead of stopping the run.
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
    return assemble(read, typed, options)


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


def assemble(files: list[str], typed: list[_Typed], options: LoadOptions) -> MessageLog:
    offsets = np.zeros(len(files) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([t.n_rows for t in typed])
    n_bad = sum(t.n_invalid for t in typed)
    if n_bad and options.on_invalid == "error":
        first = next(t for t in typed if t.n_invalid)
        raise InputError([p for _, p in first.problems(limit=1)], total=n_bad)

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
        rejected=rejected, problems=problems,
    )


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
            columns["row"].append(int(offsets[i]) + p.row - 1)
            columns["file"].append(p.file)
            columns["file_row"].append(p.row)
            columns["column"].append(p.column)
            columns["code"].append(p.code)
            columns["error"].append(str(p))
            for c in CANONICAL:
                columns[c].append(next(values[c]) if (j is not None and values[c] is not None) else None)
    return pa.table(columns, schema=REJECTED_SCHEMA)
