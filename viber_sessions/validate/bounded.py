"""``validate`` within a memory limit: the same findings as in memory, the log never whole.

One pass reads every file a batch at a time (the loader's batch streamer and typing, so the
per-row findings, notices and row numbers are the loader's) and finds, batch by batch, the
invalid rows, timestamps out of range, the first row of each suspicious id and each unpriced
type. The valid rows go to Parquet buckets on disk twice: by a hash of the message id (so each
id's rows meet in one bucket: conflicting duplicates) and by a hash of the conversation (so
each conversation is segmented whole: business messages of a type not allowed in a session,
and whether a suspicious id's cleaned twin occurs in the log). A file that fails part way is
left out entirely, as in memory: its rows carry its number and are dropped from the buckets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import ids
from ..chunked import plan
from ..errors import InputError, Problem
from ..load import LoadOptions, Typed, names_of, no_data_rows, type_columns
from ..load.assembly import spelling_notice
from ..load.batches import raw_batches
from ..outofcore.partition import bucket_log, conversation_bucket, hash_strings
from ..outofcore.workfolder import work_folder
from ..segment import R_TYPE_NOT_ALLOWED, segment
from ..timeutil import iso_utc
from .checks import Context, rows_findings
from .report import Finding, finding

ROWS_SCHEMA = pa.schema([
    ("tag", pa.int32()), ("file_row", pa.int64()), ("message_id", pa.string()), ("business_id", pa.string()),
    ("subscriber_id", pa.string()), ("timestamp", pa.int64()), ("inbound", pa.bool_()),
    ("message_type", pa.string()), ("status", pa.string())])
ENGINE_COLUMNS = ["row", "message_id", "business_id", "subscriber_id", "timestamp", "inbound", "message_type", "status"]
RANGE_CHECKS = (("now_ns", "future_timestamp", "timestamp is in the future"),
                ("since_ns", "before_range", "timestamp is before the stated range"),
                ("until_ns", "after_range", "timestamp is after the stated range"))


def _text(arr: pa.Array) -> pa.Array:
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


@dataclass
class FileScan:
    """What one pass over one file found (kept only when the whole file could be read)."""

    name: str
    rows: int = 0
    blank: int = 0
    header: bool = True
    ts_max: int | None = None
    valid: int = 0
    problems: list = field(default_factory=list)
    notices: list = field(default_factory=list)
    out_of_range: list = field(default_factory=list)
    suspicious: dict = field(default_factory=lambda: {"business_id": {}, "subscriber_id": {}})
    unpriced: dict = field(default_factory=dict)         # type -> [first file row, count, accounts]
    rejected_subscribers: dict = field(default_factory=dict)   # subscriber id of invalid rows -> first file row

    def observe(self, table: pa.Table, ctx: Context) -> None:
        ts = table.column("timestamp").to_numpy()
        rows = table.column("file_row").to_numpy()
        self.valid += table.num_rows
        self.ts_max = max(int(ts.max()), self.ts_max if self.ts_max is not None else int(ts.max()))
        for attr, code, message in RANGE_CHECKS:
            bound = getattr(ctx, attr)
            if bound is None:
                continue
            hit = np.flatnonzero(ts > bound if code == "future_timestamp" else
                                 ts < bound if code == "before_range" else ts >= bound)
            self.out_of_range += [Finding(self.name, int(r), "timestamp", code, message, v, "warning")
                                  for r, v in zip(rows[hit].tolist(), iso_utc(ts[hit]).to_pylist())]
        for column in ("business_id", "subscriber_id"):
            self._suspicious(table.column(column).combine_chunks(), rows, column)
        if ctx.tariff is not None:
            self._unpriced(table, rows, ctx)

    def _suspicious(self, col: pa.Array, rows: np.ndarray, column: str) -> None:
        seen = self.suspicious[column]
        distinct = pc.unique(col)
        for v in distinct.filter(ids.prefilter(distinct)).to_pylist():
            reason = None if v in seen else ids.suspicious(v)
            if reason is not None:
                first = int(pc.index(col, v).as_py())
                seen[v] = (int(rows[first]), reason)

    def _unpriced(self, table: pa.Table, rows: np.ndarray, ctx: Context) -> None:
        out = table.filter(pc.invert(table.column("inbound")))
        pairs = out.select(["business_id", "message_type"]).group_by(["business_id", "message_type"]).aggregate([])
        for b, t in zip(pairs.column("business_id").to_pylist(), pairs.column("message_type").to_pylist()):
            if ctx.tariff.plan(b).outbound_price(t) is not None:
                continue
            hit = pc.and_(pc.equal(out.column("business_id"), b), pc.equal(out.column("message_type"), t))
            first = int(pc.min(out.column("file_row").filter(hit)).as_py())
            cur = self.unpriced.setdefault(t, [first, 0, set()])
            cur[0] = min(cur[0], first)
            cur[1] += int(pc.sum(hit).as_py())
            cur[2].add(b)


class Buckets:
    """The valid rows on disk, by message id and by conversation."""

    def __init__(self, folder: str, n: int):
        self.n = n
        self.id_paths = [os.path.join(folder, f"ids-{b:04d}.parquet") for b in range(n)]
        self.conv_paths = [os.path.join(folder, f"conv-{b:04d}.parquet") for b in range(n)]
        self.writers: dict[str, pq.ParquetWriter] = {}

    def write(self, table: pa.Table) -> None:
        by_id = (hash_strings(table.column("message_id").combine_chunks()) % np.uint64(self.n)).astype(np.int64)
        by_conv = conversation_bucket(table.column("business_id").combine_chunks(),
                                      table.column("subscriber_id").combine_chunks(), self.n)
        for paths, keys in ((self.id_paths, by_id), (self.conv_paths, by_conv)):
            for b in np.unique(keys).tolist():
                if paths[b] not in self.writers:
                    self.writers[paths[b]] = pq.ParquetWriter(paths[b], ROWS_SCHEMA)
                self.writers[paths[b]].write_table(table.filter(pa.array(keys == b)))

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.writers = {}

    def read(self, path: str, tags: dict[int, int], offsets: np.ndarray) -> pa.Table | None:
        """A bucket's rows of the files read whole (:func:`locate_rows`)."""
        if not os.path.exists(path):
            return None
        return locate_rows(pq.read_table(path), tags, offsets)


