"""Split every conversation into sessions (README, "The rules").

All per-message work is array work: duplicate and status flags, conversation codes, the ordering,
the type flags. The one inherently sequential step - where the next session opens depends on
where the previous one closed - is a single compiled pass (numba) over the ordered arrays.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .load import LoadOptions, MessageLog, from_table
from .tariff import Limits, Tariff

# Billing classes of a loaded row (``Segmentation.billing``).
SESSION, OUT_OF_SESSION, DUPLICATE, EXCLUDED = 0, 1, 2, 3
BILLING_NAMES = ("session", "out_of_session", "duplicate", "excluded")
# Reasons (``Segmentation.reason``).
R_NONE, R_NO_SESSION, R_TYPE_NOT_ALLOWED, R_ONE_SIDED, R_DUPLICATE, R_EXCLUDED, R_SESSIONS_DISABLED = range(7)
REASON_NAMES = ("", "no_session", "type_not_allowed", "one_sided", "duplicate", "excluded_status",
                "sessions_disabled")
# Session origins and close reasons.
O_SUBSCRIBER, O_ROLLOVER = 0, 1
ORIGIN_NAMES = ("subscriber", "rollover")
C_OPEN, C_EXPIRED, C_MESSAGE_LIMIT, C_UNANSWERED_LIMIT = range(4)
CLOSE_NAMES = ("open", "expired", "message_limit", "unanswered_limit")


@numba.njit(cache=True, nogil=True)
def _kernel_plans(order, business, subscriber, ts, inbound, mtype, billing, plan_of, can_open_pt, allowed_pt, windows,
                  max_bms, max_uns, close_at_limits, sess, reason, s_row, s_origin, s_close, s_in, s_out
                  ):  # pragma: no cover - compiled
    """The session state machine (README, "The rules"), one pass over the rows in ``order`` (by
    conversation, timestamp, inbound first, input order). Rows whose ``billing`` is already
    DUPLICATE or EXCLUDED take no part. Returns the number of sessions.

    Limits are per business account: ``plan_of[business]`` indexes the per-plan limits
    (``windows``, ``max_bms``, ... and the rows of ``can_open_pt`` and ``allowed_pt``), read
    once per conversation (one plan for all accounts is the common case).

    Per row: ``sess`` (session number or -1) and ``reason`` (R_NONE in a session,
    R_NO_SESSION, R_TYPE_NOT_ALLOWED). Per session: the row that opened it, origin
    (O_SUBSCRIBER, O_ROLLOVER), the limit that closed it (C_OPEN for none, C_MESSAGE_LIMIT,
    C_UNANSWERED_LIMIT) and its inbound and outbound message counts.
    """
    ns = 0
    is_open = False
    cur = -1
    start = np.int64(0)
    bm = 0
    un = 0
    prev_b = -1
    prev_s = -1
    p = 0
    window = windows[0]
    max_bm = max_bms[0]
    max_un = max_uns[0]
    close_at_limit = close_at_limits[0]
    for q in range(order.shape[0]):
        i = order[q]
        if billing[i] >= DUPLICATE:
            continue
        if business[i] != prev_b or subscriber[i] != prev_s:
            is_open = False
            if business[i] != prev_b:
                p = plan_of[business[i]]
                window = windows[p]
                max_bm = max_bms[p]
                max_un = max_uns[p]
                close_at_limit = close_at_limits[p]
            prev_b = business[i]
            prev_s = subscriber[i]
        t = ts[i]
        if is_open and t - start >= window:
            is_open = False
        if not is_open:
            if inbound[i] and can_open_pt[p, mtype[i]]:
                cur = ns
                ns += 1
                s_row[cur] = i
                s_origin[cur] = O_SUBSCRIBER
                s_close[cur] = C_OPEN
                s_in[cur] = 0
                s_out[cur] = 0
                start = t
                bm = 0
                un = 0
                is_open = True
            else:
                sess[i] = -1
                reason[i] = R_NO_SESSION
                continue
        if inbound[i]:
            un = 0
            sess[i] = cur
            reason[i] = R_NONE
            s_in[cur] += 1
        elif not allowed_pt[p, mtype[i]]:
            sess[i] = -1
            reason[i] = R_TYPE_NOT_ALLOWED
        else:
            if bm == max_bm:
                s_close[cur] = C_MESSAGE_LIMIT
                cur = ns
                ns += 1
                s_row[cur] = i
                s_origin[cur] = O_ROLLOVER
                s_close[cur] = C_OPEN
                s_in[cur] = 0
                s_out[cur] = 0
                start = t
                bm = 0
                un = 0
            bm += 1
            un += 1
            sess[i] = cur
            reason[i] = R_NONE
            s_out[cur] += 1
            if un == max_un:
                s_close[cur] = C_UNANSWERED_LIMIT
                is_open = False
            elif close_at_limit and bm == max_bm:
                s_close[cur] = C_MESSAGE_LIMIT
                is_open = False
    return ns


@numba.njit(cache=True, nogil=True)
def _finish(billing, sess, reason, billable):  # pragma: no cover - compiled
    """Per row: out of session (reason given, or one_sided) unless in a billable session."""
    for i in range(billing.shape[0]):
        if billing[i] >= DUPLICATE:
            continue
        k = sess[i]
        if k < 0:
            billing[i] = OUT_OF_SESSION
        elif not billable[k]:
            billing[i] = OUT_OF_SESSION
            reason[i] = R_ONE_SIDED


def run_kernel(order, business, subscriber, ts, inbound, mtype, billing, can_open_t, allowed_t, limits: Limits):
    """The compiled pass under one set of limits; returns per-row (session, reason) and the
    per-session arrays."""
    return _run(order, business, subscriber, ts, inbound, mtype, billing, np.zeros(max(len(business), 1), np.int32),
                (limits,), can_open_t[None, :], allowed_t[None, :])


def run_kernel_plans(order, business, subscriber, ts, inbound, mtype, billing, plans: "PlanLimits",
                     types: list[str]):
    """:func:`run_kernel` with each business account's own limits (``plans``)."""
    can_open = np.array([[t not in l.non_opening_types for t in types] + [False] for l in plans.limits], dtype=bool)
    allowed = np.array([[t in l.session_types for t in types] + [False] for l in plans.limits], dtype=bool)
    return _run(order, business, subscriber, ts, inbound, mtype, billing, plans.of_business, plans.limits, can_open,
                allowed)


