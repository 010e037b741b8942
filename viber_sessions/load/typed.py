"""Typing one file's columns (:class:`Typed`): identifiers, timestamps, directions, message
types and statuses; invalid cells are collected, not raised."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import nopandas, phones
from ..errors import InputError, Problem
from .chunks import THREADED_ROWS
from .chunks import combine as _combine
from .chunks import string_dictionaries
from .csvscan import MALFORMED
from .damage import check_dictionaries
from .options import DIRECTIONS, ID_COLUMNS, LoadOptions
from .raw import BadCells, RawFile, first_line, missing_mask
from .timestamps import parse_timestamps


class _Bad:
    """Collects invalid cells of one file: a boolean row mask plus the first cell per row."""

    def __init__(self, n: int):
        self.mask = np.zeros(n, dtype=bool)
        self.cells: list[tuple[np.ndarray, str, str, str, pa.Array]] = []

    def add(self, rows_mask: np.ndarray, column: str, code: str, message: str, values: pa.Array):
        if not rows_mask.any():             # the common case: no allocation
            return
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
            if isinstance(values, pa.ChunkedArray):
                values = _combine(values)
            vals = as_display(values.take(pa.array(idx))).to_pylist() if code != "missing_value" \
                else [None] * len(idx)
            for i, v in zip(idx.tolist(), vals):
                out.append((i, Problem(name, int(positions[i]) + 1, column, code, message,
                                       None if v is None else str(v))))
        out.sort(key=lambda t: t[0])
        return out if limit is None else out[:limit]


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


def small_codes(column) -> tuple[list[tuple[np.ndarray, np.ndarray]], list]:
    """A low-cardinality column (an array or its chunks) as (per chunk: the dictionary index of
    each row, where a null is one past the last entry, and the code of each entry and of null:
    -1; the names), the names normalised (trimmed, lowercase) and sorted, empty ones last. No
    chunk is copied: :func:`per_row` maps the indices in one pass."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    encoded = [c if pa.types.is_dictionary(c.type) else pc.dictionary_encode(as_display(c)) for c in chunks]
    norms = [[v.strip().lower() if isinstance(v, str) else v for v in e.dictionary.to_pylist()] for e in encoded]
    names = sorted(dict.fromkeys(n for ns in norms for n in ns), key=lambda n: (not n, n or ""))
    index = {n: i for i, n in enumerate(names)}
    parts = []
    for e, ns in zip(encoded, norms):
        indices = e.indices
        idx = (indices.fill_null(len(ns)) if indices.null_count else indices).to_numpy(zero_copy_only=False)
        parts.append((idx, np.array([index[n] for n in ns] + [-1], dtype=np.int32)))
    return parts, names


def per_row(parts: list[tuple[np.ndarray, np.ndarray]], per_code: np.ndarray) -> np.ndarray:
    """``per_code[code]`` of each row of :func:`small_codes`' ``parts`` (code -1, null: the
    last entry of ``per_code``), in one pass over the rows."""
    out = np.empty(sum(len(idx) for idx, _ in parts), dtype=per_code.dtype)
    at = 0
    for idx, codes in parts:
        np.take(per_code[codes], idx, out=out[at:at + len(idx)], mode="clip")
        at += len(idx)
    return out


def code_numbers(names: list) -> np.ndarray:
    """The codes themselves as a :func:`per_row` table: 0, 1, ... and -1 for null."""
    return np.append(np.arange(len(names), dtype=np.int32), np.int32(-1))


class Rows:
    """A dataclass field of row numbers (int64) that may be given as a ``range`` (consecutive
    rows, the common case): the array is made on first read, so a run that never reads it
    (an invoice) never allocates it. :func:`consecutive` tells the range without making it."""

    def __set_name__(self, owner, name: str):
        self.key = f"_{name}_rows"

    def __get__(self, obj, owner=None):
        if obj is None:
            raise AttributeError(self.key)            # a field without a default
        value = obj.__dict__[self.key]
        if isinstance(value, range):
            value = obj.__dict__[self.key] = np.arange(value.start, value.stop, dtype=np.int64)
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.key] = value