def locate_rows(table: pa.Table, tags: dict[int, int], offsets: np.ndarray) -> pa.Table:
    """The rows (:data:`ROWS_SCHEMA`) of the files read whole (``tags``: file tag -> index among
    those files, whose first rows in the whole input are ``offsets``), with ``row`` (0-based in
    the whole input) and ``file`` (index among those files)."""
    tag = table.column("tag").to_numpy()
    keep = np.isin(tag, list(tags))
    table, tag = table.filter(pa.array(keep)), tag[keep]
    index = np.zeros(int(tag.max()) + 1 if len(tag) else 1, dtype=np.int64)
    for t, i in tags.items():
        if t < len(index):
            index[t] = i
    file = index[tag]
    row = offsets[file] + table.column("file_row").to_numpy() - 1
    return table.append_column("row", pa.array(row, pa.int64())).append_column("file", pa.array(file))


def scan_typed(scan: FileScan, t: Typed, tag: int, ctx: Context) -> pa.Table | None:
    """Note in ``scan`` what one typed batch of its file holds (problems, notices, the per-row
    findings) and give its valid rows (:data:`ROWS_SCHEMA`, ``file_row`` 1-based), if any."""
    scan.rows += t.n_rows
    scan.blank += t.blank
    scan.notices += t.notices
    scan.header = scan.header and t.header
    scan.problems += [p for _, p in t.problems()]
    keep = ~t.bad.mask
    if not keep.all():          # their ids are in the in-memory log's dictionary too (spellings)
        bad = _text(t.subscriber_id).filter(pa.array(~keep)).to_pylist()
        for v, r in zip(bad, (t.positions[~keep] + 1).tolist()):
            if v is not None:
                scan.rejected_subscribers.setdefault(v, r)
    if not keep.any():
        return None
    kp = pa.array(keep)
    table = pa.table({
        "tag": pa.array(np.full(int(keep.sum()), tag, np.int32)),
        "file_row": pa.array(t.positions[keep] + 1, pa.int64()),
        "message_id": _text(t.message_id.filter(kp)), "business_id": _text(t.business_id.filter(kp)),
        "subscriber_id": _text(t.subscriber_id.filter(kp)), "timestamp": t.timestamp[keep],
        "inbound": t.inbound[keep],
        "message_type": names_of(t.mtypes, t.mtype[keep]),
        "status": (names_of(t.statuses, t.status[keep]) if t.status is not None
                   else pa.nulls(int(keep.sum()), pa.string())),
    }, schema=ROWS_SCHEMA)
    scan.observe(table, ctx)
    return table