def _run(order, business, subscriber, ts, inbound, mtype, billing, plan_of, limits, can_open, allowed):
    n = len(ts)
    active = int(np.count_nonzero(billing < DUPLICATE))
    least = min(l.max_business_messages for l in limits)
    bound = active + 1 if least < 2 else int(np.count_nonzero(inbound)) + active // least + 1
    sess = np.full(n, -1, dtype=np.int64)
    reason = np.zeros(n, dtype=np.int8)
    s_row = np.empty(bound, dtype=np.int64)
    s_origin = np.empty(bound, dtype=np.int8)
    s_close = np.empty(bound, dtype=np.int8)
    s_in = np.empty(bound, dtype=np.int32)
    s_out = np.empty(bound, dtype=np.int32)
    count = _kernel_plans(order, business, subscriber, ts, inbound, mtype, billing, plan_of, can_open, allowed,
                          np.array([l.window_ns for l in limits], dtype=np.int64),
                          np.array([l.max_business_messages for l in limits], dtype=np.int64),
                          np.array([l.max_unanswered for l in limits], dtype=np.int64),
                          np.array([l.after_message_limit == "close" for l in limits], dtype=bool),
                          sess, reason, s_row, s_origin, s_close, s_in, s_out)
    return sess, reason, s_row[:count], s_origin[:count], s_close[:count], s_in[:count], s_out[:count]


@dataclass(frozen=True, eq=False)
class PlanLimits:
    """Each business account's limits and whether it has sessions at all (a tariff's plans
    applied to the accounts of one log)."""

    limits: tuple[Limits, ...]       # the distinct limits; [0] is the top-level tariff's
    of_business: np.ndarray          # int32 per business code: index into ``limits``
    sessions_off: np.ndarray         # bool per business code: ``sessions = false`` in its plan

    @classmethod
    def of(cls, tariff: Tariff, businesses: list[str]) -> "PlanLimits":
        distinct: dict[Limits, int] = {tariff.limits: 0}
        of_business = np.zeros(len(businesses), dtype=np.int32)
        off = np.zeros(len(businesses), dtype=bool)
        for b, name in enumerate(businesses):
            plan = tariff.plan(name)
            of_business[b] = distinct.setdefault(plan.limits, len(distinct))
            off[b] = not plan.sessions
        return cls(limits=tuple(distinct), of_business=of_business, sessions_off=off)

    @property
    def uniform(self) -> bool:
        """One set of limits for every account (the single-limits kernel applies)."""
        return len(self.limits) == 1 or bool((self.of_business == self.of_business[0]).all())

    def window_ns(self) -> np.ndarray:
        """The window (ns) per business code."""
        return np.array([l.window_ns for l in self.limits], dtype=np.int64)[self.of_business]


# Duplicate detection and the processing order are radix partitions: one pass counts rows per
# partition, one scatters them (chunks of the input in order, so each partition keeps the input
# order), then every partition is worked on alone, in cache. With several cores the chunks and
# partitions are shared out as tasks to threads (the compiled helpers release the GIL: no
# ``parallel=True`` compile, nothing that a fork or a caller's own threads could upset); one
# thread runs the same helpers in order. The result is the same whatever the threads: tests hold
# both to a plain reference.

#: Rows below which the kernels stay on one thread (starting threads is not worth it).
PARALLEL_MIN_ROWS = 1 << 16
#: Tasks per thread in each threaded pass (a thread slowed by other work on the machine takes fewer).
_TASKS_PER_THREAD = 4
#: Rows a partition takes on average (its hash table, or its sort buffer, stays in cache).
_PART_ROWS_LOG2 = 12


