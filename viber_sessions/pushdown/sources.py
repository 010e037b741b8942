"""The reading of one input for an explanation by pushdown, by its format: Parquet row group
by row group, CSV streamed, JSON Lines and ``.xlsx`` whole."""

from __future__ import annotations

import dataclasses
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import Problem
from ..load import (REQUIRED, CsvLayout, LoadOptions, RawFile, empty_table, open_parquet, read_header, read_raw,
                    type_columns)
from ..load.batches import CsvBatches
from ..load.csvread import delimiter_for
from ..load.formats import text_opener
from ..load.raw import all_missing
from ..load.damage import check_dictionaries
from .scan import Scan, matches, text

#: Nanoseconds per unit of a Parquet timestamp.
TIME_UNITS = {"milliseconds": 1_000_000, "microseconds": 1_000, "nanoseconds": 1}


def distinct(table: pa.Table) -> set:
    """The distinct non-empty texts of a table's ``business_id`` column."""
    return {v for v in pc.unique(text(table.column("business_id"))).to_pylist() if v}


def valid_among(name: str, table: pa.Table, account: str, options: LoadOptions, bad_cells=()) -> bool:
    """Whether one of the rows of ``account`` in ``table`` is valid (as the loader types them)."""
    at = np.flatnonzero(matches(table.column("business_id"), pa.array([account], pa.string())))
    if not len(at):
        return False
    typed = type_columns(name, RawFile(table.take(pa.array(at)), bad_cells=[c.take(at) for c in bad_cells]), options)
    return not typed.bad.mask.all()


def first_of(typed) -> Problem | None:
    """The first problem of a typed batch, or None."""
    found = typed.problems(limit=1)
    return found[0][1] if found else None


