"""Pass 1 and 2 of the out-of-core engine: partition a log by conversation into Parquet
buckets on disk, and find the rows that repeat an earlier message id.

Pass 1 streams every input (a Parquet batch or a CSV block at a time), types and validates
each batch exactly as the in-memory loader does, and appends its rows to one of N Parquet
bucket files chosen by a hash of the conversation key (business_id, subscriber_id), and the
(message_id, row) pairs to N id-bucket files chosen by a hash of the message id. Pass 2 finds,
per id bucket, the rows that repeat an earlier message id (exact: ids are compared as strings,
in input order). :func:`bucket_log` makes one bucket a :class:`MessageLog` again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..compiling import guard
from ..errors import InputError
from ..load import REJECTED_SCHEMA, LoadOptions, MessageLog, all_rejected, names_of, no_data_rows, type_columns
from ..load.assembly import rejected_table
from ..load.batches import raw_batches
from ..load.notices import Notices
from ..load.typed import Typed
from ..segment import first_occurrences, load_kernels

BUCKET_SCHEMA = pa.schema([
    ("row", pa.int64()), ("message_id", pa.string()), ("business_id", pa.string()),
    ("subscriber_id", pa.string()), ("timestamp", pa.int64()), ("inbound", pa.bool_()),
    ("message_type", pa.string()), ("status", pa.string()),
])
ID_SCHEMA = pa.schema([("row", pa.int64()), ("message_id", pa.string())])

Progress = Callable[[str, int, int], None]   # (what, done, total)

guard()        # numba compiles here: no cycle collection meanwhile (viber_sessions.compiling)


# -------------------------------------------------------------------------------------------
# Hashing


@numba.njit(cache=True, nogil=True)
def _hash_strings(offsets, data):  # pragma: no cover - compiled
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        h = np.uint64(14695981039346656037)
        for b in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[b])) * np.uint64(1099511628211)
        h ^= h >> np.uint64(31)
        out[i] = h * np.uint64(0x9E3779B97F4A7C15)
    return out


def hash_strings(arr: pa.Array) -> np.ndarray:
    """A 64-bit hash of each string (dictionary arrays: of each value, then taken)."""
    load_kernels()
    if pa.types.is_dictionary(arr.type):
        return hash_strings(arr.dictionary)[arr.indices.to_numpy(zero_copy_only=False)]
    arr = arr.cast(pa.string())
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint64)
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=arr.offset + len(arr) + 1)[arr.offset:]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return _hash_strings(offsets, data)


def conversation_bucket(business: pa.Array, subscriber: pa.Array, buckets: int) -> np.ndarray:
    return (conversation_hash(business, subscriber) % np.uint64(buckets)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Pass 1: stream, type, partition


@dataclass
class Partitioned:
    files: list[str]
    offsets: np.ndarray
    bucket_paths: list[str]
    id_paths: list[str]
    rejected: pa.Table
    ts_min: int | None
    ts_max: int | None
    problems: list = field(default_factory=list)
    blank_lines: int = 0
    notices: tuple = ()


def bucket_rows(t: Typed, row_base: int, buckets: int) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """The valid rows of a typed batch in the bucket layout (``row`` = ``row_base`` + row in the
    file), with each row's conversation bucket and message-id bucket."""
    keep = ~t.bad.mask
    kp = pa.array(keep)
    business, subscriber = _decode(t.business_id.filter(kp)), _decode(t.subscriber_id.filter(kp))
    message_id = t.message_id.filter(kp)
    table = pa.table({
        "row": t.positions[keep] + row_base, "message_id": message_id, "business_id": business,
        "subscriber_id": subscriber, "timestamp": t.timestamp[keep], "inbound": t.inbound[keep],
        "message_type": names_of(t.mtypes, t.mtype[keep]),
        "status": names_of(t.statuses, t.status[keep]) if t.status is not None
        else pa.nulls(int(keep.sum()), pa.string()),
    }, schema=BUCKET_SCHEMA)
    return (table, conversation_bucket(business, subscriber, buckets),
            (hash_strings(message_id) % np.uint64(buckets)).astype(np.int64))


