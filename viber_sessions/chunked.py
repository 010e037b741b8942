"""Billing a log larger than memory: partition by conversation onto disk, bill bucket by bucket.

Pass 1 partitions the log into conversation buckets and pass 2 finds the repeated message ids
(:mod:`viber_sessions.outofcore.partition`). Pass 3 reads one bucket at a time, segments it
with the same kernel and tallies it; the tallies add up exactly (integers) and the Decimal
prices are applied once, by the same code as the in-memory invoice. The buckets stay open for
the audit tables (:class:`Buckets`): their files are removed with the work folder at the end of
the run, the open files stay readable until the result is dropped.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .billing import Invoice, add_periods, combine, part_tallies, price
from .errors import UsageError
from .load import LoadOptions, expand_inputs
from .load.batches import raw_batches
from .outofcore.partition import (BUCKET_SCHEMA, Progress, bucket_log, bucket_rows, conversation_bucket,  # noqa: F401
                                  conversation_hash, duplicate_rows, empty_log, hash_strings, partition)
from .outofcore.runs import ordered, table_of
from .outofcore.sizing import BYTES_PER_ROW, automatic_limit, estimate_rows, parse_memory  # noqa: F401  (chunked.X)
from .outofcore.workfolder import shutil, tempfile, work_folder  # noqa: F401  (tests patch them here)
from .segment import CarriedState, join_state, segment, state_part
from .tariff import Tariff
from .timeutil import Period

#: Bytes of memory one row needs while its audit tables are made (a part of a bucket at a time).
TABLE_BYTES_PER_ROW = 1500
MAX_BUCKETS = 256
BATCH_ROWS = 1_000_000

_batches = raw_batches          # the name tests/test_load_hostile.py uses


@dataclass
class Plan:
    buckets: int
    batch_rows: int
    rows_estimate: int


def plan(files: Sequence[str], memory_limit: int) -> Plan:
    rows = estimate_rows(files)
    per_bucket = max(1, memory_limit // BYTES_PER_ROW)
    buckets = min(MAX_BUCKETS, max(1, math.ceil(rows / per_bucket)))
    return Plan(buckets=buckets, batch_rows=max(1000, min(BATCH_ROWS, per_bucket)), rows_estimate=rows)


class Buckets:
    """The conversation buckets of a billed log, open for reading (their files are gone from the
    work folder), and what segments them exactly as in memory: the repeated ids and the latest
    instant of the whole log."""

    def __init__(self, handles: list, files: list[str], offsets: np.ndarray, dups: np.ndarray, data_end: int | None,
                 rejected: pa.Table, tariff: Tariff, memory_limit: int, workdir: str | None,
                 carry: CarriedState | None = None):
        self.handles, self.files, self.offsets, self.dups = handles, files, offsets, dups
        self.data_end, self.rejected, self.tariff = data_end, rejected, tariff
        self.memory_limit, self.workdir, self.carry = memory_limit, workdir, carry

    def segment(self, table: pa.Table):
        """The segmentation of whole conversations of this log (a bucket, or a part of one)."""
        return segment_part(table, self.files, self.offsets, self.dups, self.tariff, self.data_end, self.carry)

    def part_rows(self) -> int:
        return max(1000, self.memory_limit // TABLE_BYTES_PER_ROW)

    def counts(self) -> list[int]:
        return [pq.ParquetFile(h).metadata.num_rows for h in self.handles]

    def segmentations(self, part_rows: int | None = None):
        """Each bucket's segmentation, a bucket larger than ``part_rows`` rows in parts of whole
        conversations (by their hash: a conversation larger than that is one part)."""
        part_rows = part_rows or self.part_rows()
        for h in self.handles:
            table = pq.ParquetFile(h).read()
            k = math.ceil(table.num_rows / part_rows)
            if k <= 1:
                yield self.segment(table)
                continue
            part = (conversation_hash(table.column("business_id").combine_chunks(),
                                      table.column("subscriber_id").combine_chunks())
                    // np.uint64(max(1, len(self.handles))) % np.uint64(k)).astype(np.int64)
            for j in range(k):
                piece = table.filter(pa.array(part == j))
                if piece.num_rows:
                    yield self.segment(piece)

    def rejected_logs(self, part_rows: int | None = None):
        """The rejected rows, ``part_rows`` at a time, as logs without loaded rows."""
        part_rows = part_rows or self.part_rows()
        for start in range(0, self.rejected.num_rows, part_rows):
            yield empty_log(self.files, self.offsets, self.rejected.slice(start, part_rows))

    def tables(self, kind: str, tz: str = "UTC", where=None) -> Iterator[pa.Table]:
        """The audit table ``kind`` in the in-memory order, part by part, within the limit."""
        def runs():
            for seg in self.segmentations():
                yield table_of(seg, kind, tz, where)
            if kind == "messages":
                for log in self.rejected_logs():
                    yield table_of(segment(log, self.tariff, duplicates=np.zeros(0, dtype=bool), data_end=0), kind)

        estimate = sum(math.ceil(n / self.part_rows()) for n in self.counts()) + 1
        yield from ordered(runs(), kind, self.workdir, self.memory_limit // 2, estimate)

    def close(self) -> None:
        for h in self.handles:
            h.close()
        self.handles = []


@dataclass
class ChunkedResult:
    invoice: Invoice
    rejected: pa.Table
    buckets: int
    rows_read: int
    blank_lines: int = 0
    notices: tuple = ()          # load-time warnings (Problem), as MessageLog.notices
    parts: object = None         # what makes the audit tables (Buckets, or the Dask engine's parts)
    invoices: list = field(default_factory=list)   # one per period, in order (``invoice`` is the first)
    state: CarriedState | None = None              # the state at the end of the last period, when asked for

    def __post_init__(self):
        self.invoices = list(self.invoices) or [self.invoice]


def segment_part(table: pa.Table, files: list[str], offsets: np.ndarray, dups: np.ndarray, tariff: Tariff,
                 data_end: int | None, carry: CarriedState | None = None):
    """The segmentation of whole conversations in the bucket layout (rows numbered in the whole
    input), exactly as in memory: ``dups`` are the sorted rows of the whole input that repeat an
    earlier message id, ``data_end`` its latest instant, ``carry`` the carried-in state (its
    conversations and message ids are matched by their id strings, so any part can take all of it)."""
    log = bucket_log(table, files, offsets)
    pos = np.searchsorted(dups, log.row)
    is_dup = (pos < len(dups)) & (dups[np.minimum(pos, max(len(dups) - 1, 0))] == log.row) if len(dups) else \
        np.zeros(len(log), dtype=bool)
    return segment(log, tariff, duplicates=is_dup, data_end=data_end, carry=carry)


class PeriodTotals:
    """The tallies of every period (and the parts of the state at the cut, when asked for),
    added up part by part."""

    def __init__(self, periods: Sequence[Period], accounts: Sequence[str], cut: int | None):
        self.periods, self.accounts, self.cut = list(periods), list(accounts), cut
        self.tallies = None
        self.states: list = []

    def part(self, seg) -> tuple:
        """What one part's segmentation adds: its tally of each period, its part of the state."""
        return (part_tallies(seg, self.periods, self.accounts),
                state_part(seg, self.cut) if self.cut is not None else None)

    def add(self, part: tuple) -> None:
        """Add what :meth:`part` gave (maybe on another machine)."""
        tallies, state = part
        self.tallies = add_periods(self.tallies, tallies)
        if state is not None:
            self.states.append(state)

    def invoices(self, tariff: Tariff, rejected: int, blank_lines: int, rows_read: int) -> list[Invoice]:
        """Each period's invoice (its tally checked against the rows read)."""
        tallies = self.tallies or [None] * len(self.periods)
        return [price(combine([t] if t is not None else [], rejected, blank_lines, rows_read), tariff, p,
                      tariff.limits, self.accounts) for t, p in zip(tallies, self.periods)]

    def state(self, carry: CarriedState | None) -> CarriedState | None:
        return join_state(self.states, self.cut, carry) if self.cut is not None and self.states else None