def consecutive(obj, name: str) -> range | None:
    """The range a :class:`Rows` field ``name`` of ``obj`` was given as and has not been made
    an array of yet, else None."""
    value = obj.__dict__.get(f"_{name}_rows")
    return value if isinstance(value, range) else None


@dataclass
class Typed:
    """One file's typed columns. ``positions`` gives each table row's 0-based data row in the
    file (invalid CSV lines are not in the table); ``n_rows`` counts every data row of the file;
    ``blank`` the blank lines and rows left out; ``notices`` load-time warnings."""

    name: str
    n_rows: int
    positions: np.ndarray = Rows()        # given as a range when every data row is in the table
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


BAD_VALUE = ("not text or a number (only JSON strings and numbers are read; objects, arrays, true/false and "
             "NaN are not)")


def bad_cell_message(code: str, options: LoadOptions) -> str:
    """The message of a cell a reader found invalid (:class:`~.raw.BadCells`)."""
    return bad_timestamp_message(options) if code == "bad_timestamp" else BAD_VALUE


def _with_bad_text(table: pa.Table, cells: list[BadCells]) -> pa.Table:
    """The raw table with each invalid text cell showing what the file holds (for the rejects)."""
    for c in cells:
        if c.column in table.column_names:
            i = table.column_names.index(c.column)
            table = table.set_column(i, c.column, pc.coalesce(as_display(_combine(table.column(c.column))), c.values))
    return table


def bad_timestamp_message(options: LoadOptions) -> str:
    """The message of a bad timestamp: the formats the options read."""
    if not options.timestamp_format:
        return BAD_TIMESTAMP
    shown = " or ".join(repr(f) for f in options.timestamp_format)
    return f"not a timestamp in [2000-01-01, 2100-01-01) UTC written as {shown} (--timestamp-format)"


def assumed_zone(name: str, options: LoadOptions) -> Problem:
    """The notice that timestamps without an offset were read in a zone nobody chose."""
    return Problem(name, None, options.source_name("timestamp"), "assumed_input_tz",
                   f"timestamps without an offset were read as {options.input_tz} times (no --input-tz given) "
                   f"while billing in {options.naive_warning_tz}; give --input-tz {options.naive_warning_tz} if they "
                   "are local times")


def not_phone_numbers(name: str, options: LoadOptions, outcome) -> Problem:
    """The note that some subscriber ids are no phone numbers (kept as written)."""
    shown = ", ".join(repr(v) for v in outcome.kept_examples)
    n = outcome.kept
    return Problem(name, None, options.source_name("subscriber_id"), "not_phone_numbers",
                   f"{n} distinct subscriber id{'s are' if n != 1 else ' is'} not a valid phone number"
                   f"{'' if options.default_region else ' with a country code (no --default-region)'}, kept as "
                   f"written (e.g. {shown})")


def _mapped(names: list, mapping) -> tuple[list, np.ndarray]:
    """The names after a profile's value mapping, and which names it does not map."""
    if not mapping:
        return names, np.zeros(len(names), dtype=bool)
    out = [mapping.get(n) if n else n for n in names]
    unmapped = np.array([bool(n) and m is None for n, m in zip(names, out)], dtype=bool)
    return [m if m is not None else "" for m in out], unmapped


def _unmapped_message(column: str, options: LoadOptions) -> str:
    keys = list(options.value_map(column))
    shown = ", ".join(repr(k) for k in keys[:8]) + (", ..." if len(keys) > 8 else "")
    return f"not one of the values the profile maps for {column} ([source.values.{column}]: {shown})"


