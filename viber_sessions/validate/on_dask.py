"""``validate`` on a Dask cluster: the same findings as in memory, the log never whole anywhere.

The steps of the bounded pass (:mod:`.bounded`), as cluster tasks: every input piece (a file,
or a range of a Parquet file's row groups: :func:`viber_sessions.dask_engine.pieces`) is read,
typed and scanned on a worker by the loader and :func:`.bounded.scan_typed` (its problems,
notices, rows out of range, suspicious ids, unpriced types); its valid rows are shuffled twice,
by message id (conflicting duplicates, and every duplicate's row) and by conversation (business
messages of a type not allowed in a session, the twins of suspicious ids, the subscriber ids'
first rows); the client merges the small results with the functions of the bounded pass. A
file of which one piece cannot be read is left out entirely, as in memory. Inputs must be paths
every worker can read (a shared file system).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from ..dask_cluster import client_for, close, require_dask
from ..dask_engine import ROW_BITS, Piece, Rows, pieces, read_piece
from ..errors import InputError, Problem, UsageError
from ..load import LoadOptions
from ..outofcore.partition import conversation_bucket, hash_strings
from .bounded import (ROWS_SCHEMA, Conversations, FileScan, across_findings, conversations_in, duplicates_in,
                      locate_rows, merge_suspicious, pass_findings, read_offsets, scan_typed, spelling_findings,
                      twins_of)
from .checks import Context
from .report import Finding

#: The pandas columns a piece's valid rows travel in (ROWS_SCHEMA and the two buckets).
FRAME_META = pd.DataFrame({f.name: pd.Series(dtype=object if pa.types.is_string(f.type) else f.type.to_pandas_dtype())
                           for f in ROWS_SCHEMA} | {"bucket": pd.Series(dtype="int64"),
                                                    "id_bucket": pd.Series(dtype="int64")})


def validate_on_dask(files: list[str], options: LoadOptions, ctx: Context, scheduler: str = "local",
                     buckets: int | None = None) -> tuple[list[Problem], list[Finding], int]:
    """``(file problems, findings, rows read)`` of ``files`` (read with ``on_invalid = skip``),
    in the order the in-memory path gives them, computed on the cluster at ``scheduler`` (an
    address, or ``local`` for a local cluster of this machine's cores)."""
    require_dask()
    if "-" in files:
        raise UsageError("standard input cannot be validated with --engine dask; write it to a file first")
    import dask

    own = client_for(scheduler)
    try:
        with dask.config.set({"dataframe.convert-string": False}):
            return _validate(own[0], files, options, ctx, buckets)
    finally:
        close(own)


def _validate(client, files: list[str], options: LoadOptions, ctx: Context, buckets: int | None):
    import dask

    failed: dict[int, list[Problem]] = {}
    plan: list[tuple[int, Piece]] = []
    for tag, name in enumerate(files):
        try:
            plan += [(tag, p) for p in pieces([name], options)]
        except InputError as exc:            # a Parquet file without the columns, unreadable, ...
            failed[tag] = list(exc.problems)
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    buckets = buckets or max(2 * n_workers, len(plan))
    futures = client.compute([dask.delayed(scan_piece)(p, tag, options, ctx, buckets) for tag, p in plan])
    outcomes = client.gather(client.map(_outcome, futures))
    scans, shifts = _files(plan, outcomes, failed)
    file_problems = [p for tag in sorted(failed) for p in failed[tag]]
    read = [scans[tag] for tag in sorted(scans)]
    findings, rows_read = pass_findings(read, file_problems)
    convs: list[Conversations] = []
    if sum(s.valid for s in read):
        kept = [f for (tag, _), f in zip(plan, futures) if tag in scans]
        place = Placing(tags={tag: i for i, tag in enumerate(sorted(scans))}, offsets=read_offsets(read),
                        rows=Rows.of(shifts, np.zeros(len(files) + 1, dtype=np.int64)), names=[s.name for s in read])
        found, convs = _across(client, kept, read, place, ctx, buckets)
        findings += found
    findings += spelling_findings(read, convs, options)
    return file_problems, findings, rows_read


def scan_piece(piece: Piece, tag: int, options: LoadOptions, ctx: Context, buckets: int) -> dict:
    """Read, type and scan one piece on a worker: its :class:`FileScan` (rows numbered from the
    piece's first stored row) and its valid rows as a pandas frame with their buckets; or the
    problems that keep its file out."""
    try:
        t = read_piece(piece, options)
    except InputError as exc:
        return {"problems": list(exc.problems), "scan": None, "frame": FRAME_META}
    scan = FileScan(piece.name)
    table = scan_typed(scan, t, tag, ctx)
    if table is None:
        return {"problems": None, "scan": scan, "frame": FRAME_META}
    frame = pd.DataFrame({c: (np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=object)
                              if pa.types.is_string(table.schema.field(c).type) else table.column(c).to_numpy())
                          for c in table.column_names})
    frame["bucket"] = conversation_bucket(table.column("business_id").combine_chunks(),
                                          table.column("subscriber_id").combine_chunks(), buckets)
    frame["id_bucket"] = (hash_strings(table.column("message_id").combine_chunks()) % np.uint64(buckets)
                          ).astype(np.int64)
    return {"problems": None, "scan": scan, "frame": frame}


def _outcome(result: dict) -> dict:
    return {"problems": result["problems"], "scan": result["scan"]}


def _frame(result: dict) -> pd.DataFrame:
    return result["frame"]