def scan_file(name: str, tag: int, options: LoadOptions, ctx: Context, batch_rows: int, buckets: Buckets
              ) -> FileScan:
    scan = FileScan(name)
    for raw in raw_batches(name, options, batch_rows):
        table = scan_typed(scan, type_columns(name, raw, options, scan.rows), tag, ctx)
        if table is not None:
            buckets.write(table)
    return scan


def validate_within(files: list[str], options: LoadOptions, ctx: Context, memory_limit: int,
                    workdir: str | None = None) -> tuple[list[Problem], list[Finding], int]:
    """``(file problems, findings, rows read)`` of ``files`` (read with ``on_invalid = skip``),
    in the order the in-memory path gives them, within about ``memory_limit`` bytes."""
    p = plan(files, memory_limit)
    file_problems: list[Problem] = []
    scans: dict[int, FileScan] = {}
    with work_folder(workdir) as folder:
        buckets = Buckets(folder, p.buckets)
        try:
            for tag, name in enumerate(files):
                try:
                    scans[tag] = scan_file(name, tag, options, ctx, p.batch_rows, buckets)
                except InputError as exc:         # left out entirely, as in memory
                    file_problems.extend(exc.problems)
        finally:
            buckets.close()
        read = list(scans.values())
        findings, rows_read = pass_findings(read, file_problems)
        convs: list[Conversations] = []
        if sum(s.valid for s in read):
            tags = {tag: i for i, tag in enumerate(scans)}
            found, convs = _across(read, buckets, tags, read_offsets(read), ctx)
            findings += found
        findings += spelling_findings(read, convs, options)
    return file_problems, findings, rows_read


def read_offsets(read: list[FileScan]) -> np.ndarray:
    """The first row of each file read whole in the whole input (and the total at the end)."""
    return np.concatenate([[0], np.cumsum([s.rows for s in read])]).astype(np.int64)


def pass_findings(read: list[FileScan], file_problems: list[Problem]) -> tuple[list[Finding], int]:
    """The findings of the reading pass (the loader's problems, then its notices once each, as
    in memory) and the rows read; "no data rows" joins ``file_problems`` when there are none."""
    rows_read = sum(s.rows for s in read)
    if read and rows_read == 0:
        file_problems.append(no_data_rows([s.name for s in read], sum(s.blank for s in read),
                                          [s.header for s in read]))
    notices = dict.fromkeys(p for s in read for p in s.notices)
    return [finding(p) for s in read for p in s.problems] + [finding(p, "warning") for p in notices], rows_read


