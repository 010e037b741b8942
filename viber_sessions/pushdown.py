"""``explain`` on a log of any size: read only the rows an explanation needs.

An explanation of one conversation depends on three kinds of rows only (the *candidates*):

- the conversation's own rows (business_id, subscriber_id as asked);
- the rows that share one of its message ids and come before its last row with that id: a row
  is a duplicate when its id occurred at an earlier loaded row anywhere in the log;
- the latest instant of the loaded (valid) rows, which decides "open" or "expired".

Files are read batch by batch, in flat memory. Parquet row groups are visited once, from the
last to the first (so that the ids of a conversation row are known before any earlier row is
looked at); a row group whose statistics show it cannot hold the conversation is read for its
``message_id`` and ``timestamp`` only, and read whole only when one of those rows is a
candidate. CSV files are streamed with the loader's exact line reading. Within a row group of
several batches or a CSV file, an id first met in a later batch is looked for again in the
earlier batches (a second reading, up to that batch). The candidates are
then typed and validated by the loader's own functions, keep their row numbers in the whole
input, and are assembled into a small :class:`MessageLog`; the existing segmentation and
:func:`viber_sessions.explain.explain` run on it, so the answer is the in-memory one.

A bad row that is not a candidate does not stop an explanation (the in-memory load stops at
it unless ``--on-invalid skip``); bad candidates are treated exactly as in memory. Lines that
cannot be split into fields (CSV) are never candidates. The latest instant is always that of
the valid rows.
"""

from __future__ import annotations

import dataclasses
import io
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import phones
from .errors import InputError
from .load import (REQUIRED, CsvLayout, LoadOptions, MessageLog, RawFile, assemble, expand_inputs, no_data_rows,
                   open_parquet, parse_timestamps, read_header, read_raw, reading, type_columns)
from .load.batches import CsvBatches
from .load.csvread import delimiter_for
from .load.formats import JSONL, PARQUET, XLSX, stdin_format, text_opener
from .load.options import EPOCH_UNITS
from .load.raw import all_missing, missing_mask
from .load.read import input_format

#: Rows per batch (a Parquet row group of up to this many rows is one batch).
BATCH_ROWS = 1 << 20
#: Parquet row groups read at the same time (on threads: the reading releases the GIL).
READERS = 1
#: Bytes of CSV text per batch.
CSV_BLOCK = 1 << 26


def explain(inputs: Sequence[str] | str, tariff, business: str, subscriber: str, tz: str = "UTC", period=None,
            session_id: str | None = None, options: LoadOptions | None = None, stdin=None) -> dict:
    """:func:`viber_sessions.explain.explain` of one conversation, reading only its candidates."""
    from . import explain as ex
    from .segment import segment

    log, data_end = candidate_log(inputs, business, [subscriber], options, stdin)
    seg = segment(log, tariff, data_end=data_end)
    return ex.explain(seg, tariff, business, subscriber, tz, period, session_id)


def sessions(inputs: Sequence[str] | str, tariff, tz: str = "UTC", where=None, options: LoadOptions | None = None,
             stdin=None):
    """The ``--sessions-out`` table of the sessions of ``where.accounts`` and ``where.subscribers``
    (a :class:`viber_sessions.sessionlist.Filter` naming at least one of them) that the other
    filters keep, reading only their candidates: the rows of the in-memory table."""
    from . import tables
    from .segment import segment

    log, data_end = candidate_log(inputs, list(where.accounts) or None, list(where.subscribers) or None, options,
                                  stdin)
    seg = segment(log, tariff, data_end=data_end)
    return tables.sessions_table(seg, tz, where(seg))


