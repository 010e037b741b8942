"""Billing a log larger than memory: partition by conversation onto disk, bill bucket by bucket.

Pass 1 streams every input (a Parquet batch or a CSV block at a time), types and validates
each batch exactly as the in-memory loader does, and appends its rows to one of N Parquet
bucket files chosen by a hash of the conversation key (business_id, subscriber_id), and the
(message_id, row) pairs to N id-bucket files chosen by a hash of the message id.
Pass 2 finds, per id bucket, the rows that repeat an earlier message id (exact: ids are
compared as strings, in input order). Pass 3 reads one conversation bucket at a time,
segments it with the same kernel and tallies it; the tallies add up exactly (integers) and
the Decimal prices are applied once, by the same code as the in-memory invoice.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import threading
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .billing import Invoice, Tally, combine, part_tally, price
from .errors import InputError, UsageError
from .load import (KEEP_WHEN_ERROR, PARSE, REJECTED_SCHEMA, REQUIRED, LoadOptions, MessageLog, RawFile, all_rejected,
                   available_memory, drop_blank_rows, expand_inputs, names_of, no_data_rows, open_parquet, read_header,
                   reading, type_columns)
from .load.assembly import rejected_table
from .load.csvread import CsvLayout
from .load.csvstream import LineCleaner
from .load.discover import csv_opener
from .load.discover import is_parquet
from .load.typed import Typed
from .segment import first_occurrences, load_kernels, segment
from .tariff import Tariff
from .timeutil import Period

#: Bytes of memory one row needs while its bucket is billed (measured about 190; with margin).
BYTES_PER_ROW = 400
MAX_BUCKETS = 256
BATCH_ROWS = 1_000_000

BUCKET_SCHEMA = pa.schema([
    ("row", pa.int64()), ("message_id", pa.string()), ("business_id", pa.string()),
    ("subscriber_id", pa.string()), ("timestamp", pa.int64()), ("inbound", pa.bool_()),
    ("message_type", pa.string()), ("status", pa.string()),
])
ID_SCHEMA = pa.schema([("row", pa.int64()), ("message_id", pa.string())])

Progress = Callable[[str, int, int], None]   # (what, done, total)


def parse_memory(text: str) -> int:
    """'4GB', '512MB', '1.5G', '300KiB' or a number of bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b?)\s*", str(text), re.IGNORECASE)
    if not m:
        raise UsageError(f"--memory-limit must be a size such as 4GB or 512MB, not {text!r}")
    value = float(m.group(1)) * 1024 ** "bkmgt".index((m.group(2) or "b").lower())
    if value < 1:
        raise UsageError(f"--memory-limit must be positive, not {text!r}")
    return int(value)


def estimate_rows(files: Sequence[str]) -> int:
    """Rows of the inputs: exact for Parquet (metadata), estimated for CSV (file size / the
    bytes per row of its first block; a compressed file is counted as 4 times its size)."""
    total = 0
    for name in files:
        if name == "-":
            continue
        try:
            if is_parquet(name):
                total += pq.ParquetFile(name).metadata.num_rows
                continue
            size = os.path.getsize(name) * (4 if name.lower().endswith(".gz") else 1)
            with pa.input_stream(name, compression="detect") as fh:
                head = fh.read(1 << 20)
        except (OSError, pa.ArrowException):
            continue        # unreadable: the loader reports it
        if head:
            total += int(size / (len(head) / max(head.count(b"\n"), 1))) + 1
    return total


def automatic_limit(files: Sequence[str]) -> int | None:
    """A memory limit when the input is clearly larger than the available memory, else None."""
    avail = available_memory()
    if avail is None:
        return None
    # cheap first: a log needs far less than 20 times its size on disk (Parquet, the densest,
    # about 13 bytes a row; gzip about a quarter of CSV), so most runs open no file here
    on_disk = sum(os.path.getsize(f) for f in files if f != "-" and os.path.exists(f))
    if on_disk * 20 <= avail * 0.8:
        return None
    need = estimate_rows(files) * BYTES_PER_ROW // 2
    return avail // 2 if need > avail * 0.8 else None


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