def _across(read: list[FileScan], buckets: Buckets, tags: dict, offsets: np.ndarray, ctx: Context
            ) -> tuple[list[Finding], list]:
    names = [s.name for s in read]
    suspicious = merge_suspicious(read)
    twins = twins_of(suspicious)
    conflicting, rows = [], []
    for path in buckets.id_paths:
        table = buckets.read(path, tags, offsets)
        if table is not None and table.num_rows:
            found, dup = duplicates_in(table, names)
            conflicting += found
            rows.append(dup)
    dups = np.sort(np.concatenate(rows)) if rows else np.zeros(0, np.int64)
    ts_max = max(s.ts_max for s in read if s.ts_max is not None)
    convs = []
    for path in buckets.conv_paths:
        table = buckets.read(path, tags, offsets)
        if table is not None and table.num_rows:
            convs.append(conversations_in(table, twins, names, offsets, dups, ts_max, ctx))
    return across_findings(read, suspicious, conflicting, convs, ctx), convs


def merge_suspicious(read: list[FileScan]) -> dict:
    """column -> suspicious value -> (file, first row, reason): the first file holding it wins."""
    suspicious = {c: {} for c in ("business_id", "subscriber_id")}
    for s in read:
        for column, found in s.suspicious.items():
            for v, (row, reason) in found.items():
                suspicious[column].setdefault(v, (s.name, row, reason))
    return suspicious


def twins_of(suspicious: dict) -> dict:
    """column -> the cleaned twins of its suspicious values (to look for in the log)."""
    return {c: {ids.cleaned(v) for v in found} - {v for v in found if ids.cleaned(v) == v}
            for c, found in suspicious.items()}


@dataclass
class Conversations:
    """What one bucket of whole conversations gives: the business messages of a type not allowed
    in a session, the twins present, and each subscriber id with its first row."""

    not_allowed: list
    present: dict
    subscribers: pa.Table


def conversations_in(table: pa.Table, twins: dict, names: list[str], offsets: np.ndarray, dups: np.ndarray,
                     ts_max: int, ctx: Context) -> Conversations:
    """:class:`Conversations` of one bucket of located rows (:func:`locate_rows`)."""
    present = {c: set() for c in twins}
    for column, wanted in twins.items():
        if wanted:
            col = table.column(column)
            present[column] = set(pc.unique(col.filter(pc.is_in(col, value_set=pa.array(sorted(wanted)))))
                                  .to_pylist())
    not_allowed = _not_allowed(table, names, offsets, dups, ts_max, ctx) if ctx.tariff is not None else []
    subscribers = table.group_by("subscriber_id").aggregate([("row", "min")])
    return Conversations(not_allowed, present, subscribers)


def across_findings(read: list[FileScan], suspicious: dict, conflicting: list, convs: list[Conversations],
                    ctx: Context) -> list[Finding]:
    """The findings that need more than one batch, in report order: suspicious ids (with their
    twins), conflicting duplicates, unpriced types, types not allowed in a session; then the
    rows out of range. (The spelling notice: :func:`spelling_findings`.)"""
    present = {c: set().union(*(cv.present[c] for cv in convs)) for c in suspicious}
    out = suspicious_findings(suspicious, present) + conflicting
    if ctx.tariff is not None:
        out += unpriced_findings(read, ctx) + [f for cv in convs for f in cv.not_allowed]
    return out + [f for s in read for f in s.out_of_range]


def spelling_findings(read: list[FileScan], convs: list[Conversations], options: LoadOptions) -> list[Finding]:
    """The loader's notice of subscribers under several spellings, from the distinct subscriber
    ids in the order they first occur, invalid rows included (as the in-memory log's dictionary
    holds them)."""
    if options.subscriber_format != "as_is" or not read:
        return []
    offsets = read_offsets(read)
    rejected = [pa.table({"subscriber_id": pa.array(list(s.rejected_subscribers), pa.string()),
                          "row_min": pa.array(np.fromiter(s.rejected_subscribers.values(), np.int64,
                                                          len(s.rejected_subscribers)) + offsets[i] - 1, pa.int64())})
                for i, s in enumerate(read) if s.rejected_subscribers]
    tables = [cv.subscribers for cv in convs] + rejected
    if not tables:
        return []
    firsts = pa.concat_tables(tables).group_by("subscriber_id").aggregate([("row_min", "min")]).sort_by("row_min_min")
    notice = spelling_notice([s.name for s in read], firsts.column("subscriber_id").combine_chunks(), options)
    return [] if notice is None else [finding(notice, "warning")]