@numba.njit(inline="always")
def _hash_bytes(data, a, e):  # pragma: no cover - compiled
    """64-bit hash of ``data[a:e]``, eight bytes a step (any hash is exact: equal hashes are
    confirmed byte by byte)."""
    h = np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(e - a)
    b = a
    while b + 8 <= e:
        w = np.uint64(0)
        for k in range(8):
            w |= np.uint64(data[b + k]) << np.uint64(8 * k)
        h = (h ^ w) * np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(32)
        b += 8
    w = np.uint64(0)
    k = 0
    while b < e:
        w |= np.uint64(data[b]) << np.uint64(8 * k)
        b += 1
        k += 1
    h = (h ^ w) * np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    return h ^ (h >> np.uint64(32))


@numba.njit(inline="always")
def _same_bytes(offsets, data, i, r):  # pragma: no cover - compiled
    la = offsets[i + 1] - offsets[i]
    if la != offsets[r + 1] - offsets[r]:
        return False
    a, c = offsets[i], offsets[r]
    for j in range(la):
        if data[a + j] != data[c + j]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _chunk_positions(counts):  # pragma: no cover - compiled
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


@numba.njit(cache=True, nogil=True)
def _hash_count(offsets, data, lo, hi, shift, counts):  # pragma: no cover - compiled
    for i in range(lo, hi):
        counts[np.int64((_hash_bytes(data, offsets[i], offsets[i + 1]) >> np.uint64(1)) >> np.uint64(shift))] += 1


@numba.njit(cache=True, nogil=True)
def _hash_scatter(offsets, data, lo, hi, shift, pos, rows):  # pragma: no cover - compiled
    """Rows ``lo:hi`` to their partitions: (low 32 bits of the hash, row) in one word."""
    for i in range(lo, hi):
        h = _hash_bytes(data, offsets[i], offsets[i + 1])
        p = np.int64((h >> np.uint64(1)) >> np.uint64(shift))
        rows[pos[p]] = (h << np.uint64(32)) | np.uint64(i)
        pos[p] += 1


@numba.njit(cache=True, nogil=True)
def _dedup_parts(offsets, data, rows, starts, part, step, first):  # pragma: no cover - compiled
    """Partitions ``part``, ``part + step``, ...: a row whose string an earlier row of its
    partition holds is not a first occurrence (open addressing on the hash's low 32 bits)."""
    largest = 0
    for p in range(part, starts.shape[0] - 1, step):
        largest = max(largest, starts[p + 1] - starts[p])
    size = 16
    while size < 2 * largest:
        size *= 2
    table = np.empty(size, np.int32)
    low = np.uint64(0xFFFFFFFF)
    for p in range(part, starts.shape[0] - 1, step):
        s = starts[p]
        m = starts[p + 1] - s
        size = 16
        while size < 2 * m:
            size *= 2
        mask = size - 1
        for j in range(size):
            table[j] = 0
        for j in range(m):
            v = rows[s + j]
            tag = v >> np.uint64(32)
            i = np.int64(v & low)
            slot = np.int64(tag) & mask
            while True:
                q = table[slot]
                if q == 0:
                    table[slot] = j + 1
                    break
                w = rows[s + q - 1]
                if (w >> np.uint64(32)) == tag and _same_bytes(offsets, data, i, np.int64(w & low)):
                    first[i] = False
                    break
                slot = (slot + 1) & mask


@numba.njit(cache=True, nogil=True)
def _first_occurrences(offsets, data, part_bits):  # pragma: no cover - compiled
    """True for the first row of each distinct string (Arrow layout: offsets into data): rows
    partitioned by the top ``part_bits`` bits of their hash, each partition deduplicated in
    input order with its own small table; exact (equal hashes are confirmed byte by byte)."""
    n = offsets.shape[0] - 1
    shift = 63 - part_bits
    counts = np.zeros((1, 1 << part_bits), np.int64)
    zero = np.int64(0)              # not a literal 0: the helpers compile once, for this and the threaded calls
    _hash_count(offsets, data, zero, n, shift, counts[0])
    starts = _chunk_positions(counts)
    rows = np.empty(n, np.uint64)
    _hash_scatter(offsets, data, zero, n, shift, counts[0], rows)
    first = np.ones(n, dtype=np.bool_)
    _dedup_parts(offsets, data, rows, starts, zero, np.int64(1), first)
    return first


def _part_bits(n: int) -> int:
    """Partitions (as a power of two) so that each holds about 2**_PART_ROWS_LOG2 rows."""
    return (n >> _PART_ROWS_LOG2).bit_length()


def threads() -> int:
    """Threads the duplicate detection and the ordering may use: numba's setting (the cores, or
    NUMBA_NUM_THREADS), at most the cores this process may run on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):      # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(numba.config.NUMBA_NUM_THREADS, cores))


def _threaded(n: int, serial, chunked, *args):
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


def _bounds(n: int, tasks: int) -> list[tuple[int, int]]:
    step = -(-n // tasks)
    return [(min(n, c * step), min(n, (c + 1) * step)) for c in range(tasks)]


def _each(pool, fn, calls) -> list:
    """``fn(*args)`` for every ``args`` of ``calls`` on the pool's threads: their results."""
    return [future.result() for future in [pool.submit(fn, *args) for args in calls]]