def candidate_log(inputs: Sequence[str] | str, business: str | Sequence[str] | None,
                  subscribers: Sequence[str] | None, options: LoadOptions | None = None,
                  stdin=None) -> tuple[MessageLog, int]:
    """(the candidate rows of the conversations of ``business`` (one id or several) with any of
    the ``subscribers`` spellings as a MessageLog whose rows keep their input numbers, the latest
    valid instant). None for the businesses or the subscribers: any (not both)."""
    options = options or LoadOptions()
    files = expand_inputs([inputs] if isinstance(inputs, str) else [str(i) for i in inputs])
    businesses = [business] if isinstance(business, str) else business
    if businesses is None and subscribers is None:
        raise ValueError("candidate_log needs businesses or subscribers")
    scan = Scan(options, None if businesses is None else list(businesses),
                None if subscribers is None else list(subscribers))
    sources = []
    for fi, name in enumerate(files):
        with reading(name):
            sources.append(source_of(fi, name, options, stdin))
    for source in reversed(sources):
        with reading(source.name):
            source.scan(scan)
    if sum(s.n_rows for s in sources) == 0:
        raise InputError(no_data_rows(files, sum(s.blank for s in sources), [s.header for s in sources]))
    typed = [s.typed(scan) for s in sources]
    return assemble(files, typed, options), (scan.latest if scan.latest is not None else 0)


def source_of(fi: int, name: str, options: LoadOptions, stdin=None):
    """The reading of input ``fi`` for its format: Parquet row group by row group, CSV (and
    TSV) streamed, JSON Lines and ``.xlsx`` whole (as the bounded engines read them). Standard
    input is read once (CSV or JSON Lines, told apart by its first character)."""
    kind = input_format(name, options)
    if name == "-":
        data = (stdin or sys.stdin.buffer).read()
        stdin, kind = io.BytesIO(data), stdin_format(data)
    if kind == PARQUET:
        return ParquetSource(fi, name, options)
    if kind in (JSONL, XLSX):
        return WholeSource(fi, name, options, stdin)
    return CsvSource(fi, name, options, stdin)


def text(arr) -> pa.Array:
    """An id column as plain strings (as the loader reads ids: integers become their text)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr if pa.types.is_string(arr.type) else arr.cast(pa.string())


def matches(arr, values: pa.Array) -> np.ndarray:
    """Which rows of an id column equal one of ``values`` (a dictionary is compared once)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        hit = pc.is_in(text(arr.dictionary), value_set=values).to_numpy(zero_copy_only=False)
        if not hit.any():
            return np.zeros(len(arr), dtype=bool)
        idx = arr.indices.fill_null(len(hit)).to_numpy(zero_copy_only=False)
        return np.append(hit, False)[idx]
    return pc.fill_null(pc.is_in(text(arr), value_set=values), False).to_numpy(zero_copy_only=False)


def _decoded(table: pa.Table) -> pa.Table:
    """The table with dictionary columns decoded (a few rows must not keep a row group's whole
    dictionary alive)."""
    columns = [c.combine_chunks() for c in table.columns]
    return pa.table([c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in columns],
                    names=table.column_names)


