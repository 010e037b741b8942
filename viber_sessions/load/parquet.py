"""Opening Parquet files: dictionary-encoded string columns, the column checks, and the sizes
their metadata declares checked before anything is allocated."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError, Problem
from .options import CANONICAL, LoadOptions
from .raw import DICT_COLUMNS, RawFile, check_columns, drop_blank_rows


def empty_table(schema: pa.Schema) -> pa.Table:
    """A table of no rows with ``schema`` (one empty chunk per column), made without pyarrow's
    ``Schema.empty_table``, which imports pandas (0.15 s): the explanation builds one before its
    readers start, and pandas' import then overlaps their reading instead of delaying it."""
    return pa.table([pa.nulls(0, f.type) for f in schema], schema=schema)


def parquet_dictionary_columns(schema: pa.Schema, wanted: Mapping[str, str]) -> list[str]:
    """The source columns to read dictionary-encoded: strings among DICT_COLUMNS."""
    return [src for src in wanted if src in schema.names and wanted[src] in DICT_COLUMNS
            and (pa.types.is_string(schema.field(src).type) or pa.types.is_large_string(schema.field(src).type))]


def read_parquet(name: str, options: LoadOptions, row_groups: Sequence[int] | None = None) -> RawFile:
    """A Parquet file (or some of its row groups) as raw canonical columns."""
    pf, present, wanted = open_parquet(name, options)
    if row_groups is not None:
        table = pf.read_row_groups(list(row_groups), columns=present, use_threads=True)
    else:
        check_memory(name, pf.metadata.num_rows)
        subscribers = options.source_name("subscriber_id")
        if options.subscriber_format == "e164" and subscribers in present:
            return _read_parsing(name, pf, present, wanted, subscribers, options)
        table = read_columns(name, pf, present)
    table, blank = drop_blank_rows(table.rename_columns([wanted[c] for c in table.column_names]))
    return RawFile(table, blank=blank)


#: Tasks per reading thread for the dictionary columns (a thread slowed by other work takes fewer;
#: four made the 10M-row log's ten row groups five tasks, measured slower).
TASKS_PER_THREAD = 8