def _first_occurrences_threaded(pool, tasks, offsets, data, part_bits):
    """:func:`_first_occurrences` as ``tasks`` tasks on ``pool`` (the same result)."""
    n = len(offsets) - 1
    shift = 63 - part_bits
    bounds = _bounds(n, tasks)
    counts = np.zeros((tasks, 1 << part_bits), np.int64)
    _each(pool, _hash_count, [(offsets, data, lo, hi, shift, counts[c]) for c, (lo, hi) in enumerate(bounds)])
    starts = _chunk_positions(counts)
    rows = np.empty(n, np.uint64)
    _each(pool, _hash_scatter, [(offsets, data, lo, hi, shift, counts[c], rows) for c, (lo, hi) in enumerate(bounds)])
    first = np.ones(n, dtype=bool)
    _each(pool, _dedup_parts, [(offsets, data, rows, starts, c, tasks, first) for c in range(tasks)])
    return first


#: Set by the command line (its own process only): numba's first compile probes for a BLAS by
#: importing scipy.linalg.cython_blas, a quarter of a second when scipy is installed; these
#: kernels use no BLAS, so the probe is answered "absent" for that moment.
SKIP_BLAS_PROBE = False


_loaded = False


def load_kernels() -> None:
    """Load every compiled kernel once per process (numba's first call costs a fifth of a
    second, mostly its own start-up), answering its BLAS probe when the CLI asks for that.
    Loading on a thread while the input is read was measured: no gain, both hold the GIL."""
    global _loaded
    if _loaded:
        return
    probe = "scipy.linalg.cython_blas"
    hide = SKIP_BLAS_PROBE and probe not in sys.modules and "numba.np.arraymath" not in sys.modules
    if hide:
        sys.modules[probe] = None
    try:
        _call_each_kernel()
    finally:
        if hide and sys.modules.get(probe, 0) is None:
            del sys.modules[probe]
    _loaded = True


def _call_each_kernel() -> None:
    one = np.zeros(1, dtype=np.int64)
    flag = np.zeros(1, dtype=bool)
    codes = np.zeros(1, dtype=np.int32)
    _first_occurrences(np.array([0, 1], dtype=np.int32), np.zeros(1, dtype=np.uint8), 0)
    columns = _readonly(codes, codes, one, flag)           # as conversation_order passes them
    _radix_order(columns[0], columns[1], np.int64(1), columns[2], columns[3], *_radix_plan(*columns[:2], 1, *columns[2:]))
    billing = np.zeros(1, dtype=np.int8)
    sess = np.full(1, -1, dtype=np.int64)
    reason = np.zeros(1, dtype=np.int8)
    _kernel_plans(one, codes, codes, one, flag, codes, billing, codes, flag[None, :], flag[None, :], one, one, one,
                  flag, sess, reason, one.copy(), billing.copy(), billing.copy(), codes.copy(), codes.copy())
    _finish(billing, sess, reason, flag)


def first_occurrences(message_id: pa.Array) -> np.ndarray:
    """True for the first row (in input order) of each message_id."""
    if len(message_id) == 0:
        return np.zeros(0, dtype=bool)
    if isinstance(message_id, pa.ChunkedArray):
        message_id = message_id.combine_chunks()
    if pa.types.is_large_string(message_id.type):
        message_id = message_id.cast(pa.string())
    if message_id.null_count or len(message_id) >= 2 ** 31 - 1:
        codes = pc.dictionary_encode(message_id).indices.to_numpy(zero_copy_only=False)
        # dictionary_encode numbers values in order of first appearance
        seen = np.maximum.accumulate(codes)
        first = np.empty(len(codes), dtype=bool)
        first[0] = True
        first[1:] = codes[1:] > seen[:-1]
        return first
    _, offsets_buf, data_buf = message_id.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=message_id.offset + len(message_id) + 1)
    offsets = offsets[message_id.offset:]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return _threaded(len(offsets) - 1, _first_occurrences, _first_occurrences_threaded, offsets, data,
                     _part_bits(len(offsets) - 1))


@numba.njit(cache=True, nogil=True)
def _key_frame(business, subscriber, n_subscribers, ts):  # pragma: no cover - compiled
    """What one int64 key per row needs: the earliest and latest timestamp, the coarsest whole
    unit of time (1 s, 1 ms, 1 us or 1 ns) every timestamp is a whole number of after the
    earliest, and the least and greatest conversation code."""
    n = ts.shape[0]
    lo = ts[0]
    hi = ts[0]
    c_lo = np.int64(business[0]) * n_subscribers + subscriber[0]
    c_hi = c_lo
    for i in range(n):
        t = ts[i]
        if t < lo:
            lo = t
        if t > hi:
            hi = t
        c = np.int64(business[i]) * n_subscribers + subscriber[i]
        if c < c_lo:
            c_lo = c
        if c > c_hi:
            c_hi = c
    unit = np.int64(1_000_000_000)
    for i in range(n):             # each unit's test with a constant divisor (a multiply, not a division)
        d = ts[i] - lo
        if unit == 1_000_000_000:
            if d % 1_000_000_000 == 0:
                continue
            unit = np.int64(1_000_000)
        if unit == 1_000_000:
            if d % 1_000_000 == 0:
                continue
            unit = np.int64(1000)
        if unit == 1000:
            if d % 1000 == 0:
                continue
            unit = np.int64(1)
        break
    return lo, hi, unit, c_lo, c_hi


