"""The audit tables of the engines that bill in parts, in the in-memory order and in bounded
memory: each part (whole conversations) writes its table, sorted, as a *run* file; the runs
are merged.

A part's ``--messages-out`` rows are in input order (their global row numbers rise), its
``--sessions-out`` rows are ordered by business, subscriber, start and id. Conversations never
cross parts, so the merge needs only the global row (messages) or the conversation key
(sessions; the rows of one conversation keep their order within their run). The merge reads
every run a batch at a time: the smallest last key among the runs' current batches bounds what
can be emitted; the rows up to it are taken from every run, sorted (stably) and emitted. The
run files are opened, then their folder is removed at once (the open files stay readable), so
nothing is left on disk whatever ends the run.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: Rows of each part written to an output file: one Parquet row group each, on every engine,
#: so that the files of all engines are byte-identical.
PART_ROWS = 1 << 16
#: The column holding each messages row's global input row while the runs are merged.
ROW_KEY = "__row"
MESSAGES_KEY = (ROW_KEY,)
SESSIONS_KEY = ("business_id", "subscriber_id")
#: Bytes one row of an audit table takes while runs are merged (measured ~250; with margin).
MERGE_BYTES_PER_ROW = 1000


class SortedRuns:
    """Sorted tables written one by one as Parquet run files into ``folder``."""

    def __init__(self, folder: str, name: str, group_rows: int):
        self.folder, self.name, self.group_rows = folder, name, max(1024, int(group_rows))
        self.paths: list[str] = []
        self.schema: pa.Schema | None = None

    def add(self, table: pa.Table) -> None:
        """One run (sorted); the first run with rows gives the schema of the merged parts."""
        if self.schema is None or (not self.paths and table.num_rows):
            self.schema = table.schema
        if not table.num_rows:
            return
        path = os.path.join(self.folder, f"{self.name}-{len(self.paths):05d}.parquet")
        pq.write_table(table, path, row_group_size=self.group_rows, compression="lz4")
        self.paths.append(path)

    def open(self) -> list[pa.NativeFile]:
        """The run files, open for reading (they may be removed from the folder now)."""
        return [pa.OSFile(p, "r") for p in self.paths]


def batch_rows(runs: int, budget: int) -> int:
    """Rows each run contributes per merge step, so that all runs' batches fit in ``budget``."""
    return max(1024, budget // (max(1, runs) * MERGE_BYTES_PER_ROW))


def merge(handles: Sequence[pa.NativeFile], key: Sequence[str], batch: int, schema: pa.Schema | None,
          drop: Sequence[str] = ()) -> Iterator[pa.Table]:
    """The runs' rows in order of ``key`` (each run sorted by it; equal keys never in two runs),
    part by part, cast to ``schema``, without the ``drop`` columns."""
    readers = [pq.ParquetFile(h).iter_batches(batch_size=batch) for h in handles]
    current: list[pa.Table | None] = [_next(r, schema) for r in readers]
    while True:
        live = [i for i, t in enumerate(current) if t is not None]
        if not live:
            return
        bound = min(_last(current[i], key) for i in live)
        pieces = []
        for i in live:
            table = current[i]
            n = _upto(table, key, bound)
            pieces.append(table.slice(0, n))
            current[i] = table.slice(n) if n < table.num_rows else _next(readers[i], schema)
        out = pa.concat_tables(pieces)
        if len(pieces) > 1:
            out = out.take(pc.sort_indices(out, [(k, "ascending") for k in key]))
        yield out.drop_columns(list(drop)) if drop else out


def _next(reader, schema) -> pa.Table | None:
    batch = next(reader, None)
    if batch is None:
        return None
    table = pa.Table.from_batches([batch])
    return table.cast(schema) if schema is not None and table.schema != schema else table


def _last(table: pa.Table, key: Sequence[str]) -> tuple:
    return tuple(table.column(k)[table.num_rows - 1].as_py() for k in key)


def _upto(table: pa.Table, key: Sequence[str], bound: tuple) -> int:
    """How many leading rows of ``table`` (sorted by ``key``) have a key at most ``bound``."""
    if len(key) == 1 and pa.types.is_integer(table.schema.field(key[0]).type):
        return int(np.searchsorted(table.column(key[0]).to_numpy(), bound[0], side="right"))
    le = None
    for k, v in reversed(list(zip(key, bound))):      # k1 < v1 or (k1 == v1 and (k2 < v2 or ...))
        col = table.column(k)
        le = pc.less_equal(col, v) if le is None else pc.or_(pc.less(col, v), pc.and_(pc.equal(col, v), le))
    return int(pc.sum(pc.cast(le, pa.int64())).as_py() or 0)


def fixed_parts(parts: Iterable[pa.Table], rows: int | None = None) -> Iterator[pa.Table]:
    """The rows of ``parts`` again, in parts of exactly ``rows`` rows (the last one shorter;
    one empty part when there is no row), each in one chunk: what an output file is written
    from, so that every engine gives the same row groups."""
    rows = rows or PART_ROWS
    held: list[pa.Table] = []
    count, schema, given = 0, None, 0
    for part in parts:
        schema = schema or part.schema
        held.append(part if part.schema == schema else part.cast(schema))
        count += part.num_rows
        while count >= rows:
            whole = pa.concat_tables(held)
            yield whole.slice(0, rows).combine_chunks()
            given += 1
            held, count = [whole.slice(rows)], count - rows
    if schema is not None and (count or not given):
        yield pa.concat_tables(held).combine_chunks()


def table_of(seg, kind: str, tz: str = "UTC", where=None) -> pa.Table:
    """The audit table ``kind`` (``messages`` or ``sessions``) of one part's segmentation, as a
    run: messages with their global row (:data:`ROW_KEY`), sessions where ``where(seg)`` holds."""
    from .. import tables

    if kind == "sessions":
        return tables.sessions_table(seg, tz, None if where is None else where(seg))
    table = tables.messages_table(seg)
    rows = np.concatenate([seg.log.row, seg.log.rejected.column("row").to_numpy() - 1])   # rejected: from 1
    if len(rows) != table.num_rows:
        raise AssertionError("the messages table must hold one row per loaded and rejected row")
    return table.append_column(ROW_KEY, pa.array(np.sort(rows), pa.int64()))


def ordered(runs_of: Iterable[pa.Table], kind: str, workdir: str | None, budget: int,
            runs_estimate: int) -> Iterator[pa.Table]:
    """The in-memory order of the runs ``runs_of`` (made by :func:`table_of`), part by part:
    the runs are written to a work folder in ``workdir``, opened, the folder is removed, and the
    open runs are merged within about ``budget`` bytes."""
    from .workfolder import work_folder

    with work_folder(workdir) as tmp:
        runs = SortedRuns(tmp, kind, batch_rows(runs_estimate, budget))
        for table in runs_of:
            runs.add(table)
        handles = runs.open()
    key, drop = (MESSAGES_KEY, MESSAGES_KEY) if kind == "messages" else (SESSIONS_KEY, ())
    if not handles:                      # no row at all: the columns still
        if runs.schema is not None:
            yield runs.schema.empty_table().drop_columns(list(drop))
        return
    try:
        yield from merge(handles, key, batch_rows(len(handles), budget), runs.schema, drop)
    finally:
        for h in handles:
            h.close()