# ---------------------------------------------------------------------------------------------
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
    h = hash_strings(business) * np.uint64(1099511628211) ^ hash_strings(subscriber)
    return (h % np.uint64(buckets)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Pass 1: stream, type, partition


def _batches(name: str, options: LoadOptions, batch_rows: int) -> Iterator[RawFile]:
    """One file's rows, batch by batch, with the CSV lines set aside since the last batch; the
    last item carries the blank lines and the notices of the file."""
    with reading(name):
        if is_parquet(name):
            pf, present, wanted = open_parquet(name, options)
            if pf.metadata.num_rows == 0:       # no batch: type the empty columns, as in memory
                yield RawFile(pf.schema_arrow.empty_table().select(present).rename_columns(
                    [wanted[c] for c in present]))
                return
            for batch in pf.iter_batches(batch_size=batch_rows, columns=present):
                table = pa.Table.from_batches([batch])
                table, blank = drop_blank_rows(table.rename_columns([wanted[c] for c in table.column_names]))
                yield RawFile(table, blank=blank)
            return
        yield from _csv_batches(name, options, batch_rows)


def _csv_batches(name: str, options: LoadOptions, batch_rows: int) -> Iterator[RawFile]:
    """A CSV file read line by line (load/, "CSV lines"), then streamed by Arrow's reader: it
    sees no blank and no invalid line (many blocks without a row crashed it)."""
    with csv_opener(name, None)() as stream:
        header = read_header(name, stream)
        if header.names is None:
            yield RawFile(pa.table({c: pa.array([], pa.string()) for c in REQUIRED}), blank=header.blank,
                          header=False)
            return
        layout = CsvLayout.of(name, header.names, options)
        keep = KEEP_WHEN_ERROR if options.on_invalid == "error" else None
        cleaner = LineCleaner(name, header.rest, stream, layout.check, keep)
        malformed = cleaner.bad                # filled as Arrow reads ahead
        base = 0
        if cleaner.prime():
            reader = pacsv.open_csv(cleaner, read_options=layout.read_options(False, max(1 << 16, batch_rows * 64)),
                                    parse_options=PARSE, convert_options=layout.convert_options(pa.string()))
            for batch in reader:
                table = pa.Table.from_batches([batch])
                # The lines set aside so far may lie in blocks ahead: keep those that fall
                # inside this batch's rows (base + 1 ... base + rows + k), the rest for later.
                k = 0
                while k < len(malformed) and malformed[k][0] <= base + table.num_rows + k:
                    k += 1
                mine, malformed[:] = malformed[:k], malformed[k:]
                base += table.num_rows + k
                yield RawFile(layout.canonical_table(table), malformed=mine)
        dropped = cleaner.n_bad - cleaner.n_kept           # error mode: counted, not kept
        yield RawFile(layout.empty(), malformed=list(malformed), blank=header.blank + cleaner.blank,
                      notices=cleaner.notices(), n_malformed=len(malformed) + dropped)


@dataclass
class _Partitioned:
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


class _Writers:
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
              progress: Progress | None = None) -> _Partitioned:
    """Pass 1: type and validate every batch as the in-memory loader does, write the valid rows
    to their buckets; the same errors as in memory (first invalid row, no data rows, every row
    rejected)."""
    out = _Writers(workdir, buckets)
    offsets, rejected_parts, notices, headers = [0], [], [], []
    n_bad, first_bad, blank = 0, None, 0
    try:
        for fi, name in enumerate(files):
            base, header = 0, True
            for raw in _batches(name, options, batch_rows):
                t = type_columns(name, raw, options, base)
                base += t.n_rows
                blank += t.blank
                notices += t.notices
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
    return _Partitioned(files=list(files), offsets=np.array(offsets, dtype=np.int64), bucket_paths=out.bucket_paths,
                        id_paths=out.id_paths, rejected=rejected, ts_min=out.ts_min, ts_max=out.ts_max,
                        blank_lines=blank, notices=tuple(notices))


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
# Pass 2: duplicates; pass 3: bill bucket by bucket


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