def group_ranges(meta: pq.FileMetaData, tasks: int) -> list[tuple[int, int]]:
    """The row groups cut into at most about ``tasks`` runs of consecutive groups of about equal
    rows (a file of many small row groups is read in a few calls, not one per group)."""
    rows = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    target = max(1, -(-sum(rows) // max(1, tasks)))
    ranges, start, held = [], 0, 0
    for g, r in enumerate(rows):
        held += r
        if held >= target:
            ranges.append((start, g + 1))
            start, held = g + 1, 0
    if start < len(rows):
        ranges.append((start, len(rows)))
    return ranges


class Held:
    """The file of ``name`` as it is now, kept open while in use: a path that opens that very
    file (``/proc/self/fd/N`` on Linux, else the name), each opening with its own file position
    and read-ahead (threads sharing one open file read 0.1-0.2 s slower)."""

    def __init__(self, name: str):
        self.name, self.fd = name, None

    def __enter__(self) -> str:
        try:
            self.fd = os.open(self.name, os.O_RDONLY)
        except OSError:                    # the readers' own error comes from the name
            return self.name
        path = f"/proc/self/fd/{self.fd}"
        return path if os.path.exists(path) else self.name

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def reading_threads() -> int:
    """Threads that read a file's columns: the cores this process may run on (at most 8)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):     # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def read_columns(name: str, pf: pq.ParquetFile, columns: list[str], threads: int | None = None,
                 held: str | None = None) -> pa.Table:
    """The whole file's ``columns`` (source names; those ``pf`` reads dictionary-encoded stay so),
    with the values of one whole read (a plain column in one chunk; a dictionary column a chunk
    per row group, or, where its pages are stored plain, per run of row groups read together),
    read on ``threads`` threads: each plain column whole, the dictionary columns in runs of row
    groups. pyarrow's own threads share a whole read out by column, and the longest column
    decides: 0.79-0.92 s against 0.62-0.68 s here for the 10M-row benchmark log. Every thread
    opens the file that was open when the read began (``held``: a path to it, see :class:`Held`;
    else held here), not the file's name again: a file replaced meanwhile is not read in part."""
    threads = reading_threads() if threads is None else threads
    groups = pf.metadata.num_row_groups
    schema = pf.schema_arrow
    dictionary = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    coded = [c for c in columns if c in dictionary]
    if threads < 2 or groups == 0 or (groups == 1 and len(columns) < 2):
        return pf.read(columns=columns, use_threads=True)
    if held is None:
        with Held(name) as path:
            return read_columns(name, pf, columns, threads, path)
    local = threading.local()

    def own() -> pq.ParquetFile:           # a reader of its own per thread, on the footer read once
        f = getattr(local, "pf", None)
        if f is None:
            f = local.pf = pq.ParquetFile(held, metadata=pf.metadata, read_dictionary=dictionary or None)
        return f

    def whole(c: str):
        return own().read(columns=[c], use_threads=False).column(0)

    def part(first: int, end: int) -> pa.Table:
        return own().read_row_groups(list(range(first, end)), columns=coded, use_threads=False)

    pool = ThreadPoolExecutor(threads, thread_name_prefix="viber-sessions-reader")
    try:                                   # the longest tasks first; errors in the tasks' order
        plain = {c: pool.submit(whole, c) for c in columns if c not in coded}
        parts = [pool.submit(part, *r) for r in group_ranges(pf.metadata, threads * TASKS_PER_THREAD)] if coded else []
        read = {c: f.result() for c, f in plain.items()}
        if coded:
            table = pa.concat_tables([f.result() for f in parts])
            read.update({c: table.column(c) for c in coded})
    finally:                               # after an error or Ctrl-C: the running reads end, no other starts
        pool.shutdown(wait=True, cancel_futures=True)
    return pa.table([read[c] for c in columns], names=columns)


def _read_parsing(name: str, pf: pq.ParquetFile, present: list[str], wanted: dict[str, str], subscribers: str,
                  options: LoadOptions) -> RawFile:
    """The whole file, its subscriber column first: the e164 parses of its row groups'
    dictionaries start on a thread (:class:`~viber_sessions.phones.Normalising`) while the other
    columns are read (the reading lets other threads run); the typing takes them."""
    from .. import phones
    from .chunks import string_dictionaries

    with Held(name) as held:               # one file for both reads (see read_columns)
        dictionary = [f.name for f in pf.schema_arrow if pa.types.is_dictionary(f.type)]
        first = pq.ParquetFile(held, metadata=pf.metadata, read_dictionary=dictionary or None).read(
            columns=[subscribers], use_threads=True).column(0)
        normalising = phones.Normalising(options.default_region, string_dictionaries(first))
        try:
            rest = read_columns(name, pf, [c for c in present if c != subscribers], held=held)
            table = pa.table({wanted[c]: first if c == subscribers else rest.column(c) for c in present})
            table, blank = drop_blank_rows(table)
        except BaseException:
            normalising.close()
            raise
    return RawFile(table, blank=blank, normalising=normalising)


def open_parquet(name: str, options: LoadOptions, plain: tuple[str, ...] = (),
                 metadata: pq.FileMetaData | None = None) -> tuple[pq.ParquetFile, list[str], dict[str, str]]:
    """The file (string columns read dictionary-encoded, but the canonical columns named in
    ``plain``), the source columns to read and their canonical names, after checking its columns
    and the sizes its metadata declares. ``metadata``: the file's footer, already read and
    checked (another reader of the same file: the footer of a file of many row groups takes
    hundreds of megabytes, parsed once)."""
    # ParquetFile, not read_table: the same reader without the datasets layer (which imports
    # pandas: a third of a second per run)
    wanted = {options.source_name(c): c for c in CANONICAL}
    pf = pq.ParquetFile(name, metadata=metadata)
    schema = pf.schema_arrow
    check_columns(name, schema.names, options)
    if metadata is None:
        check_parquet_sizes(name, pf.metadata, os.path.getsize(name))
    present = [src for src in wanted if src in schema.names]
    dictionary = [c for c in parquet_dictionary_columns(schema, wanted) if wanted[c] not in plain]
    pf = pq.ParquetFile(name, metadata=pf.metadata, read_dictionary=dictionary or None)
    return pf, present, wanted


#: A Parquet row group may declare at most this many rows per byte of its column chunks. Real
#: logs take 2 bytes a row or more (a distinct message id and timestamp per row); 32 rows a byte
#: needs delta encodings of perfectly regular synthetic data; a crafted run-length encoding
#: reaches hundreds of millions (a 2 KB file claiming 10^12 rows).
MAX_ROWS_PER_BYTE = 1000
#: Memory a loaded row takes at the least (the in-memory path refuses what cannot fit).
MIN_BYTES_PER_ROW = 40


def check_parquet_sizes(name: str, meta: pq.FileMetaData, file_size: int) -> None:
    """Refuse a file whose metadata declares more than its bytes can hold (before anything is
    allocated): column chunks outside the file, row counts that disagree, or more rows than
    MAX_ROWS_PER_BYTE allows."""
    def bad(message: str):
        raise InputError(Problem(name, None, None, "bad_parquet_metadata",
                                 f"{message}: the file is damaged or crafted"))

    flat = [meta.schema.column(c).max_repetition_level == 0 for c in range(meta.num_columns)]
    total = 0
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        rows, chunk_bytes = rg.num_rows, 0
        if rows < 0:
            bad(f"row group {g} declares {rows} rows")
        for c in range(rg.num_columns):
            col = rg.column(c)
            start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
            size = col.total_compressed_size
            if start is None or start < 0 or size < 0 or start + size > file_size:
                bad(f"row group {g}, column {col.path_in_schema!r} lies outside the file ({file_size} bytes)")
            if c < len(flat) and flat[c] and col.num_values != rows:    # a value (or null) per row
                bad(f"row group {g}, column {col.path_in_schema!r} declares {col.num_values} values "
                    f"for {rows} rows")
            chunk_bytes += size
        if rows > MAX_ROWS_PER_BYTE * max(chunk_bytes, 1) + 1024:
            bad(f"row group {g} declares {rows} rows in {chunk_bytes} bytes")
        total += rows
    if total != meta.num_rows:
        bad(f"the row groups hold {total} rows, the file declares {meta.num_rows}")


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(name: str, rows: int) -> None:
    """Refuse to load more rows than the memory can hold at the very least."""
    avail = available_memory()
    if avail is not None and rows * MIN_BYTES_PER_ROW > avail:
        raise InputError(Problem(name, None, None, "too_large",
                                 f"declares {rows} rows: more than the {avail >> 20} MiB of available memory "
                                 "can hold (bill it with --memory-limit)"))