@numba.njit(inline="always")
def _whole_units(d, unit):  # pragma: no cover - compiled
    if unit == 1_000_000_000:
        return d // 1_000_000_000
    if unit == 1_000_000:
        return d // 1_000_000
    if unit == 1000:
        return d // 1000
    return d


@numba.njit(cache=True, nogil=True)
def _sort_key(business, subscriber, n_subscribers, ts, inbound):  # pragma: no cover - compiled
    """One int64 key per row: (conversation, time in the coarsest whole unit, outbound), or an
    empty array when that does not fit in 63 bits."""
    n = ts.shape[0]
    lo, hi, unit, c_lo, conv_max = _key_frame(business, subscriber, n_subscribers, ts)
    if hi - lo < 0 or (hi - lo) // unit >= np.int64(2) ** 61:    # the time part alone takes 63 bits
        return np.empty(0, dtype=np.int64)
    span = (hi - lo) // unit * 2 + 2
    if conv_max >= (np.int64(2) ** 62) // span:
        return np.empty(0, dtype=np.int64)
    key = np.empty(n, dtype=np.int64)
    for i in range(n):
        key[i] = ((np.int64(business[i]) * n_subscribers + subscriber[i]) * span
                  + _whole_units(ts[i] - lo, unit) * 2 + (0 if inbound[i] else 1))
    return key


@numba.njit(inline="always")
def _order_key(business, subscriber, n_subscribers, ts, inbound, frame, i):  # pragma: no cover - compiled
    """Row ``i``'s key relative to the least: (conversation, time, outbound) as one integer;
    ``frame`` = (earliest timestamp, unit, span of the time part, least conversation code)."""
    return ((np.int64(business[i]) * n_subscribers + subscriber[i] - frame[3]) * frame[2]
            + _whole_units(ts[i] - frame[0], frame[1]) * 2 + (0 if inbound[i] else 1))


@numba.njit(cache=True, nogil=True)
def _order_count(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, lo, hi,
                 counts):  # pragma: no cover - compiled
    """Rows ``lo:hi`` per bucket (the key's top bits); returns whether their keys never go down,
    and the first and last key."""
    first = last = np.int64(-1)
    ascending = True
    for i in range(lo, hi):
        k = _order_key(business, subscriber, n_subscribers, ts, inbound, frame, i)
        counts[k >> low_bits] += 1
        if i == lo:
            first = k
        elif k < last:
            ascending = False
        last = k
    return ascending, first, last


@numba.njit(cache=True, nogil=True)
def _order_scatter(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, row_bits, lo, hi, pos,
                   out):  # pragma: no cover - compiled
    """Rows ``lo:hi`` to their buckets (the key's top bits): (the key's low bits, row) in one word."""
    low_mask = (np.int64(1) << low_bits) - 1
    for i in range(lo, hi):
        k = _order_key(business, subscriber, n_subscribers, ts, inbound, frame, i)
        b = k >> low_bits
        out[pos[b]] = (np.uint64(k & low_mask) << np.uint64(row_bits)) | np.uint64(i)
        pos[b] += 1


@numba.njit(cache=True, nogil=True)
def _radix_pass(src, s, dst, d, m, shift, digit, count):  # pragma: no cover - compiled
    """One stable counting pass: ``src[s:s+m]`` to ``dst[d:d+m]`` by the ``digit`` bits of each
    word from bit ``shift`` up."""
    mask = np.uint64((1 << digit) - 1)
    sh = np.uint64(shift)
    for r in range(1 << digit):
        count[r] = 0
    for j in range(s, s + m):
        count[np.int64((src[j] >> sh) & mask)] += 1
    total = d
    for r in range(1 << digit):
        c = count[r]
        count[r] = total
        total += c
    for j in range(s, s + m):
        v = src[j]
        r = np.int64((v >> sh) & mask)
        dst[count[r]] = v
        count[r] += 1


