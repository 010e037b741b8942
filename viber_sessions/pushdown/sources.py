"""The reading of one Parquet input for an explanation by pushdown, row group by row group
(:class:`ParquetSource`), and what the sources of every format share; CSV, JSON Lines and
``.xlsx``: :mod:`.textsources`."""

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
from ..load import (LoadOptions, RawFile, empty_table, open_parquet, type_columns)
from ..load.raw import all_missing
from ..load.damage import check_dictionaries
from .scan import Scan, matches, text

#: The columns read first from a row group that may hold the conversation (by its statistics):
#: the others (timestamp, direction, status) are read only when one of its rows may be a
#: candidate (:meth:`~.scan.Scan.may_keep`).
FIRST = ("message_id", "business_id", "subscriber_id", "message_type")
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

    def _read(self, g: int, columns: list[str]) -> pa.Table:
        """Some columns of row group ``g`` (on a reader thread: its own file object), checked."""
        pf = getattr(self._local, "pf", None)
        if pf is None:
            pf = self._local.pf = open_parquet(self.name, self.options, self.PLAIN, self.pf.metadata)[0]
        table = pf.read_row_group(g, columns=columns, use_threads=False)
        table = table.rename_columns([self.wanted[c] for c in table.column_names])
        check_dictionaries(self.name, table, self.options)
        return table

    def _read_first(self, g: int, whole: bool = False) -> pa.Table:
        """Row group ``g``'s columns that tell whether it holds a candidate (:data:`FIRST`), or
        (``whole``) every column."""
        return self._read(g, self.present if whole else [c for c in self.present if self.wanted[c] in FIRST])

    def _positions(self, g: int) -> np.ndarray:
        """The physical row numbers of row group ``g`` (made only for a row group looked at)."""
        start = int(self.starts[g])
        return np.arange(start, start + self.pf.metadata.row_group(g).num_rows)

    def _whole(self, g: int, first: pa.Table) -> pa.Table:
        """Row group ``g`` with every column: its other columns read and put with ``first``."""
        rest = self._read(g, [c for c in self.present if self.wanted[c] not in first.column_names])
        return pa.table([(first if self.wanted[c] in first.column_names else rest).column(self.wanted[c])
                         for c in self.present], names=[self.wanted[c] for c in self.present])

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

    def _look(self, scan: Scan, pos: np.ndarray, table: pa.Table, conv: np.ndarray | None = None) -> bool:
        """:meth:`~.scan.Scan.look` at a batch (every column), its blank rows set aside;
        ``conv``: its :meth:`~.scan.Scan.conversation_rows`, when already known."""
        blank = all_missing(table, first="message_id")
        if blank is not None:
            self.blanks.append(pos[blank])
            pos, table = pos[~blank], table.filter(pa.array(~blank))
            conv = None if conv is None else conv[~blank]
        g = int(np.searchsorted(self.starts, pos[0], side="right")) - 1 if len(pos) else None
        return scan.look(self.fi, self.name, pos, table, None if g is None else self.latest_bound(g), conv)

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
    for the columns that tell (:data:`FIRST`) and its conversation rows found, before its turn,
    and whole in its turn only when :meth:`~.scan.Scan.may_keep` says so (the first one looked
    at: whole at once); the others are read batch by batch, their ``message_id`` and ``timestamp``
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
        self.given = threading.Event()      # the scan is given (:meth:`run`)
        self.pool, self.futures = None, []
        source._tasks = self            # from here the source's close() ends whatever is started
        self.pool = ThreadPoolExecutor(source.readers, thread_name_prefix="viber-sessions-reader")
        for k, g in enumerate(self.groups):
            self.futures.append(self.pool.submit(self._task, k, g))

    def _task(self, k: int, g: int) -> None:
        try:
            whole = self.source.pf.metadata.row_group(g).num_rows <= self.source.batch_rows and self.holds[g]
            # the first row group looked at always sets the latest instant: it is read whole
            read = self.source._read_first(g, whole=k == 0) if whole and not self.stop.is_set() else None
            conv = None
            if read is not None:        # its conversation rows, before its turn (on both threads)
                self.given.wait()
                if not self.stop.is_set():
                    conv = self.scan.conversation_rows(read)
            self.turns[k].wait()
            if self.stop.is_set():
                return
            if read is not None:        # one batch: every id it brings is looked for in all of it
                if k == 0 or self.scan.may_keep(read, self.source.latest_bound(g), conv):
                    self.source._look(self.scan, self.source._positions(g),
                                      read if k == 0 else self.source._whole(g, read), conv)
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
        self.given.set()
        self.turns[0].set()
        for future in self.futures:
            future.result()

    def close(self) -> None:
        """End the tasks: every turn is given (a task whose predecessor the shutdown cancels
        must not wait for it), and each task ends as soon as it sees ``stop``."""
        self.stop.set()
        self.given.set()
        for turn in self.turns:
            turn.set()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