class BucketWriters:
    """The open bucket writers of pass 1 (closed by ``close``, also on any exception)."""

    def __init__(self, workdir: str, buckets: int):
        self.bucket_paths = [os.path.join(workdir, f"conv-{b:04d}.parquet") for b in range(buckets)]
        self.id_paths = [os.path.join(workdir, f"ids-{b:04d}.parquet") for b in range(buckets)]
        self.writers = [None] * buckets
        self.id_writers = [None] * buckets
        self.ts_min = self.ts_max = None

    def write(self, t: Typed, row_base: int) -> None:
        part, conv_bucket, id_bucket = bucket_rows(t, row_base, len(self.writers))
        ts = part.column("timestamp").to_numpy()
        lo, hi = int(ts.min()), int(ts.max())
        self.ts_min = lo if self.ts_min is None else min(self.ts_min, lo)
        self.ts_max = hi if self.ts_max is None else max(self.ts_max, hi)
        _scatter(part, conv_bucket, self.bucket_paths, self.writers, BUCKET_SCHEMA)
        _scatter(part.select(["row", "message_id"]), id_bucket, self.id_paths, self.id_writers, ID_SCHEMA)

    def close(self) -> None:
        for w in self.writers + self.id_writers:
            if w is not None:
                w.close()


def partition(files: list[str], options: LoadOptions, buckets: int, batch_rows: int, workdir: str,
              progress: Progress | None = None) -> Partitioned:
    """Pass 1: type and validate every batch as the in-memory loader does, write the valid rows
    to their buckets; the same errors as in memory (first invalid row, no data rows, every row
    rejected)."""
    out = BucketWriters(workdir, buckets)
    offsets, rejected_parts, headers = [0], [], []
    notices = Notices(files, options)
    n_bad, first_bad, blank = 0, None, 0
    try:
        for fi, name in enumerate(files):
            base, header = 0, True
            for raw in raw_batches(name, options, batch_rows):
                t = type_columns(name, raw, options, base)
                base += t.n_rows
                blank += t.blank
                notices.add_typed(fi, t)
                header = header and t.header
                if t.n_invalid:
                    n_bad += t.n_invalid
                    first_bad = first_bad or t.problems(limit=1)[0][1]
                    if options.on_invalid == "skip":
                        rejected_parts.append(rejected_table([t], np.array([offsets[-1]], dtype=np.int64),
                                                              [t.problems()]))
                if (options.on_invalid == "skip" or not n_bad) and not t.bad.mask.all():
                    out.write(t, offsets[-1])
            offsets.append(offsets[-1] + base)
            headers.append(header)
            if progress:
                progress("files", fi + 1, len(files))
    finally:
        out.close()
    if offsets[-1] == 0:
        raise InputError(no_data_rows(files, blank, headers))
    if n_bad and (options.on_invalid == "error" or n_bad == offsets[-1]):
        raise InputError([first_bad], total=n_bad) if options.on_invalid == "error" \
            else InputError(all_rejected(n_bad, first_bad))
    rejected = pa.concat_tables(rejected_parts) if rejected_parts else REJECTED_SCHEMA.empty_table()
    return Partitioned(files=list(files), offsets=np.array(offsets, dtype=np.int64), bucket_paths=out.bucket_paths,
                        id_paths=out.id_paths, rejected=rejected, ts_min=out.ts_min, ts_max=out.ts_max,
                        blank_lines=blank, notices=notices.result())


def _decode(arr: pa.Array) -> pa.Array:
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def _scatter(table: pa.Table, bucket: np.ndarray, paths, writers, schema) -> None:
    order = np.argsort(bucket, kind="stable")
    sorted_b = bucket[order]
    bounds = np.searchsorted(sorted_b, np.arange(len(paths) + 1))
    for b in np.unique(sorted_b).tolist():
        piece = table.take(pa.array(order[bounds[b]:bounds[b + 1]]))
        if writers[b] is None:
            writers[b] = pq.ParquetWriter(paths[b], schema, compression="lz4")
        writers[b].write_table(piece)