def type_columns(name: str, raw: RawFile, options: LoadOptions, base: int = 0, on_ids=None) -> Typed:
    """Convert one file's raw columns (or one batch of them, whose first row is row ``base`` of
    the file, counting from 0); invalid cells are collected, not raised. With e164 subscribers,
    their dictionaries as read are parsed on a thread (:class:`~viber_sessions.phones.Normalising`,
    started by the reader when it could: ``raw.normalising``) while the columns are typed; it is
    stopped and waited for before this returns or raises. ``on_ids(message_id)``: called with
    the typed message ids (the array the result holds) before the other columns are typed."""
    # pyarrow imports pandas the first time it converts a Python value, from compiled code that
    # loses a Ctrl-C raised while it waits for another thread's import of pandas (a run imports
    # it on a thread while it reads the log: segment.preload_kernels); imported here, the wait
    # is this line's, and a signal ends the run as it should (unless explain's pyarrow was told
    # there is no pandas: see nopandas.py)
    nopandas.before_conversions()

    try:
        check_dictionaries(name, raw.table, options)
    except BaseException:
        if raw.normalising is not None:     # the reader's parsing thread ends with the refusal
            raw.normalising.close()
        raise

    def column(c: str) -> pa.Array:
        return _id_column(name, options.source_name(c), _combine(raw.table.column(c)))

    with ThreadPoolExecutor(1, thread_name_prefix="viber-sessions") as pool:
        def ids() -> dict:
            # a large subscriber dictionary is put together on a thread (Arrow lets other threads
            # run), started first, while the other ids and the timestamps are typed; its error,
            # if any, comes in its turn
            later = {"subscriber_id": pool.submit(column, "subscriber_id")} \
                if raw.table.num_rows >= THREADED_ROWS else {}
            return {c: later[c] if c in later else column(c) for c in ID_COLUMNS}

        if options.subscriber_format != "e164" or not raw.table.num_rows:
            if raw.normalising is not None:
                raw.normalising.close()
            return _typed(name, raw, options, base, ids(), None, on_ids)
        pending = raw.normalising or phones.Normalising(options.default_region,
                                                        string_dictionaries(raw.table.column("subscriber_id")))
        with pending:
            return _typed(name, raw, options, base, ids(), pending, on_ids)


def _typed(name: str, raw: RawFile, options: LoadOptions, base: int, ids: dict,
           pending: phones.Normalising | None, on_ids=None) -> Typed:
    """:func:`type_columns` given the id columns and the subscribers being normalised (taken last)."""
    table = raw.table
    n = table.num_rows
    n_rows = n + raw.malformed_count
    positions = range(base, base + n_rows)
    if raw.malformed_count:
        # with only the first invalid lines kept (error mode) the later positions are off; only
        # the first problem and the count are reported then, and those stay exact
        positions = np.delete(np.arange(base, base + n_rows, dtype=np.int64),
                              [r - 1 - base for r, _, _ in raw.malformed])[:n]
    bad = _Bad(n)
    for cells in raw.bad_cells:            # the reader's findings first: they say the most
        bad.add(cells.mask(), options.source_name(cells.column), cells.code, bad_cell_message(cells.code, options),
                cells.values)
    if pa.types.is_dictionary(ids["message_id"].type):
        ids["message_id"] = ids["message_id"].dictionary_decode()
    if on_ids is not None:
        on_ids(ids["message_id"])
    ts_raw = _combine(table.column("timestamp"))
    if pa.types.is_dictionary(ts_raw.type):
        ts_raw = ts_raw.dictionary_decode()
    counts: dict = {}
    ts_error = None                        # raised after the id columns' own errors, as it always was
    try:
        ts, ts_bad = parse_timestamps(ts_raw, options.input_tz, options.epoch_unit, options.timestamp_format, counts)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:   # pragma: no cover - defensive
        ts_error = InputError(Problem(name, None, options.source_name("timestamp"), "bad_timestamp",
                                      first_line(str(exc))))
    for column in ID_COLUMNS:
        arr = ids[column]
        if isinstance(arr, Future):
            arr = ids[column] = arr.result()
        bad.add(missing_mask(arr), options.source_name(column), "missing_value", "missing value", arr)
    if ts_error is not None:               # pragma: no cover - defensive
        raise ts_error
    bad.add(missing_mask(ts_raw), options.source_name("timestamp"), "missing_value", "missing value", ts_raw)
    bad.add(ts_bad, options.source_name("timestamp"), "bad_timestamp", bad_timestamp_message(options), ts_raw)
    zone = [assumed_zone(name, options)] if counts.get("naive") and \
        options.naive_warning_tz not in (None, options.input_tz) else []

    dvals = _directions(table, options, bad)

    mt = table.column("message_type")
    parts, mnames = small_codes(mt)
    mcodes = per_row(parts, code_numbers(mnames))
    mnames, unmapped = _mapped(mnames, options.value_map("message_type"))
    empty_type = np.array([not t and not u for t, u in zip(mnames, unmapped)] + [True], dtype=bool)
    if empty_type[:-1].any() or mt.null_count:      # (the last entry is null's)
        bad.add(per_row(parts, empty_type), options.source_name("message_type"), "missing_value", "missing value", mt)
    if unmapped.any():
        bad.add(per_row(parts, np.append(unmapped, False)), options.source_name("message_type"), "unmapped_value",
                _unmapped_message("message_type", options), mt)

    status, statuses = _statuses(table, options, bad)
    raw_table = _with_bad_text(table, raw.bad_cells)

    phone_notices = []
    if pending is not None:
        ids["subscriber_id"], outcome = pending.result(ids["subscriber_id"])
        if outcome.kept:
            phone_notices.append(not_phone_numbers(name, options, outcome))
    return Typed(name=name, n_rows=n_rows, positions=positions, malformed=list(raw.malformed),
                 n_malformed=raw.malformed_count, message_id=ids["message_id"], business_id=ids["business_id"],
                 subscriber_id=ids["subscriber_id"], timestamp=ts, inbound=dvals == 1,
                 mtype=mcodes, mtypes=mnames, status=status, statuses=statuses or [], bad=bad,
                 raw=raw_table, blank=raw.blank, notices=list(raw.notices) + phone_notices + zone,
                 header=raw.header)


