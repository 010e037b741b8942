"""Billing on a Dask cluster (``pip install 'viber-sessions[dask]'``).

The same steps as the out-of-core path, as cluster tasks: every input piece (a file, or a
range of a Parquet file's row groups) is read and typed by the loader of the in-memory path,
on a worker; rows get a bucket column (hash of the conversation key) and are shuffled on it;
``map_partitions`` runs the same segmentation kernel and tally on each partition; the client
adds the integer tallies and applies the Decimal prices once. Inputs must be paths every
worker can read (a shared file system).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .chunked import ChunkedResult, PeriodTotals, segment_part
from .dask_cluster import client_for, close, local_cluster, require_dask  # noqa: F401  (used through this module too)
from .errors import InputError, UsageError
from .load import (REJECTED_SCHEMA, LoadOptions, all_rejected, check_parquet_sizes, expand_inputs, no_data_rows,
                   open_parquet, read_parquet, read_raw, reading, type_columns)
from .load.assembly import rejected_table
from .load.notices import distinct_subscribers, gather
from .monthly import carried_state
from .outofcore.partition import BUCKET_SCHEMA, bucket_rows, empty_log
from .outofcore.runs import ordered, table_of
from .segment import CarriedState, first_occurrences, segment
from .tariff import Tariff, load_tariff

ROW_BITS = 40               # order key = file index << 40 | row in file: input order across files
PIECE_ROWS = 2_000_000


@dataclass(frozen=True)
class Piece:
    file_index: int
    name: str
    row_groups: tuple[int, ...] | None   # None: the whole file
    base: int                            # row of the file where the piece starts (0-based)


def pieces(files: Sequence[str], options: LoadOptions | None = None) -> list[Piece]:
    """Files cut into pieces of about PIECE_ROWS rows (Parquet by row groups; CSV whole). The
    Parquet files' columns (with ``options``) and declared sizes are checked here, before any
    worker allocates."""
    out = []
    for i, name in enumerate(files):
        if name.lower().endswith((".parquet", ".pq")):
            with reading(name):
                if options is not None:
                    meta = open_parquet(name, options)[0].metadata
                else:
                    meta = pq.ParquetFile(name).metadata
                    check_parquet_sizes(name, meta, os.path.getsize(name))
            groups, rows, base = [], 0, 0
            for g in range(meta.num_row_groups):
                groups.append(g)
                rows += meta.row_group(g).num_rows
                if rows >= PIECE_ROWS:
                    out.append(Piece(i, name, tuple(groups), base))
                    base += rows
                    groups, rows = [], 0
            if groups or not out or out[-1].file_index != i:
                out.append(Piece(i, name, tuple(groups), base))
        else:
            out.append(Piece(i, name, None, 0))
    return out


def read_piece(piece: Piece, options: LoadOptions):
    """One piece read and typed by the in-memory loader (its rows numbered from the piece's
    first stored row)."""
    if not piece.row_groups:
        raw = read_raw(piece.name, options)
    else:
        with reading(piece.name):
            raw = read_parquet(piece.name, options, piece.row_groups)
    return type_columns(piece.name, raw, options, piece.base)


def load_piece(piece: Piece, options: LoadOptions, buckets: int) -> dict:
    """Read and type one piece on a worker: its rows as a pandas frame, and its problems.
    (Rows are numbered from the piece's first row in the file; blank rows of earlier pieces are
    taken off on the client, see ``_renumber``.)"""
    t = read_piece(piece, options)
    keep = ~t.bad.mask
    rows, bucket, id_bucket = bucket_rows(t, np.int64(piece.file_index) << ROW_BITS, buckets)
    frame = pd.DataFrame({c: (np.asarray(rows.column(c).to_numpy(zero_copy_only=False), dtype=object)
                              if pa.types.is_string(rows.schema.field(c).type) else rows.column(c).to_numpy())
                          for c in rows.column_names})
    frame["bucket"] = bucket
    frame["id_bucket"] = id_bucket
    problems = t.problems() if t.n_invalid else []
    rejected = rejected_table([t], np.zeros(1, dtype=np.int64), [problems]) if problems else None
    return {"frame": frame, "n_rows": t.n_rows, "n_invalid": t.n_invalid,
            "first_problem": problems[0][1] if problems else None, "rejected": rejected,
            "ts_max": int(t.timestamp[keep].max()) if keep.any() else None,
            "file_index": piece.file_index, "base": piece.base, "blank": t.blank, "notices": list(t.notices),
            "subscribers": distinct_subscribers(t), "header": t.header}


def _renumber(stats: list[dict]) -> None:
    """Rows of a Parquet piece count from the piece's first stored row; the in-memory loader
    does not count the blank rows of earlier pieces: take those off (in place)."""
    blank_before: dict[int, int] = {}
    for s in stats:
        shift = s["shift"] = blank_before.get(s["file_index"], 0)
        blank_before[s["file_index"]] = shift + s["blank"]
        if not shift:
            continue
        if s["first_problem"] is not None:
            s["first_problem"] = replace(s["first_problem"], row=s["first_problem"].row - shift)
        if s["rejected"] is not None:
            fixed = pa.array(s["rejected"].column("file_row").to_numpy() - shift, pa.int64())
            s["rejected"] = s["rejected"].set_column(s["rejected"].schema.get_field_index("file_row"), "file_row", fixed)


def _check_rows(files: Sequence[str], stats: list[dict], options: LoadOptions, n_rows: int) -> None:
    """The in-memory loader's errors: no data row, the first invalid row, every row rejected."""
    if n_rows == 0:
        headers = {}
        for s in stats:
            headers[s["file_index"]] = headers.get(s["file_index"], True) and s["header"]
        raise InputError(no_data_rows(files, sum(s["blank"] for s in stats),
                                      [headers.get(i, True) for i in range(len(files))]))
    n_bad = sum(s["n_invalid"] for s in stats)
    if n_bad and (options.on_invalid == "error" or n_bad == n_rows):
        first = next(s["first_problem"] for s in stats if s["first_problem"] is not None)
        raise InputError([first], total=n_bad) if options.on_invalid == "error" \
            else InputError(all_rejected(n_bad, first))