@dataclass
class ChunkedResult:
    invoice: Invoice
    rejected: pa.Table
    buckets: int
    rows_read: int
    blank_lines: int = 0
    notices: tuple = ()          # load-time warnings (Problem), as MessageLog.notices


@contextlib.contextmanager
def work_folder(workdir: str | None = None) -> Iterator[str]:
    """A temporary folder (``viber-sessions-XXXX``) that is removed whatever ends the block: an
    error, Ctrl-C, or an exception raised by a signal handler (SIGTERM). Signals are held back
    while the folder is made and removed, so that neither step is cut short."""
    tmp = None
    try:
        with _signals_held():           # a signal held here is raised on leaving: tmp is set by then
            tmp = tempfile.mkdtemp(prefix="viber-sessions-", dir=workdir)
        yield tmp
    finally:
        if tmp is not None:
            with _signals_held():
                shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT and SIGTERM back for the block: they are noted, and raised again after it
    with the handlers of before. (Blocking them with ``pthread_sigmask`` is not enough: the
    kernel hands them to another thread, and Python runs the handler in the main thread at
    once.) Handlers can only be set in the main thread; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    old: dict = {}
    holding = [True]

    def hold(signum, frame):
        if holding[0]:
            pending.append(signum)
            return
        handler = old.get(signum)           # the block is over: act as the handler of before
        if callable(handler):
            handler(signum, frame)
        else:
            pending.append(signum)

    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            old[signum] = signal.signal(signum, hold)
        yield
    finally:
        holding[0] = False
        for signum, handler in old.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)


def _bill_bucket(path: str, parts: _Partitioned, dups: np.ndarray, tariff: Tariff, period: Period,
                 accounts: Sequence[str]) -> Tally:
    log = bucket_log(pq.read_table(path), parts.files, parts.offsets)
    is_dup = np.zeros(len(log), dtype=bool)
    if len(dups):
        pos = np.searchsorted(dups, log.row)
        is_dup = (pos < len(dups)) & (dups[np.minimum(pos, len(dups) - 1)] == log.row)
    return part_tally(segment(log, tariff, duplicates=is_dup, data_end=parts.ts_max), period, accounts)


def run_invoice(inputs: Sequence[str], options: LoadOptions, tariff: Tariff, period: Period, memory_limit: int,
                accounts: Sequence[str] = (), workdir: str | None = None,
                progress: Progress | None = None) -> ChunkedResult:
    """The invoice of a log of any size, within about ``memory_limit`` bytes."""
    files = expand_inputs(list(inputs))
    if "-" in files:
        raise UsageError("standard input cannot be billed with --memory-limit; write it to a file first")
    p = plan(files, memory_limit)
    with work_folder(workdir) as tmp:
        parts = partition(files, options, p.buckets, p.batch_rows, tmp, progress)
        dups = duplicate_rows(parts.id_paths)
        rows_read = int(parts.offsets[-1])

        def tallies():
            for b, path in enumerate(parts.bucket_paths):
                if os.path.exists(path):
                    yield _bill_bucket(path, parts, dups, tariff, period, accounts)
                if progress:
                    progress("buckets", b + 1, len(parts.bucket_paths))

        total = combine(tallies(), parts.rejected.num_rows, parts.blank_lines, rows_read)
        return ChunkedResult(invoice=price(total, tariff, period, tariff.limits, accounts), rejected=parts.rejected,
                             buckets=p.buckets, rows_read=rows_read, blank_lines=parts.blank_lines,
                             notices=parts.notices)