@numba.njit(cache=True, nogil=True)
def _order_buckets(out, starts, bucket, step, low_bits, row_bits):  # pragma: no cover - compiled
    """Sort buckets ``bucket``, ``bucket + step``, ... of ``out`` by the key bits of each word
    (a least-significant-digit radix sort, stable, so rows stay in input order within a key;
    an insertion sort when small), then leave only the row numbers."""
    largest = 0
    for b in range(bucket, starts.shape[0] - 1, step):
        largest = max(largest, starts[b + 1] - starts[b])
    tmp = np.empty(largest, np.uint64)
    passes = (low_bits + 10) // 11
    digit = (low_bits + passes - 1) // passes if passes else 0
    count = np.empty(1 << digit, np.int64)
    row_mask = (np.uint64(1) << np.uint64(row_bits)) - np.uint64(1)
    for b in range(bucket, starts.shape[0] - 1, step):
        s = starts[b]
        e = starts[b + 1]
        if e - s <= 32:             # the words are distinct (the row is in them): any sort is stable
            for j in range(s + 1, e):
                v = out[j]
                k = j - 1
                while k >= s and out[k] > v:
                    out[k + 1] = out[k]
                    k -= 1
                out[k + 1] = v
        else:
            for p in range(passes):
                if p % 2 == 0:
                    _radix_pass(out, s, tmp, 0, e - s, row_bits + p * digit, digit, count)
                else:
                    _radix_pass(tmp, 0, out, s, e - s, row_bits + p * digit, digit, count)
            if passes % 2:
                for j in range(e - s):
                    out[s + j] = tmp[j]
        for j in range(s, e):
            out[j] &= row_mask


@numba.njit(cache=True, nogil=True)
def _radix_order(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, row_bits,
                 top_bits):  # pragma: no cover - compiled
    """The processing order by a radix sort of the rows' keys: buckets by the top ``top_bits``
    bits, each bucket sorted by the ``low_bits`` below in cache; ``row_bits`` hold a row number.
    Returns the row numbers as uint64 words (no words: the rows are in order already)."""
    n = ts.shape[0]
    counts = np.zeros((1, 1 << top_bits), np.int64)
    zero = np.int64(0)              # not a literal 0: the helpers compile once, for this and the threaded calls
    ascending, _, _ = _order_count(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, zero, n,
                                   counts[0])
    if ascending:                   # already in order (a log written conversation by conversation)
        return np.empty(0, np.uint64)
    starts = _chunk_positions(counts)
    out = np.empty(n, np.uint64)
    _order_scatter(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, row_bits, zero, n, counts[0],
                   out)
    _order_buckets(out, starts, zero, np.int64(1), low_bits, row_bits)
    return out


def _radix_order_threaded(pool, tasks, business, subscriber, n_subscribers, ts, inbound, frame, low_bits, row_bits,
                          top_bits):
    """:func:`_radix_order` as ``tasks`` tasks on ``pool`` (the same result)."""
    n = len(ts)
    bounds = _bounds(n, tasks)
    counts = np.zeros((tasks, 1 << int(top_bits)), np.int64)
    runs = _each(pool, _order_count, [(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, lo, hi,
                                       counts[c]) for c, (lo, hi) in enumerate(bounds)])
    runs = [r for (lo, hi), r in zip(bounds, runs) if hi > lo]
    if all(r[0] for r in runs) and all(a[2] <= b[1] for a, b in zip(runs, runs[1:])):
        return np.empty(0, np.uint64)
    starts = _chunk_positions(counts)
    out = np.empty(n, np.uint64)
    _each(pool, _order_scatter, [(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, row_bits, lo, hi,
                                  counts[c], out) for c, (lo, hi) in enumerate(bounds)])
    _each(pool, _order_buckets, [(out, starts, c, tasks, low_bits, row_bits) for c in range(tasks)])
    return out


def _readonly(*arrays):
    """Read-only C-contiguous views (no copy when contiguous): the kernels then compile once
    whether a column comes from Arrow (read-only) or from numpy."""
    views = []
    for a in arrays:
        v = np.ascontiguousarray(a).view()
        v.flags.writeable = False
        views.append(v)
    return views


#: At most this many top bits make the buckets of the radix order (2**20 buckets).
_MAX_TOP_BITS = 20


def _radix_plan(business, subscriber, n_subscribers: int, ts, inbound):
    """The arguments of :func:`_radix_order` after ``n_subscribers``, or None when a row's key
    and row number do not fit in one 64-bit word even with the widest buckets."""
    n = len(ts)
    lo, hi, unit, c_lo, c_hi = _key_frame(business, subscriber, np.int64(n_subscribers), ts)
    if int(hi) - int(lo) >= 2**63:   # time differences wrap in int64 (and so did the unit's test)
        return None
    span = (int(hi) - int(lo)) // int(unit) * 2 + 2
    key_bits = ((int(c_hi) - int(c_lo) + 1) * span - 1).bit_length()
    if key_bits > 62:
        return None
    row_bits = max(1, (n - 1).bit_length())
    top_bits = min(key_bits, max(key_bits + row_bits - 64, _part_bits(n)))
    if top_bits > _MAX_TOP_BITS:
        return None
    frame = np.array([lo, unit, span, c_lo], dtype=np.int64)
    return frame, np.int64(key_bits - top_bits), np.int64(row_bits), np.int64(top_bits)