# ---------------------------------------------------------------------------------------------
# Pass 2: duplicates


def duplicate_rows(id_paths: Sequence[str]) -> np.ndarray:
    """Sorted global rows that repeat a message id seen at an earlier row."""
    found = []
    for path in id_paths:
        if not os.path.exists(path):
            continue
        t = pq.read_table(path)
        order = np.argsort(t.column("row").to_numpy(), kind="stable")
        t = t.take(pa.array(order))
        first = first_occurrences(t.column("message_id").combine_chunks())
        found.append(t.column("row").to_numpy()[~first])
    return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def bucket_log(table: pa.Table, files: list[str], offsets: np.ndarray) -> MessageLog:
    """A MessageLog of one bucket (rows keep their global numbers)."""
    order = np.argsort(table.column("row").to_numpy(), kind="stable")   # input order inside the bucket
    table = table.take(pa.array(order))
    benc = pc.dictionary_encode(table.column("business_id").combine_chunks())
    senc = pc.dictionary_encode(table.column("subscriber_id").combine_chunks())
    tenc = pc.dictionary_encode(table.column("message_type").combine_chunks())
    status = table.column("status").combine_chunks()
    if status.null_count == len(status):
        st_codes, statuses = None, []
    else:
        senc2 = pc.dictionary_encode(status)
        st_codes = senc2.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        statuses = senc2.dictionary.to_pylist()
    return MessageLog(
        sources=files, offsets=offsets, row=table.column("row").to_numpy(),
        message_id=table.column("message_id").combine_chunks(),
        business=benc.indices.to_numpy(zero_copy_only=False).astype(np.int32), businesses=benc.dictionary,
        subscriber=senc.indices.to_numpy(zero_copy_only=False).astype(np.int32), subscribers=senc.dictionary,
        timestamp=table.column("timestamp").to_numpy(), inbound=table.column("inbound").to_numpy(zero_copy_only=False),
        mtype=tenc.indices.to_numpy(zero_copy_only=False).astype(np.int32), message_types=tenc.dictionary.to_pylist(),
        status=st_codes, statuses=statuses, rejected=REJECTED_SCHEMA.empty_table(), problems=[])


def conversation_hash(business: pa.Array, subscriber: pa.Array) -> np.ndarray:
    """The 64-bit hash of each row's conversation key: its bucket is the hash modulo the number
    of buckets (and its part of a bucket, the hash divided by it, modulo the number of parts)."""
    return hash_strings(business) * np.uint64(1099511628211) ^ hash_strings(subscriber)


def empty_log(files: list[str], offsets: np.ndarray, rejected: pa.Table) -> MessageLog:
    """A MessageLog without loaded rows that carries ``rejected`` (its audit rows are theirs)."""
    none = np.zeros(0, dtype=np.int32)
    return MessageLog(sources=files, offsets=offsets, row=np.zeros(0, dtype=np.int64),
                      message_id=pa.array([], pa.string()), business=none, businesses=pa.array([], pa.string()),
                      subscriber=none, subscribers=pa.array([], pa.string()), timestamp=np.zeros(0, dtype=np.int64),
                      inbound=np.zeros(0, dtype=bool), mtype=none, message_types=[], status=None, statuses=[],
                      rejected=rejected, problems=[])


def segment_bucket(table: pa.Table, files: list[str], offsets: np.ndarray, dups: np.ndarray, tariff,
                   data_end: int | None):
    """The segmentation of whole conversations in the bucket layout (rows numbered in the whole
    input): ``dups`` are the sorted rows of the whole input that repeat an earlier message id,
    ``data_end`` its latest instant."""
    from ..segment import segment

    log = bucket_log(table, files, offsets)
    is_dup = np.zeros(len(log), dtype=bool)
    if len(dups):
        pos = np.searchsorted(dups, log.row)
        is_dup = (pos < len(dups)) & (dups[np.minimum(pos, len(dups) - 1)] == log.row)
    return segment(log, tariff, duplicates=is_dup, data_end=data_end)