class Scan:
    """What the reading of every batch keeps: the conversation's message ids (with the place of
    their last conversation row), the candidate rows of each file, and the latest valid instant."""

    def __init__(self, options: LoadOptions, businesses: list[str] | None, subscribers: list[str] | None):
        self.options = options
        self.businesses = None if businesses is None else pa.array(businesses, pa.string())
        self.subscribers = None if subscribers is None else pa.array(subscribers, pa.string())
        self.last: dict[str, tuple[int, int]] = {}       # id -> (file, row) of its last conversation row
        self.ids = pa.array([], pa.string())
        self.parts: dict[int, list[tuple[np.ndarray, pa.Table, np.ndarray]]] = {}
        self.latest: int | None = None

    def look(self, fi: int, name: str, pos: np.ndarray, table: pa.Table) -> bool:
        """Keep the candidates of one batch (all columns, no blank row); True when it brought
        message ids not known before."""
        mid = text(table.column("message_id"))
        conv = np.ones(table.num_rows, dtype=bool)
        if self.businesses is not None:
            conv &= matches(table.column("business_id"), self.businesses)
        if self.subscribers is not None and conv.any():
            conv &= self.subscriber_matches(table.column("subscriber_id"))
        grew = False
        if conv.any():
            for m, p in zip(mid.filter(pa.array(conv)).to_pylist(), pos[conv].tolist()):
                if m:
                    grew |= m not in self.last
                    self.last[m] = max(self.last.get(m, (fi, p)), (fi, p))
            if grew:
                self.ids = pa.array(sorted(self.last), pa.string())
        keep = conv | self.shares_id(mid)
        if keep.any():
            k = pa.array(keep)
            self.parts.setdefault(fi, []).append((pos[keep], _decoded(table.filter(k)), conv[keep]))
        self._latest(name, table)
        return grew

    def subscriber_matches(self, column) -> np.ndarray:
        """Which rows are of the asked subscribers: with ``subscriber_format = "e164"``, every
        spelling that the loader normalises to one of them (each distinct value once)."""
        if self.options.subscriber_format != "e164":
            return matches(column, self.subscribers)
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if not pa.types.is_dictionary(arr.type):
            arr = pc.dictionary_encode(text(arr))
        normal, _ = phones.normalise_values(text(arr.dictionary), self.options.default_region)
        return matches(pa.DictionaryArray.from_arrays(arr.indices, normal), self.subscribers)

    def shares_id(self, mid: pa.Array) -> np.ndarray:
        if not len(self.ids):
            return np.zeros(len(mid), dtype=bool)
        return pc.fill_null(pc.is_in(mid, value_set=self.ids), False).to_numpy(zero_copy_only=False)

    def later(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """(instants, the rows with a valid instant later than the latest so far). A
        column of instants (a timestamp with a time zone) is compared before it is converted:
        only the later rows are."""
        raw = table.column("timestamp").combine_chunks()
        rows = None
        if self.latest is not None and pa.types.is_timestamp(raw.type) and raw.type.tz is not None:
            after = pc.greater(raw.cast(pa.int64()), pa.scalar(self.latest // EPOCH_UNITS[raw.type.unit]))
            rows = np.flatnonzero(pc.fill_null(after, False).to_numpy(zero_copy_only=False))
            raw = raw.take(pa.array(rows))
        ts_part, bad = parse_timestamps(raw, self.options.input_tz, self.options.epoch_unit,
                                        self.options.timestamp_format)
        if rows is not None:
            ts, ok = np.zeros(table.num_rows, dtype=np.int64), np.zeros(table.num_rows, dtype=bool)
            ts[rows], ok[rows] = ts_part, ~bad
        else:
            ts, ok = ts_part, ~bad
        return ts, (ok if self.latest is None else ok & (ts > self.latest))

    def _latest(self, name: str, table: pa.Table) -> None:
        """Raise the latest instant to that of this batch's latest valid row (rows are typed and
        validated from the latest instant down, as few as it takes)."""
        ts, cand = self.later(table)
        while cand.any():
            top = ts[cand].max()
            at = np.flatnonzero(cand & (ts == top))
            t = type_columns(name, RawFile(table.take(pa.array(at))), self.options)
            if not t.bad.mask.all():
                self.latest = int(top)
                return
            cand[at] = False

    def needs_all_columns(self, table: pa.Table) -> bool:
        """For a batch of ``message_id`` and ``timestamp`` only (of a row group that cannot hold
        the conversation): whether some row may be a candidate or a blank row."""
        mid = table.column("message_id").combine_chunks()
        if self.shares_id(text(mid)).any():
            return True
        if self.later(table)[1].any():
            return True
        return bool((missing_mask(mid) & missing_mask(table.column("timestamp").combine_chunks())).any())

    def rows_of(self, fi: int, template: pa.Table) -> tuple[pa.Table, np.ndarray]:
        """The candidates of file ``fi`` in row order (each once): the conversation's rows and the
        rows sharing an id that come before the id's last conversation row."""
        parts = sorted(self.parts.get(fi, []), key=lambda p: int(p[0][0]))
        tables, positions = [], []
        seen = np.zeros(0, dtype=np.int64)
        for pos, table, conv in parts:
            ids = table.column("message_id").to_pylist()
            keep = conv | np.array([self.last.get(m, (-1, -1)) > (fi, p) for m, p in zip(ids, pos.tolist())],
                                   dtype=bool)
            keep &= ~np.isin(pos, seen)
            if keep.any():
                tables.append(table.filter(pa.array(keep)))
                positions.append(pos[keep])
                seen = np.concatenate([seen, pos[keep]])
        if not tables:
            return _decoded(template), np.zeros(0, dtype=np.int64)
        pos = np.concatenate(positions)
        order = np.argsort(pos, kind="stable")
        return pa.concat_tables(tables).take(pa.array(order)), pos[order]


class ParquetSource:
    """One Parquet file, visited row group by row group from the last."""

    def __init__(self, fi: int, name: str, options: LoadOptions):
        self.fi, self.name, self.options = fi, name, options
        self.pf, self.present, self.wanted = open_parquet(name, options)
        meta = self.pf.metadata
        self.template = self.pf.schema_arrow.empty_table().select(self.present).rename_columns(
            [self.wanted[c] for c in self.present])
        type_columns(name, RawFile(self.template), options)        # column types checked as the loader does
        self.starts = np.concatenate([[0], np.cumsum([meta.row_group(g).num_rows for g in range(meta.num_row_groups)])])
        self.columns = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
        self.blanks: list[np.ndarray] = []
        self.n_rows, self.header = meta.num_rows, True
        self._local = threading.local()

    @property
    def blank(self) -> int:
        return len(self._blank_rows())

    def _blank_rows(self) -> np.ndarray:
        return np.unique(np.concatenate(self.blanks)) if self.blanks else np.zeros(0, dtype=np.int64)

    def batches(self, g: int, columns: list[str]) -> Iterator[tuple[np.ndarray, pa.Table]]:
        """(physical row numbers, canonical columns) of row group ``g``, batch by batch."""
        start = int(self.starts[g])
        # one thread: measured faster than the reader's threads on the 10M-row log
        for batch in self.pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[g], columns=columns, use_threads=False):
            table = pa.Table.from_batches([batch])
            yield np.arange(start, start + table.num_rows), table.rename_columns(
                [self.wanted[c] for c in table.column_names])
            start += table.num_rows

    def may_hold(self, g: int, scan: Scan) -> bool:
        """Whether row group ``g`` may hold the conversation, by its statistics (a truncated
        minimum or maximum is a prefix of the true one: a value is ruled out only when it lies
        beyond it either way)."""
        rg = self.pf.metadata.row_group(g)
        for canonical, values in (("business_id", scan.businesses), ("subscriber_id", scan.subscribers)):
            if values is None or (canonical == "subscriber_id" and self.options.subscriber_format == "e164"):
                continue                # any value (other spellings of a number lie anywhere)
            i = self.columns.get(self.options.source_name(canonical))
            stats = rg.column(i).statistics if i is not None else None
            if stats is None or not stats.has_min_max or not isinstance(stats.min, str) or \
                    not isinstance(stats.max, str):
                continue
            lo, hi = stats.min, stats.max
            if not any(not (v < lo or (v > hi and not v.startswith(hi))) for v in values.to_pylist()):
                return False
        return True

    def scan(self, scan: Scan) -> None:
        """Row groups from the last: those that may hold the conversation (and fit one batch)
        are read whole, READERS at a time on threads; the others batch by batch, their
        ``message_id`` and ``timestamp`` first."""
        groups = list(reversed(range(self.pf.metadata.num_row_groups)))
        whole = [g for g in groups if self.pf.metadata.row_group(g).num_rows <= BATCH_ROWS and self.may_hold(g, scan)]
        with ThreadPoolExecutor(READERS) as pool:
            queue, ahead = iter(whole), {}

            def read_ahead():
                g = next(queue, None)
                if g is not None:
                    ahead[g] = pool.submit(self._read_whole, g)

            for _ in range(READERS):
                read_ahead()
            for g in groups:
                if g in ahead:               # one batch: every id it brings is looked for in all of it
                    future = ahead.pop(g)
                    read_ahead()
                    self._look(scan, *future.result())
                else:
                    self._scan_group(g, scan)

    def _read_whole(self, g: int) -> tuple[np.ndarray, pa.Table]:
        """Row group ``g`` with every column (on a reader thread: its own file object)."""
        pf = getattr(self._local, "pf", None)
        if pf is None:
            pf = self._local.pf = open_parquet(self.name, self.options)[0]
        table = pf.read_row_group(g, columns=self.present, use_threads=False)
        start = int(self.starts[g])
        return np.arange(start, start + table.num_rows), table.rename_columns(
            [self.wanted[c] for c in table.column_names])

    def _scan_group(self, g: int, scan: Scan) -> None:
        src = [self.options.source_name(c) for c in ("message_id", "timestamp")]
        if not self.may_hold(g, scan) and not any(scan.needs_all_columns(t) for _, t in self.batches(g, src)):
            return
        grew_at = -1
        for k, (pos, table) in enumerate(self.batches(g, self.present)):
            if self._look(scan, pos, table):
                grew_at = k
        if grew_at > 0:                    # ids first met in a later batch: look at the earlier ones again
            for _, (pos, table) in zip(range(grew_at), self.batches(g, self.present)):
                self._look(scan, pos, table)

    def _look(self, scan: Scan, pos: np.ndarray, table: pa.Table) -> bool:
        blank = all_missing(table, first="message_id")
        if blank is not None:
            self.blanks.append(pos[blank])
            pos, table = pos[~blank], table.filter(pa.array(~blank))
        return scan.look(self.fi, self.name, pos, table)

    def typed(self, scan: Scan):
        blanks = self._blank_rows()
        table, pos = scan.rows_of(self.fi, self.template)
        t = type_columns(self.name, RawFile(table), self.options)
        return dataclasses.replace(t, positions=pos - np.searchsorted(blanks, pos), n_rows=self.n_rows - len(blanks),
                                   blank=len(blanks))


class CsvSource:
    """One CSV file, streamed with the loader's exact line reading (invalid lines are set aside
    and keep their row numbers; :class:`~viber_sessions.load.batches.CsvBatches`)."""

    def __init__(self, fi: int, name: str, options: LoadOptions, stdin=None):
        self.fi, self.name, self.options, self.stdin = fi, name, options, stdin
        self.n_rows = self.blank = 0
        self.header = True
        self.template = pa.table({c: pa.array([], pa.string()) for c in REQUIRED})
        self.opener = text_opener(name, stdin, options.encoding)
        with self.opener() as stream:
            header = read_header(name, stream, delimiter_for(name, options), options.skip_rows)
            if header.names is not None:
                self.template = CsvLayout.of_header(name, header, options).empty()

    def batches(self) -> Iterator[tuple[np.ndarray, pa.Table]]:
        """(row numbers in the file from 0, canonical columns as text) of each batch."""
        csv = CsvBatches(self.name, self.options, CSV_BLOCK, opener=self.opener)
        for batch in csv:
            yield batch.positions, batch.table
        self.n_rows, self.blank, self.header = csv.rows, csv.blank, csv.header

    def scan(self, scan: Scan) -> None:
        grew_at = -1
        for k, (pos, table) in enumerate(self.batches()):
            if scan.look(self.fi, self.name, pos, table):
                grew_at = k
        if grew_at > 0:                        # ids first met in a later batch: look at the earlier ones again
            for k, (pos, table) in zip(range(grew_at), self.batches()):
                scan.look(self.fi, self.name, pos, table)

    def typed(self, scan: Scan):
        table, pos = scan.rows_of(self.fi, self.template)
        t = type_columns(self.name, RawFile(table), self.options)
        return dataclasses.replace(t, positions=pos, n_rows=self.n_rows, blank=self.blank, header=self.header)


class WholeSource:
    """One JSON Lines or ``.xlsx`` file (or JSON Lines on standard input), read whole by the
    loader's reader and looked at as one batch (lines that are no JSON object are never
    candidates)."""

    def __init__(self, fi: int, name: str, options: LoadOptions, stdin=None):
        self.fi, self.name, self.options = fi, name, options
        raw = read_raw(name, options, stdin)
        self.table = raw.table
        self.n_rows, self.blank, self.header = raw.table.num_rows + raw.malformed_count, raw.blank, raw.header
        self.positions = np.delete(np.arange(self.n_rows, dtype=np.int64), [r - 1 for r, _, _ in raw.malformed])

    def scan(self, scan: Scan) -> None:
        scan.look(self.fi, self.name, self.positions, self.table)

    def typed(self, scan: Scan):
        table, pos = scan.rows_of(self.fi, self.table.schema.empty_table())
        t = type_columns(self.name, RawFile(table), self.options)
        return dataclasses.replace(t, positions=pos, n_rows=self.n_rows, blank=self.blank, header=self.header)