def conversation_order(business: np.ndarray, subscriber: np.ndarray, n_subscribers: int,
                       ts: np.ndarray, inbound: np.ndarray) -> np.ndarray:
    """The processing order: by conversation, timestamp, inbound before outbound, then input
    order. A radix sort of one key per row when (conversation, time, direction) and the row
    number fit in 64 bits (:func:`_radix_order`), else a stable argsort of the key when it fits
    in 63 bits, else a lexsort of the three."""
    if len(ts) == 0:
        return np.zeros(0, dtype=np.int64)
    nsub = np.int64(max(n_subscribers, 1))
    business, subscriber, ts, inbound = _readonly(business, subscriber, ts, inbound)
    plan = _radix_plan(business, subscriber, nsub, ts, inbound)
    if plan is not None:
        words = _threaded(len(ts), _radix_order, _radix_order_threaded, business, subscriber, nsub, ts, inbound,
                          *plan)
        return words.view(np.int64) if len(words) else np.arange(len(ts), dtype=np.int64)
    key = _sort_key(business, subscriber, nsub, ts, inbound)
    if len(key):
        return np.argsort(key, kind="stable")
    conv = business.astype(np.int64) * max(n_subscribers, 1) + subscriber
    return np.lexsort(((~inbound).astype(np.int8), ts, conv))


def id_part(names: pa.Array) -> pa.Array:
    """Identifiers as parts of a session id: ``%`` -> ``%25`` and ``/`` -> ``%2F`` (nothing else
    changes, so ordinary ids read as written)."""
    if not len(names):
        return names
    return pc.replace_substring(pc.replace_substring(names, "%", "%25"), "/", "%2F")


@dataclass(eq=False)
class Segmentation:
    """The per-message assignment and the sessions, aligned with the :class:`MessageLog` rows."""

    log: MessageLog
    limits: Limits       # every account's limits; with per-account limits, the top-level tariff's (see limits_of)
    billing: np.ndarray
    reason: np.ndarray
    session: np.ndarray
    # sessions, one entry each, ordered by conversation and start
    s_business: np.ndarray
    s_subscriber: np.ndarray
    s_start: np.ndarray
    s_origin: np.ndarray
    s_close: np.ndarray
    s_inbound: np.ndarray
    s_outbound: np.ndarray
    s_billable: np.ndarray
    s_first: np.ndarray  # loaded-row index of the message that opened the session
    data_end: int        # latest timestamp of all loaded data (ns), for "open" vs "expired"
    plan: Tariff | None = None          # the tariff whose plans gave each account its limits (None: ``limits``)
    plans: PlanLimits | None = None     # each account's limits (None: ``limits`` for every account)
    _countries: np.ndarray | None = None    # region index per subscriber code, -1: not looked up yet

    @property
    def n_sessions(self) -> int:
        return len(self.s_start)

    @property
    def s_expires(self) -> np.ndarray:
        if self.plans is None or self.plans.uniform:
            return self.s_start + self.limits.window_ns
        return self.s_start + self.plans.window_ns()[self.s_business]

    def limits_of(self, business: int) -> Limits:
        """The limits the sessions of business code ``business`` were computed with."""
        if self.plans is None:
            return self.limits
        return self.plans.limits[self.plans.of_business[business]]

    def countries(self, subscribers: np.ndarray) -> np.ndarray:
        """Region index (:func:`viber_sessions.countries.region_names`) of each subscriber code in
        ``subscribers``; each distinct subscriber is looked up once per segmentation."""
        from .countries import classify

        if self._countries is None:
            self._countries = np.full(len(self.log.subscribers), -1, dtype=np.int16)
        if not (self._countries[subscribers] < 0).any():
            return self._countries[subscribers]
        need = np.zeros(len(self._countries), dtype=bool)
        need[subscribers] = True
        todo = np.flatnonzero(need & (self._countries < 0))
        if len(todo):
            self._countries[todo] = classify(self.log.subscribers.take(pa.array(todo)))
        return self._countries[subscribers]

    def session_ids(self) -> pa.Array:
        """Deterministic ids: ``business/subscriber/YYYYMMDDTHHMMSSZ`` (``-2``, ``-3`` ... when
        two sessions of a conversation start at the same instant). A ``%`` or ``/`` inside an id
        is written ``%25`` / ``%2F``, so ``a/b`` + ``c`` and ``a`` + ``b/c`` never meet."""
        if self.n_sessions == 0:
            return pa.array([], pa.string())
        start = pa.array(self.s_start, pa.timestamp("ns", tz="UTC"))
        stamp = pc.strftime(start.cast(pa.timestamp("s", tz="UTC"), safe=False), "%Y%m%dT%H%M%S")
        frac = self.s_start % 1_000_000_000
        if frac.any():
            detailed = pc.utf8_rtrim(pc.utf8_rtrim(pc.strftime(start, "%Y%m%dT%H%M%S"), "0"), ".")
            stamp = pc.if_else(pa.array(frac != 0), detailed, stamp)
        same = np.zeros(self.n_sessions, dtype=bool)
        same[1:] = ((self.s_business[1:] == self.s_business[:-1]) & (self.s_subscriber[1:] == self.s_subscriber[:-1])
                    & (self.s_start[1:] == self.s_start[:-1]))
        # k = position in a run of equal starts (0 for the first)
        run_start = np.flatnonzero(~same)
        k = np.arange(self.n_sessions) - np.repeat(run_start, np.diff(np.append(run_start, self.n_sessions)))
        suffix = pa.array(np.where(k > 0, np.char.add("-", (k + 1).astype(str)), ""), pa.string())
        ids = pc.binary_join_element_wise(
            id_part(self.log.businesses).take(pa.array(self.s_business)),
            id_part(self.log.subscribers).take(pa.array(self.s_subscriber)),
            pc.binary_join_element_wise(stamp, "Z", ""), "/")
        return pc.binary_join_element_wise(ids, suffix, "")

    def assignment(self) -> pa.Table:
        """One row per input row, in input order: session_id, billing and reason (the
        ``--messages-out`` table)."""
        from .tables import messages_table
        return messages_table(self)

    def sessions(self, tz: str = "UTC") -> pa.Table:
        """One row per session (the ``--sessions-out`` table); ``tz`` decides billed_period."""
        from .tables import sessions_table
        return sessions_table(self, tz)