def _stats(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "frame"}


def _frame(result: dict) -> pd.DataFrame:
    return result["frame"]


def _dups(pdf: pd.DataFrame) -> pd.DataFrame:
    """Rows of one id partition that repeat a message id seen at an earlier row."""
    pdf = pdf.sort_values("row", kind="stable")
    if len(pdf) == 0:
        return pd.DataFrame({"row": np.zeros(0, dtype=np.int64)})
    first = first_occurrences(pa.array(pdf["message_id"].tolist(), pa.string()))
    return pd.DataFrame({"row": pdf["row"].to_numpy()[~first]})


def _bill(pdf: pd.DataFrame, dups: np.ndarray, tariff: Tariff, totals: PeriodTotals, data_end,
          carry: CarriedState | None) -> pd.DataFrame:
    """Segment one partition of whole conversations (on a worker): its tally of each period and
    its part of the state at the cut (``PeriodTotals.part``)."""
    if len(pdf) == 0:
        return pd.DataFrame({"tally": pd.Series([], dtype=object)})
    table = pa.Table.from_pandas(pdf[[f.name for f in BUCKET_SCHEMA]], schema=BUCKET_SCHEMA, preserve_index=False)
    seg = segment_part(table, ["<cluster>"], np.array([0, 2 ** 62], dtype=np.int64), dups, tariff, data_end, carry)
    return pd.DataFrame({"tally": [pickle.dumps(totals.part(seg))]})


@dataclass(frozen=True)
class Rows:
    """Where a piece's rows go in the whole input: a row's key (file index << ROW_BITS | row in
    the file, blank rows of earlier pieces counted) plus its piece's delta is its global row."""

    starts: np.ndarray          # first key of each piece, sorted
    deltas: np.ndarray

    @classmethod
    def of(cls, stats: list[dict], offsets: np.ndarray) -> "Rows":
        keys = [(s["file_index"] << ROW_BITS) + s["base"] for s in stats]
        deltas = [int(offsets[s["file_index"]]) - s.get("shift", 0) - (s["file_index"] << ROW_BITS) for s in stats]
        order = np.argsort(keys, kind="stable")
        return cls(np.array(keys, dtype=np.int64)[order], np.array(deltas, dtype=np.int64)[order])

    def globalize(self, keys: np.ndarray) -> np.ndarray:
        return keys + self.deltas[np.searchsorted(self.starts, keys, side="right") - 1]


