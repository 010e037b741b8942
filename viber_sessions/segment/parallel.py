"""What the threaded kernels share: how many threads, the tasks, the partition counts.

Duplicate detection and the processing order are radix partitions: one pass counts rows per
partition, one scatters them (chunks of the input in order, so each partition keeps the input
order), then every partition is worked on alone, in cache. With several cores the chunks and
partitions are shared out as tasks to threads (the compiled helpers release the GIL: no
``parallel=True`` compile, nothing that a fork or a caller's own threads could upset); one
thread runs the same helpers in order. The result is the same whatever the threads: tests hold
both to a plain reference.
"""

from __future__ import annotations

import os

import numpy as np

from .jit import compiled, interpreting

#: Rows below which the kernels stay on one thread (starting threads is not worth it).
PARALLEL_MIN_ROWS = 1 << 16
#: Tasks per thread in each threaded pass (a thread slowed by other work on the machine takes fewer).
_TASKS_PER_THREAD = 4
#: Rows a partition takes on average (its hash table, or its sort buffer, stays in cache).
_PART_ROWS_LOG2 = 12


@compiled(cache=True, nogil=True)
def chunk_positions(counts):  # pragma: no cover - compiled
    """``counts[chunk, part]`` (rows of each input chunk per partition) becomes where each chunk
    writes its first row of each partition (partition by partition, chunks in input order);
    returns the partition starts (one more entry: the end)."""
    chunks, parts = counts.shape
    starts = np.empty(parts + 1, np.int64)
    total = 0
    for p in range(parts):
        starts[p] = total
        for c in range(chunks):
            k = counts[c, p]
            counts[c, p] = total
            total += k
    starts[parts] = total
    return starts



def part_bits(n: int, rows_log2: int = _PART_ROWS_LOG2) -> int:
    """Partitions (as a power of two) so that each holds about 2**rows_log2 rows."""
    return (n >> rows_log2).bit_length()


def threads() -> int:
    """Threads the compiled passes may use (the duplicate detection, the ordering, the passes
    over row ranges): numba's setting (the cores, or NUMBA_NUM_THREADS), at most the cores this
    process may run on; one while the kernels run as Python (:func:`~.jit.interpreted`)."""
    if interpreting():
        return 1
    import numba

    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):      # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(numba.config.NUMBA_NUM_THREADS, cores))


def threaded(n: int, serial, chunked, *args):
    """``chunked(pool, tasks, *args)`` on a pool of threads when the rows and the cores make it
    pay, else ``serial(*args)`` (the same result)."""
    k = threads() if n >= PARALLEL_MIN_ROWS else 1
    if k < 2:
        return serial(*args)
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(k, thread_name_prefix="viber-sessions")
    try:
        return chunked(pool, k * _TASKS_PER_THREAD, *args)
    finally:                        # after Ctrl-C: the running tasks end, the queued ones never start
        pool.shutdown(wait=True, cancel_futures=True)


def over_rows(n: int, fn, *args) -> None:
    """``fn(*args, lo, hi)`` for row ranges covering ``[0, n)``: a compiled pass whose rows are
    independent, on a pool of threads when the rows and the cores make it pay, else once."""
    k = threads() if n >= PARALLEL_MIN_ROWS else 1
    if k < 2:
        fn(*args, np.int64(0), np.int64(n))
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(k, thread_name_prefix="viber-sessions")
    try:
        each(pool, fn, [(*args, np.int64(lo), np.int64(hi)) for lo, hi in bounds(n, k * _TASKS_PER_THREAD)])
    finally:                        # after Ctrl-C: the running tasks end, the queued ones never start
        pool.shutdown(wait=True, cancel_futures=True)


def bounds(n: int, tasks: int) -> list[tuple[int, int]]:
    step = -(-n // tasks)
    return [(min(n, c * step), min(n, (c + 1) * step)) for c in range(tasks)]


def each(pool, fn, calls) -> list:
    """``fn(*args)`` for every ``args`` of ``calls`` on the pool's threads: their results."""
    return [future.result() for future in [pool.submit(fn, *args) for args in calls]]



def readonly(*arrays):
    """Read-only C-contiguous views (no copy when contiguous): the kernels then compile once
    whether a column comes from Arrow (read-only) or from numpy."""
    views = []
    for a in arrays:
        v = np.ascontiguousarray(a).view()
        v.flags.writeable = False
        views.append(v)
    return views