def suspicious_findings(suspicious: dict, present: dict) -> list[Finding]:
    out = []
    for column, what in (("business_id", "an account"), ("subscriber_id", "a subscriber")):
        for value, (name, row, reason) in sorted(suspicious[column].items(), key=lambda kv: kv[0]):
            twin = ids.cleaned(value)
            apart = f", apart from {twin!r} (also in the log)" if twin != value and twin in present[column] else ""
            out.append(Finding(name, row, column, "suspicious_id",
                               f"{column} has {reason}; ids are kept as written, so this is {what} of its "
                               f"own{apart}; first of its rows", value, "warning"))
    return out


def duplicates_in(table: pa.Table, names: list[str]) -> tuple[list[Finding], np.ndarray]:
    """The conflicting duplicates (findings) and every duplicate's row in one bucket of located
    rows (:func:`locate_rows`) holding every row of its message ids."""
    table = table.sort_by("row")
    codes = pc.dictionary_encode(table.column("message_id")).combine_chunks().indices.to_numpy()
    _, first_index, inverse = np.unique(codes, return_index=True, return_inverse=True)
    first = first_index[inverse]
    dup = first != np.arange(len(codes))
    if not dup.any():
        return [], np.zeros(0, np.int64)
    same = np.ones(len(codes), dtype=bool)
    for c in ("timestamp", "business_id", "subscriber_id", "inbound", "message_type"):
        values = table.column(c).to_numpy(zero_copy_only=False)
        same &= values == values[first]
    file, frow = table.column("file").to_numpy(), table.column("file_row").to_numpy()
    mids = table.column("message_id").to_pylist()
    findings = []
    for i in np.flatnonzero(dup & ~same).tolist():
        f = first[i]
        findings.append(Finding(names[file[i]], int(frow[i]), "message_id", "conflicting_duplicate",
                                f"message_id was first seen in {names[file[f]]}, row {frow[f]} with different "
                                "content; this row is a duplicate and billed nowhere", mids[i], "warning"))
    return findings, table.column("row").to_numpy()[dup]


def _not_allowed(table: pa.Table, names: list[str], offsets: np.ndarray, dups: np.ndarray, ts_max: int,
                 ctx: Context) -> list[Finding]:
    log = bucket_log(table.select(ENGINE_COLUMNS), names, offsets)
    pos = np.searchsorted(dups, log.row)
    is_dup = (pos < len(dups)) & (dups[np.minimum(pos, max(len(dups) - 1, 0))] == log.row) if len(dups) \
        else np.zeros(len(log), dtype=bool)
    seg = segment(log, ctx.tariff, duplicates=is_dup, data_end=ts_max)
    types = log.message_types
    return rows_findings(log, seg.reason == R_TYPE_NOT_ALLOWED, "message_type", "type_not_allowed_in_session",
                         "business message of a type not allowed in a session, sent while one was open "
                         "(billed per message)", lambda idx: [types[t] for t in log.mtype[idx].tolist()])


def unpriced_findings(read: list[FileScan], ctx: Context) -> list[Finding]:
    merged: dict[str, list] = {}
    for s in read:
        for t, (row, n, accounts) in s.unpriced.items():
            cur = merged.setdefault(t, [s.name, row, 0, set()])
            cur[2] += n
            cur[3] |= accounts
    out = []
    for t, (name, row, n, accounts) in merged.items():
        message = f"the tariff has no outbound price for this type ({n} rows; first shown)"
        if ctx.tariff.accounts:
            accounts = sorted(accounts)
            shown = ", ".join(repr(a) for a in accounts[:5]) + (f" and {len(accounts) - 5} more"
                                                                 if len(accounts) > 5 else "")
            message += f"; in the plan of account{'s' if len(accounts) > 1 else ''} {shown}"
        out.append(Finding(name, row, "message_type", "unpriced_type", message, t, "error"))
    return out