def segment(messages, limits: Limits | Tariff | None = None, options: LoadOptions | None = None,
            duplicates: np.ndarray | None = None, data_end: int | None = None) -> Segmentation:
    """Sessions of every conversation of ``messages`` (a :class:`MessageLog`, or a pandas /
    pyarrow table with the canonical columns) under ``limits``: one :class:`Limits` for every
    account, or a :class:`Tariff`, whose plans give each account its own limits (an account
    override's ``[limits]``) and may turn its sessions off (``sessions = false``: every message
    of the account is out of session, reason ``sessions_disabled``).

    When ``messages`` is one part of a larger log (a bucket of whole conversations),
    ``duplicates`` marks its rows that repeat a message id seen earlier anywhere in the log,
    and ``data_end`` is the latest timestamp of the whole log.
    """
    tariff = limits if isinstance(limits, Tariff) else None
    limits = tariff.limits if tariff is not None else (limits or Limits())
    log = messages if isinstance(messages, MessageLog) else from_table(messages, options)
    load_kernels()
    n = len(log)
    billing = np.full(n, SESSION, dtype=np.int8)
    reason = np.zeros(n, dtype=np.int8)
    plans = None
    if tariff is not None and (tariff.accounts or not tariff.sessions):
        plans = PlanLimits.of(tariff, log.businesses.to_pylist())

    first = first_occurrences(log.message_id) if duplicates is None else ~duplicates
    billing[~first] = DUPLICATE
    reason[~first] = R_DUPLICATE
    if log.status is not None and log.statuses:
        if plans is None or len(plans.limits) == 1:
            unbilled = np.array([s in limits.unbilled_statuses for s in log.statuses] + [False], dtype=bool)
            excluded = unbilled[log.status] & first          # status -1 (none) picks the last entry: False
        else:
            unbilled = np.array([[s in l.unbilled_statuses for s in log.statuses] + [False] for l in plans.limits],
                                dtype=bool)
            excluded = unbilled[plans.of_business[log.business], log.status] & first
        billing[excluded] = EXCLUDED
        reason[excluded] = R_EXCLUDED
    off = None
    if plans is not None and plans.sessions_off.any():
        off = plans.sessions_off[log.business] & (billing == SESSION)
        billing[off] = EXCLUDED                              # the kernel skips them; billed per message below

    if data_end is None:
        data_end = int(log.timestamp.max()) if n else 0
    order = conversation_order(log.business, log.subscriber, len(log.subscribers), log.timestamp, log.inbound)
    types = log.message_types
    if plans is None or plans.uniform:
        one = limits if plans is None or not len(plans.of_business) else plans.limits[plans.of_business[0]]
        can_open_t = np.array([t not in one.non_opening_types for t in types] + [False], dtype=bool)
        allowed_t = np.array([t in one.session_types for t in types] + [False], dtype=bool)
        session, reason_k, s_row, s_origin, s_close, s_in, s_out = run_kernel(
            order, log.business, log.subscriber, log.timestamp, log.inbound, log.mtype, billing, can_open_t,
            allowed_t, one)
        window = np.int64(one.window_ns)
        limits = one
    else:
        session, reason_k, s_row, s_origin, s_close, s_in, s_out = run_kernel_plans(
            order, log.business, log.subscriber, log.timestamp, log.inbound, log.mtype, billing, plans, types)
        window = plans.window_ns()[log.business[s_row]]
    inactive = billing >= DUPLICATE
    reason_k[inactive] = reason[inactive]
    reason = reason_k
    s_start = log.timestamp[s_row]
    unclosed = s_close == 0
    ends = s_start + window
    s_close[unclosed] = np.where(ends[unclosed] <= data_end, C_EXPIRED, C_OPEN)
    billable = (s_in > 0) & (s_out > 0)
    _finish(billing, session, reason, billable)
    if off is not None:
        billing[off] = OUT_OF_SESSION
        reason[off] = R_SESSIONS_DISABLED
    s_first = s_row
    return Segmentation(
        log=log, limits=limits, billing=billing, reason=reason, session=session,
        s_business=log.business[s_first], s_subscriber=log.subscriber[s_first], s_start=s_start,
        s_origin=s_origin, s_close=s_close, s_inbound=s_in, s_outbound=s_out, s_billable=billable,
        s_first=s_first, data_end=data_end, plan=tariff, plans=plans)