@dataclass(frozen=True, eq=False)
class Segmenting:
    """What a worker needs to segment its partition exactly as in memory: the rows' places in
    the whole input, its repeated message ids (global rows) and its latest instant."""

    files: list
    offsets: np.ndarray
    rows: Rows
    dups: np.ndarray
    data_end: int
    tariff: Tariff
    carry: CarriedState | None = None


def _table_part(pdf: pd.DataFrame, kind: str, tz: str, where, parts: Segmenting) -> pd.DataFrame:
    """The audit table ``kind`` of one partition of whole conversations (on a worker), as the
    Arrow IPC bytes of a run (see :mod:`viber_sessions.outofcore.runs`)."""
    if len(pdf) == 0:
        return pd.DataFrame({"table": pd.Series([], dtype=object)})
    table = pa.Table.from_pandas(pdf[[f.name for f in BUCKET_SCHEMA]], schema=BUCKET_SCHEMA, preserve_index=False)
    table = table.set_column(0, "row", pa.array(parts.rows.globalize(table.column("row").to_numpy()), pa.int64()))
    seg = segment_part(table, parts.files, parts.offsets, parts.dups, parts.tariff, parts.data_end, parts.carry)
    run = table_of(seg, kind, tz, where)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, run.schema) as writer:
        writer.write_table(run)
    return pd.DataFrame({"table": [sink.getvalue().to_pybytes()]})


@dataclass
class DaskParts:
    """What makes the audit tables of a Dask run again on the cluster (the pieces are read
    again; the duplicates, rows and latest instant found by the run are reused). The client
    merges the partitions' runs in about MERGE_BUDGET bytes."""

    request: object
    scheduler: str
    segmenting: Segmenting
    rejected: pa.Table
    buckets: int
    client: object = None
    own: tuple = ()              # the client and local cluster this engine started (closed by ``close``)

    def tables(self, kind: str, tz: str = "UTC", where=None):
        import dask
        from distributed import as_completed

        if self.client is None:
            self.own = client_for(self.scheduler)
            self.client = self.own[0]
        ctx = self.segmenting
        with dask.config.set({"dataframe.convert-string": False}):
            plan = pieces(ctx.files, self.request.load_options())
            futures = self.client.compute([dask.delayed(load_piece)(p, self.request.load_options(), self.buckets)
                                           for p in plan])
            shuffled = _frames(futures).shuffle(on="bucket", npartitions=self.buckets)
            made = shuffled.map_partitions(_table_part, kind, tz, where, ctx,
                                           meta=pd.DataFrame({"table": pd.Series(dtype=object)}))
            parts = self.client.compute(made.to_delayed())

            def runs():
                for future in as_completed(parts):
                    for blob in future.result()["table"]:
                        yield pa.ipc.open_stream(blob).read_all()
                    future.release()
                if kind == "messages":
                    for start in range(0, self.rejected.num_rows, PIECE_ROWS):
                        log = empty_log(ctx.files, ctx.offsets, self.rejected.slice(start, PIECE_ROWS))
                        yield table_of(segment(log, ctx.tariff, duplicates=np.zeros(0, dtype=bool), data_end=0), kind)

            yield from ordered(runs(), kind, None, MERGE_BUDGET, len(parts) + 1)

    def close(self) -> None:
        close(self.own)
        self.client, self.own = None, ()


#: Bytes the client merges the partitions' audit tables in.
MERGE_BUDGET = 512 << 20


def _frames(futures):
    import dask
    import dask.dataframe as dd

    meta = pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
        ("row", "int64"), ("message_id", object), ("business_id", object), ("subscriber_id", object),
        ("timestamp", "int64"), ("inbound", "bool"), ("message_type", object), ("status", object),
        ("bucket", "int64"), ("id_bucket", "int64"))})
    return dd.from_delayed([dask.delayed(_frame)(f) for f in futures], meta=meta, verify_meta=False)


def _load(client, files, options, buckets: int | None):
    """Read and type every piece on the cluster: (pieces, futures of their frames, their stats,
    the number of buckets), after the in-memory loader's checks."""
    import dask

    plan = pieces(files, options)
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    buckets = buckets or max(2 * n_workers, len(plan))
    futures = client.compute([dask.delayed(load_piece)(p, options, buckets) for p in plan])
    stats = client.gather(client.map(_stats, futures))
    _renumber(stats)
    _check_rows(files, stats, options, sum(s["n_rows"] for s in stats))
    return plan, futures, stats, buckets