class ParquetSource:
    """One Parquet file, visited row group by row group from the last. Subscriber ids are read
    as plain strings: most of a row group's values are distinct, and Arrow builds a dictionary of
    them slower than it reads them (they are only compared with the asked ones)."""

    PLAIN = ("subscriber_id",)

    def __init__(self, fi: int, name: str, options: LoadOptions, batch_rows: int, readers: int):
        self.fi, self.name, self.options = fi, name, options
        self.batch_rows, self.readers = batch_rows, readers
        self.pf, self.present, self.wanted = open_parquet(name, options, self.PLAIN)
        meta = self.pf.metadata
        self.template = empty_table(self.pf.schema_arrow).select(self.present).rename_columns(
            [self.wanted[c] for c in self.present])
        self.starts = np.concatenate([[0], np.cumsum([meta.row_group(g).num_rows for g in range(meta.num_row_groups)])])
        self.columns = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
        self.blanks: list[np.ndarray] = []
        self.total_rows, self.header = meta.num_rows, True
        self._local = threading.local()
        self._tasks: _Tasks | None = None

    def check(self) -> None:
        """Check the column types as the loader does."""
        type_columns(self.name, RawFile(self.template), self.options)

    @property
    def blank(self) -> int:
        return len(self._blank_rows())

    @property
    def n_rows(self) -> int:
        """The data rows (blank rows found so far left out), as the other sources count them."""
        return self.total_rows - self.blank

    def _blank_rows(self) -> np.ndarray:
        return np.unique(np.concatenate(self.blanks)) if self.blanks else np.zeros(0, dtype=np.int64)

    def batches(self, g: int, columns: list[str]) -> Iterator[tuple[np.ndarray, pa.Table]]:
        """(physical row numbers, canonical columns) of row group ``g``, batch by batch."""
        start = int(self.starts[g])
        # one thread: measured faster than the reader's threads on the 10M-row log
        for batch in self.pf.iter_batches(batch_size=self.batch_rows, row_groups=[g], columns=columns, use_threads=False):
            table = pa.Table.from_batches([batch])
            table = table.rename_columns([self.wanted[c] for c in table.column_names])
            check_dictionaries(self.name, table, self.options)
            yield np.arange(start, start + table.num_rows), table
            start += table.num_rows

    def may_hold(self, g: int, businesses: list[str] | None, subscribers: list[str] | None) -> bool:
        """Whether row group ``g`` may hold the conversation, by its statistics (a truncated
        minimum or maximum is a prefix of the true one: a value is ruled out only when it lies
        beyond it either way)."""
        rg = self.pf.metadata.row_group(g)
        for canonical, values in (("business_id", businesses), ("subscriber_id", subscribers)):
            if values is None or (canonical == "subscriber_id" and self.options.subscriber_format == "e164"):
                continue                # any value (other spellings of a number lie anywhere)
            i = self.columns.get(self.options.source_name(canonical))
            stats = rg.column(i).statistics if i is not None else None
            if stats is None or not stats.has_min_max or not isinstance(stats.min, str) or \
                    not isinstance(stats.max, str):
                continue
            lo, hi = stats.min, stats.max
            if not any(not (v < lo or (v > hi and not v.startswith(hi))) for v in values):
                return False
        return True

    def latest_bound(self, g: int) -> int | None:
        """The latest instant (ns since the epoch) of row group ``g``'s timestamps by its statistics,
        when they are instants (64-bit, adjusted to UTC) with a maximum; else None."""
        i = self.columns.get(self.options.source_name("timestamp"))
        stats = self.pf.metadata.row_group(g).column(i).statistics if i is not None else None
        if stats is None or not stats.has_min_max or stats.physical_type != "INT64":
            return None
        logical = json.loads(stats.logical_type.to_json())
        if logical.get("Type") != "Timestamp" or not logical.get("isAdjustedToUTC") or \
                logical.get("timeUnit") not in TIME_UNITS:
            return None
        return int(stats.max_raw) * TIME_UNITS[logical["timeUnit"]]

    def start(self, businesses: list[str] | None, subscribers: list[str] | None) -> None:
        """Start reading (see :class:`_Tasks`): the row groups that may hold the conversations
        of ``businesses`` and ``subscribers`` (None: any) are read whole."""
        if self._tasks is None:
            _Tasks(self, businesses, subscribers)       # it is ``self._tasks`` before its first thread

    def scan(self, scan: Scan) -> None:
        """Every row group looked at, from the last (:meth:`start`, when it was not called)."""
        try:
            self.start(None if scan.businesses is None else scan.businesses.to_pylist(),
                       None if scan.subscribers is None else scan.subscribers.to_pylist())
            self._tasks.run(scan)
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading (the threads end)."""
        if self._tasks is not None:
            self._tasks.close()

    def _read_whole(self, g: int) -> tuple[np.ndarray, pa.Table]:
        """Row group ``g`` with every column (on a reader thread: its own file object)."""
        pf = getattr(self._local, "pf", None)
        if pf is None:
            pf = self._local.pf = open_parquet(self.name, self.options, self.PLAIN, self.pf.metadata)[0]
        table = pf.read_row_group(g, columns=self.present, use_threads=False)
        table = table.rename_columns([self.wanted[c] for c in table.column_names])
        check_dictionaries(self.name, table, self.options)
        start = int(self.starts[g])
        return np.arange(start, start + table.num_rows), table

    def _scan_group(self, g: int, scan: Scan, may_hold: bool) -> None:
        wanted = ("message_id", "timestamp") + (("message_type",) if scan.prices is not None else ())
        src = [self.options.source_name(c) for c in wanted]
        if not may_hold and not any(scan.needs_all_columns(t) for _, t in self.batches(g, src)):
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
        g = int(np.searchsorted(self.starts, pos[0], side="right")) - 1 if len(pos) else None
        return scan.look(self.fi, self.name, pos, table, None if g is None else self.latest_bound(g))

    def account_ids(self) -> set:
        """The distinct ``business_id`` texts of the file."""
        found: set = set()
        for g in range(self.pf.metadata.num_row_groups):
            for _, table in self.batches(g, [self.options.source_name("business_id")]):
                found.update(distinct(table))
        return found

    def has_valid_row(self, account: str) -> bool:
        """Whether a row of ``account`` is valid (read batch by batch, until one is found)."""
        return any(valid_among(self.name, t, account, self.options)
                   for g in range(self.pf.metadata.num_row_groups) for _, t in self.batches(g, self.present))

    def first_problem(self) -> Problem | None:
        """The problem of the file's first data row when it is invalid (its first batch that is
        not all blank, typed as the loader types it)."""
        before = 0
        for g in range(self.pf.metadata.num_row_groups):
            for pos, table in self.batches(g, self.present):
                blank = all_missing(table, first="message_id")
                if blank is None:
                    blank = np.zeros(table.num_rows, dtype=bool)
                if blank.all():
                    before += len(blank)
                    continue
                rows = (pos - before - (np.cumsum(blank) - blank))[~blank]
                t = type_columns(self.name, RawFile(table.filter(pa.array(~blank))), self.options)
                return first_of(dataclasses.replace(t, positions=rows))
        return None

    def typed(self, scan: Scan):
        blanks = self._blank_rows()
        table, pos = scan.rows_of(self.fi, self.template)
        t = type_columns(self.name, RawFile(table), self.options)
        return dataclasses.replace(t, positions=pos - np.searchsorted(blanks, pos), n_rows=self.total_rows - len(blanks),
                                   blank=len(blanks))


class _Tasks:
    """The row groups of a :class:`ParquetSource` from the last, each as one task of ``readers``
    threads, started before the :class:`~.scan.Scan` exists (the reading overlaps the caller's
    own start-up). A row group that may hold the conversation (and fits one batch) is read
    whole at once; the others are read batch by batch, their ``message_id`` and ``timestamp``
    first, in their turn. The tasks look at their rows in turn (the ids of every later row
    group are known before a row group is looked at), each as soon as it has read them and its
    turn has come: at most ``readers`` row groups are in memory, and the calling thread only
    waits. :meth:`run` gives the turns their scan; :meth:`close` ends the tasks."""

    def __init__(self, source: ParquetSource, businesses: list[str] | None, subscribers: list[str] | None):
        meta = source.pf.metadata
        self.source, self.scan = source, None
        self.groups = list(reversed(range(meta.num_row_groups)))
        self.holds = {g: source.may_hold(g, businesses, subscribers) for g in self.groups}
        self.turns = [threading.Event() for _ in range(len(self.groups) + 1)]
        self.stop = threading.Event()
        self.pool, self.futures = None, []
        source._tasks = self            # from here the source's close() ends whatever is started
        self.pool = ThreadPoolExecutor(source.readers, thread_name_prefix="viber-sessions-reader")
        for k, g in enumerate(self.groups):
            self.futures.append(self.pool.submit(self._task, k, g))

    def _task(self, k: int, g: int) -> None:
        try:
            whole = self.source.pf.metadata.row_group(g).num_rows <= self.source.batch_rows and self.holds[g]
            read = self.source._read_whole(g) if whole and not self.stop.is_set() else None
            self.turns[k].wait()
            if self.stop.is_set():
                return
            if read is not None:        # one batch: every id it brings is looked for in all of it
                self.source._look(self.scan, *read)
            else:
                self.source._scan_group(g, self.scan, self.holds[g])
        except BaseException:
            self.stop.set()             # the later tasks do nothing
            raise
        finally:
            self.turns[k + 1].set()

    def run(self, scan: Scan) -> None:
        """Every row group looked at with ``scan``, in turn (the first error is raised)."""
        self.scan = scan
        self.turns[0].set()
        for future in self.futures:
            future.result()

    def close(self) -> None:
        """End the tasks: every turn is given (a task whose predecessor the shutdown cancels
        must not wait for it), and each task ends as soon as it sees ``stop``."""
        self.stop.set()
        for turn in self.turns:
            turn.set()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class CsvSource:
    """One CSV file, streamed with the loader's exact line reading (invalid lines are set aside
    and keep their row numbers; :class:`~viber_sessions.load.batches.CsvBatches`)."""

    def __init__(self, fi: int, name: str, options: LoadOptions, stdin=None, block: int = 1 << 26):
        self.fi, self.name, self.options, self.stdin, self.block = fi, name, options, stdin, block
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
        csv = CsvBatches(self.name, self.options, self.block, opener=self.opener)
        for batch in csv:
            yield batch.positions, batch.table
        self.n_rows, self.blank, self.header = csv.rows, csv.blank, csv.header

    def check(self) -> None:
        """Nothing to check before reading (the header was checked when opened)."""

    def start(self, businesses: list[str] | None, subscribers: list[str] | None) -> None:
        """Nothing read ahead."""

    def close(self) -> None:
        """Nothing to stop."""

    def scan(self, scan: Scan) -> None:
        grew_at = -1
        for k, (pos, table) in enumerate(self.batches()):
            if scan.look(self.fi, self.name, pos, table):
                grew_at = k
        if grew_at > 0:                        # ids first met in a later batch: look at the earlier ones again
            for k, (pos, table) in zip(range(grew_at), self.batches()):
                scan.look(self.fi, self.name, pos, table)

    def account_ids(self) -> set:
        """The distinct ``business_id`` texts of the file."""
        found: set = set()
        for _, table in self.batches():
            found.update(distinct(table))
        return found

    def has_valid_row(self, account: str) -> bool:
        """Whether a row of ``account`` is valid (read batch by batch, until one is found)."""
        return any(valid_among(self.name, t, account, self.options) for _, t in self.batches())

    def first_problem(self) -> Problem | None:
        """The problem of the file's first data row when it is invalid (a line set aside or the
        first row of the first batch, typed as the loader types it)."""
        csv = CsvBatches(self.name, self.options, self.block, opener=self.opener)
        for batch in csv:
            t = type_columns(self.name, RawFile(batch.table, malformed=batch.malformed), self.options)
            return first_of(dataclasses.replace(t, positions=batch.positions))
        if csv.malformed:
            return first_of(type_columns(self.name, RawFile(csv.empty(), malformed=csv.malformed), self.options))
        return None

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
        self.raw = raw = read_raw(name, options, stdin)
        check_dictionaries(name, raw.table, options)        # every row, as a full load does
        self.table, self.bad_cells, self.notices = raw.table, raw.bad_cells, raw.notices
        self.n_rows, self.blank, self.header = raw.table.num_rows + raw.malformed_count, raw.blank, raw.header
        self.positions = np.delete(np.arange(self.n_rows, dtype=np.int64), [r - 1 for r, _, _ in raw.malformed])

    def check(self) -> None:
        """Nothing to check before reading (the header was checked when opened)."""

    def start(self, businesses: list[str] | None, subscribers: list[str] | None) -> None:
        """Nothing read ahead."""

    def close(self) -> None:
        """Nothing to stop."""

    def scan(self, scan: Scan) -> None:
        scan.look(self.fi, self.name, self.positions, self.table)

    def account_ids(self) -> set:
        """The distinct ``business_id`` texts of the file."""
        return distinct(self.table)

    def has_valid_row(self, account: str) -> bool:
        """Whether a row of ``account`` is valid (its invalid cells as the reader found them)."""
        return valid_among(self.name, self.table, account, self.options, self.bad_cells)

    def first_problem(self) -> Problem | None:
        """The problem of the file's first data row when it is invalid (as the loader types it)."""
        return first_of(type_columns(self.name, self.raw, self.options))

    def typed(self, scan: Scan):
        table, pos = scan.rows_of(self.fi, self.table.schema.empty_table())
        at = np.searchsorted(self.positions, pos)            # the candidates' rows in the reader's table
        t = type_columns(self.name, RawFile(table, notices=list(self.notices),
                                            bad_cells=[c.take(at) for c in self.bad_cells]), self.options)
        return dataclasses.replace(t, positions=pos, n_rows=self.n_rows, blank=self.blank, header=self.header)