def run_invoice(inputs: Sequence[str], options: LoadOptions, tariff: Tariff, period: Period | Sequence[Period],
                memory_limit: int, accounts: Sequence[str] = (), workdir: str | None = None,
                progress: Progress | None = None, carry: CarriedState | None = None,
                want_state: bool = False) -> ChunkedResult:
    """The invoice of each of ``period`` (one, or several sorted and disjoint) of a log of any
    size, within about ``memory_limit`` bytes, from the carried-in state ``carry``; with
    ``want_state``, also the state at the end of the last period."""
    periods = [period] if isinstance(period, Period) else list(period)
    files = expand_inputs(list(inputs))
    if "-" in files:
        raise UsageError("standard input cannot be billed with --memory-limit; write it to a file first")
    p = plan(files, memory_limit)
    with work_folder(workdir) as tmp:
        parts = partition(files, options, p.buckets, p.batch_rows, tmp, progress)
        dups = duplicate_rows(parts.id_paths)
        handles = [pa.OSFile(path, "r") for path in parts.bucket_paths if os.path.exists(path)]
    buckets = Buckets(handles, parts.files, parts.offsets, dups, parts.ts_max, parts.rejected, tariff, memory_limit,
                      workdir, carry)
    rows_read = int(parts.offsets[-1])
    totals = PeriodTotals(periods, accounts, periods[-1].end_ns if want_state else None)
    try:
        for b, h in enumerate(handles):
            totals.add(totals.part(buckets.segment(pq.ParquetFile(h).read())))
            if progress:
                progress("buckets", b + 1, len(handles))
        invoices = totals.invoices(tariff, parts.rejected.num_rows, parts.blank_lines, rows_read)
        state = totals.state(carry)
    except BaseException:
        buckets.close()
        raise
    return ChunkedResult(invoice=invoices[0], invoices=invoices, state=state, rejected=parts.rejected,
                         buckets=p.buckets, rows_read=rows_read, blank_lines=parts.blank_lines, notices=parts.notices,
                         parts=buckets)