def _files(plan: list[tuple[int, Piece]], outcomes: list[dict], failed: dict) -> tuple[dict, list[dict]]:
    """The pieces' scans merged per file read whole (tag -> FileScan), rows renumbered as the
    in-memory loader numbers them (blank rows of earlier pieces not counted), and each piece's
    shift (for :class:`~viber_sessions.dask_engine.Rows`); the problems of the files left out
    join ``failed``."""
    by_file: dict[int, list[tuple[Piece, dict]]] = {}
    for (tag, piece), outcome in zip(plan, outcomes):
        by_file.setdefault(tag, []).append((piece, outcome))
    scans, shifts = {}, []
    for tag, parts in by_file.items():
        bad = next((o["problems"] for _, o in parts if o["problems"] is not None), None)
        if bad is not None:
            failed[tag] = bad
            continue
        shift, merged = 0, FileScan(parts[0][0].name)
        for piece, outcome in parts:
            shifts.append({"file_index": tag, "base": piece.base, "shift": shift})
            merge_scan(merged, shifted(outcome["scan"], shift))
            shift += outcome["scan"].blank
        scans[tag] = merged
    return scans, shifts


def shifted(scan: FileScan, shift: int) -> FileScan:
    """``scan`` with every file row ``shift`` rows earlier."""
    if not shift:
        return scan

    def moved(ps):
        return [p if p.row is None else dataclasses.replace(p, row=p.row - shift) for p in ps]

    return dataclasses.replace(
        scan, problems=moved(scan.problems), notices=moved(scan.notices), out_of_range=moved(scan.out_of_range),
        suspicious={c: {v: (r - shift, why) for v, (r, why) in found.items()} for c, found in scan.suspicious.items()},
        unpriced={t: [r - shift, n, accounts] for t, (r, n, accounts) in scan.unpriced.items()},
        rejected_subscribers={v: r - shift for v, r in scan.rejected_subscribers.items()})


def merge_scan(into: FileScan, part: FileScan) -> None:
    """Add the scan of a file's next piece to the file's scan (in place)."""
    into.rows += part.rows
    into.blank += part.blank
    into.header = into.header and part.header
    into.valid += part.valid
    if part.ts_max is not None:
        into.ts_max = part.ts_max if into.ts_max is None else max(into.ts_max, part.ts_max)
    into.problems += part.problems
    into.notices += part.notices
    into.out_of_range += part.out_of_range
    for column, found in part.suspicious.items():
        for v, first in found.items():
            into.suspicious[column].setdefault(v, first)
    for t, (row, n, accounts) in part.unpriced.items():
        cur = into.unpriced.setdefault(t, [row, 0, set()])
        cur[0] = min(cur[0], row)
        cur[1] += n
        cur[2] |= accounts
    for v, row in part.rejected_subscribers.items():
        into.rejected_subscribers.setdefault(v, row)


@dataclasses.dataclass(frozen=True, eq=False)
class Placing:
    """Where the shuffled rows are in the whole input: ``tags`` (file tag -> index among the files
    read whole), their ``offsets`` and ``names``, and the pieces' ``rows`` (shifts)."""

    tags: dict
    offsets: np.ndarray
    rows: Rows
    names: list

    def locate(self, pdf: pd.DataFrame) -> pa.Table:
        """A partition's rows as :func:`.bounded.locate_rows` gives them (file rows renumbered)."""
        table = pa.Table.from_pandas(pdf[ROWS_SCHEMA.names], schema=ROWS_SCHEMA, preserve_index=False)
        keys = (table.column("tag").to_numpy().astype(np.int64) << ROW_BITS) + table.column("file_row").to_numpy() - 1
        file_row = pa.array(self.rows.globalize(keys) + 1, pa.int64())
        table = table.set_column(ROWS_SCHEMA.get_field_index("file_row"), "file_row", file_row)
        return locate_rows(table, self.tags, self.offsets)


def id_part(pdf: pd.DataFrame, place: Placing) -> tuple[list[Finding], np.ndarray]:
    """The conflicting duplicates and duplicate rows of one partition by message id (on a worker)."""
    if len(pdf) == 0:
        return [], np.zeros(0, np.int64)
    return duplicates_in(place.locate(pdf), place.names)


def conversation_part(pdf: pd.DataFrame, place: Placing, twins: dict, dups: np.ndarray, ts_max: int,
                      ctx: Context) -> Conversations | None:
    """:class:`.bounded.Conversations` of one partition by conversation (on a worker)."""
    if len(pdf) == 0:
        return None
    return conversations_in(place.locate(pdf), twins, place.names, place.offsets, dups, ts_max, ctx)


def _across(client, futures: Sequence, read: list[FileScan], place: Placing, ctx: Context, buckets: int
            ) -> tuple[list[Finding], list[Conversations]]:
    import dask
    import dask.dataframe as dd

    frames = dd.from_delayed([dask.delayed(_frame)(f) for f in futures], meta=FRAME_META, verify_meta=False)
    by_id = frames.shuffle(on="id_bucket", npartitions=buckets).to_delayed()
    found = client.gather(client.compute([dask.delayed(id_part)(part, place) for part in by_id]))
    conflicting = [f for fs, _ in found for f in fs]
    rows = [r for _, r in found if len(r)]
    dups = np.sort(np.concatenate(rows)) if rows else np.zeros(0, np.int64)
    suspicious = merge_suspicious(read)
    twins = twins_of(suspicious)
    ts_max = max(s.ts_max for s in read if s.ts_max is not None)
    shared = client.scatter(dups, broadcast=True)
    by_conv = frames.shuffle(on="bucket", npartitions=buckets).to_delayed()
    convs = client.gather(client.compute([dask.delayed(conversation_part)(part, place, twins, shared, ts_max, ctx)
                                          for part in by_conv]))
    convs = [c for c in convs if c is not None]
    return across_findings(read, suspicious, conflicting, convs, ctx), convs