def _tally(client, frames, dups, tariff, totals: PeriodTotals, data_end, carry, buckets, progress) -> None:
    """Bill every partition on the cluster and add what each gives to ``totals``, in the
    partitions' order (the state's parts are joined in a fixed order whatever ends first)."""
    from distributed import as_completed

    billed = frames.shuffle(on="bucket", npartitions=buckets).map_partitions(
        _bill, dups, tariff, totals, data_end, carry, meta=pd.DataFrame({"tally": pd.Series(dtype=object)}))
    parts = client.compute(billed.to_delayed())
    for done, _ in enumerate(as_completed(parts), start=1):
        if progress:
            progress("cluster tasks", done, len(parts))
    for future in parts:
        for blob in future.result()["tally"]:
            totals.add(pickle.loads(blob))


def run_invoice(request, scheduler: str = "local", client=None, progress=None, buckets: int | None = None
                ) -> ChunkedResult:
    """The invoices of ``request`` (each of its periods, from its carried-in state; the state at
    the end of the last period when it asks for it) computed on a Dask cluster (``scheduler``
    address or 'local')."""
    require_dask()
    import dask

    periods = list(request.selection().periods)
    tariff = request.tariff if isinstance(request.tariff, Tariff) else load_tariff(request.tariff)
    options = request.load_options()
    carry = carried_state(request.state_in, tariff, options, periods)
    totals = PeriodTotals(periods, list(request.accounts), periods[-1].end_ns if request.state_out else None)
    files = expand_inputs(list(request.inputs))
    if "-" in files:
        raise UsageError("standard input cannot be billed with --engine dask; write it to a file first")
    own = ()
    if client is None:
        own = client_for(scheduler)
        client = own[0]
    try:
        with dask.config.set({"dataframe.convert-string": False}):
            plan, futures, stats, buckets = _load(client, files, options, buckets)
            n_rows = {}
            for s in stats:
                n_rows[s["file_index"]] = n_rows.get(s["file_index"], 0) + s["n_rows"]
            offsets = np.zeros(len(files) + 1, dtype=np.int64)
            offsets[1:] = np.cumsum([n_rows.get(i, 0) for i in range(len(files))])
            rejected = [_globalize(s["rejected"], offsets[s["file_index"]]) for s in stats if s["rejected"] is not None]
            ends = [s["ts_max"] for s in stats if s["ts_max"] is not None]
            data_end = max(ends) if ends else 0
            if progress:
                progress("files", len(plan), len(plan))
            frames = _frames(futures)
            ids = frames[["row", "message_id", "id_bucket"]].shuffle(on="id_bucket", npartitions=buckets)
            dup_rows = ids.map_partitions(_dups, meta=pd.DataFrame({"row": pd.Series(dtype="int64")})).compute()
            dups = np.sort(dup_rows["row"].to_numpy())
            _tally(client, frames, dups, tariff, totals, data_end, carry, buckets, progress)
        rows_read = int(offsets[-1])
        n_rej = sum(t.num_rows for t in rejected)
        blank = sum(s["blank"] for s in stats)
        invoices = totals.invoices(tariff, n_rej, blank, rows_read)
        rej = pa.concat_tables(rejected) if rejected else REJECTED_SCHEMA.empty_table()
        rows = Rows.of(stats, offsets)
        parts = DaskParts(request=request, scheduler=scheduler, rejected=rej, buckets=buckets, client=client, own=own,
                          segmenting=Segmenting(files, offsets, rows, rows.globalize(dups), data_end, tariff, carry))
        own = ()                             # the parts close it
        return ChunkedResult(invoice=invoices[0], invoices=invoices, state=totals.state(carry),
                             rejected=rej, buckets=buckets, rows_read=rows_read, blank_lines=blank,
                             notices=gather(files, options, stats), parts=parts)
    finally:
        close(own)


def _globalize(rejected: pa.Table, offset: int) -> pa.Table:
    """``row``: the 1-based row in the whole input, as the in-memory loader numbers it."""
    rows = pa.array(rejected.column("file_row").to_numpy() + offset, pa.int64())
    return rejected.set_column(0, "row", rows)