def _directions(table: pa.Table, options: LoadOptions, bad: "_Bad") -> np.ndarray:
    """Each row's direction as 1 (inbound), 0 (outbound), -1 (unknown) or -2 (missing); the
    last two are added to ``bad``."""
    direction = table.column("direction")
    parts, dnames = small_codes(direction)
    dnames, unmapped = _mapped(dnames, options.value_map("direction"))
    lookup = np.array([-1 if u else DIRECTIONS.get(d, -1) if d else -2 for d, u in zip(dnames, unmapped)] + [-2],
                      dtype=np.int8)
    dvals = per_row(parts, lookup)      # code -1 (null) picks the last entry: -2
    if (lookup[:-1] == -2).any() or direction.null_count:      # (only rows whose value is missing)
        bad.add(dvals == -2, options.source_name("direction"), "missing_value", "missing value", direction)
    if (lookup == -1).any():
        bad.add(dvals == -1, options.source_name("direction"), "bad_direction",
                _unmapped_message("direction", options) if options.value_map("direction") else
                "unknown direction (use inbound/outbound, in/out, mo/mt, incoming/outgoing or subscriber/business)",
                direction)
    return dvals


def _statuses(table: pa.Table, options: LoadOptions, bad: "_Bad"):
    """The status codes (-1: none given, which means delivered) and their names, or None when
    the file has no status column; values outside the profile's mapping are added to ``bad``."""
    if "status" not in table.column_names:
        return None, None
    st = table.column("status")
    parts, snames = small_codes(st)
    snames, s_unmapped = _mapped(snames, options.value_map("status"))
    # An empty status means "no status given" (delivered), not an error.
    remap = np.array([i if s else -1 for i, s in enumerate(snames)] + [-1], dtype=np.int32)
    if s_unmapped.any():
        bad.add(per_row(parts, np.append(s_unmapped, False)), options.source_name("status"), "unmapped_value",
                _unmapped_message("status", options), st)
    while snames and not snames[-1]:    # empty names last (code -1): no row refers to them
        snames = snames[:-1]
    return per_row(parts, remap), snames


def as_display(arr: pa.Array) -> pa.Array:
    """Any column as strings, for messages and for checks that work on text."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_string(arr.type):
        return arr
    try:
        return arr.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], pa.string())
