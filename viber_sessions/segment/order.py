"""The processing order: by conversation, timestamp, inbound before outbound, then input order
(a radix sort of one 64-bit word per row, threaded when the rows make it pay)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import parallel
from .jit import compiled
from .parallel import chunk_positions


@compiled(cache=True, nogil=True)
def _key_bounds(business, subscriber, n_subscribers, ts, first, end):  # pragma: no cover - compiled
    """Rows ``first:end`` (at least one): the earliest and latest timestamp, the least and
    greatest conversation code."""
    lo = hi = ts[first]
    c_lo = c_hi = np.int64(business[first]) * n_subscribers + subscriber[first]
    for i in range(first, end):
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
    return lo, hi, c_lo, c_hi


@compiled(cache=True, nogil=True)
def _key_unit(ts, lo, first, end):  # pragma: no cover - compiled
    """The coarsest whole unit of time (1 s, 1 ms, 1 us or 1 ns) that each timestamp of rows
    ``first:end`` is a whole number of after ``lo`` (each unit's test with a constant divisor:
    a multiply, not a division)."""
    unit = np.int64(1_000_000_000)
    for i in range(first, end):
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
    return unit


@compiled(cache=True, nogil=True)
def _key_frame(business, subscriber, n_subscribers, ts):  # pragma: no cover - compiled
    """What one int64 key per row needs: the earliest and latest timestamp, the coarsest whole
    unit of time every timestamp is a whole number of after the earliest, and the least and
    greatest conversation code."""
    zero, n = np.int64(0), np.int64(ts.shape[0])
    lo, hi, c_lo, c_hi = _key_bounds(business, subscriber, n_subscribers, ts, zero, n)
    return lo, hi, _key_unit(ts, lo, zero, n), c_lo, c_hi


def _key_frame_threaded(pool, tasks, business, subscriber, n_subscribers, ts):
    """:func:`_key_frame` as ``tasks`` tasks on ``pool`` (the same result: the units are each a
    multiple of the next, so the coarsest unit of all rows is the finest of the parts')."""
    ranges = [(np.int64(lo), np.int64(hi)) for lo, hi in parallel.bounds(len(ts), tasks) if hi > lo]
    parts = parallel.each(pool, _key_bounds, [(business, subscriber, n_subscribers, ts, lo, hi) for lo, hi in ranges])
    lo = min(p[0] for p in parts)
    units = parallel.each(pool, _key_unit, [(ts, lo, first, end) for first, end in ranges])
    return lo, max(p[1] for p in parts), min(units), min(p[2] for p in parts), max(p[3] for p in parts)


@compiled(inline="always")
def _whole_units(d, unit):  # pragma: no cover - compiled
    if unit == 1_000_000_000:
        return d // 1_000_000_000
    if unit == 1_000_000:
        return d // 1_000_000
    if unit == 1000:
        return d // 1000
    return d


@compiled(cache=True, nogil=True)
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


@compiled(inline="always")
def _order_key(business, subscriber, n_subscribers, ts, inbound, frame, i):  # pragma: no cover - compiled
    """Row ``i``'s key relative to the least: (conversation, time, outbound) as one integer;
    ``frame`` = (earliest timestamp, unit, span of the time part, least conversation code)."""
    return ((np.int64(business[i]) * n_subscribers + subscriber[i] - frame[3]) * frame[2]
            + _whole_units(ts[i] - frame[0], frame[1]) * 2 + (0 if inbound[i] else 1))


@compiled(cache=True, nogil=True)
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


@compiled(cache=True, nogil=True)
def _order_scatter(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, row_bits, lo, hi, pos,
                   out):  # pragma: no cover - compiled
    """Rows ``lo:hi`` to their buckets (the key's top bits): (the key's low bits, row) in one word."""
    low_mask = (np.int64(1) << low_bits) - 1
    for i in range(lo, hi):
        k = _order_key(business, subscriber, n_subscribers, ts, inbound, frame, i)
        b = k >> low_bits
        out[pos[b]] = (np.uint64(k & low_mask) << np.uint64(row_bits)) | np.uint64(i)
        pos[b] += 1


@compiled(cache=True, nogil=True)
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


@compiled(cache=True, nogil=True)
def _order_buckets(out, starts, bucket, step, low_bits, row_bits, keep_keys):  # pragma: no cover - compiled
    """Sort buckets ``bucket``, ``bucket + step``, ... of ``out`` by the key bits of each word
    (a least-significant-digit radix sort, stable, so rows stay in input order within a key;
    an insertion sort when small), then leave only the row numbers (unless ``keep_keys``)."""
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
        if not keep_keys:
            for j in range(s, e):
                out[j] &= row_mask


@compiled(cache=True, nogil=True)
def _radix_order(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, row_bits,
                 top_bits, keep_keys):  # pragma: no cover - compiled
    """The processing order by a radix sort of the rows' keys: buckets by the top ``top_bits``
    bits, each bucket sorted by the ``low_bits`` below in cache; ``row_bits`` hold a row number.
    Returns the row numbers as uint64 words (with ``keep_keys``: each word also holds its key's
    low bits above the row) and the bucket starts; no words: the rows are in order already."""
    n = ts.shape[0]
    counts = np.zeros((1, 1 << top_bits), np.int64)
    zero = np.int64(0)              # not a literal 0: the helpers compile once, for this and the threaded calls
    ascending, _, _ = _order_count(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, zero, n,
                                   counts[0])
    if ascending:                   # already in order (a log written conversation by conversation)
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    starts = chunk_positions(counts)
    out = np.empty(n, np.uint64)
    _order_scatter(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, row_bits, zero, n, counts[0],
                   out)
    _order_buckets(out, starts, zero, np.int64(1), low_bits, row_bits, keep_keys)
    return out, starts


def _radix_order_threaded(pool, tasks, business, subscriber, n_subscribers, ts, inbound, frame, low_bits, row_bits,
                          top_bits, keep_keys):
    """:func:`_radix_order` as ``tasks`` tasks on ``pool`` (the same result)."""
    n = len(ts)
    bounds = parallel.bounds(n, tasks)
    counts = np.zeros((tasks, 1 << int(top_bits)), np.int64)
    runs = parallel.each(pool, _order_count, [(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, lo, hi,
                                       counts[c]) for c, (lo, hi) in enumerate(bounds)])
    runs = [r for (lo, hi), r in zip(bounds, runs) if hi > lo]
    if all(r[0] for r in runs) and all(a[2] <= b[1] for a, b in zip(runs, runs[1:])):
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    starts = chunk_positions(counts)
    out = np.empty(n, np.uint64)
    parallel.each(pool, _order_scatter, [(business, subscriber, n_subscribers, ts, inbound, frame, low_bits, row_bits, lo, hi,
                                  counts[c], out) for c, (lo, hi) in enumerate(bounds)])
    parallel.each(pool, _order_buckets, [(out, starts, c, tasks, low_bits, row_bits, keep_keys)
                                         for c in range(tasks)])
    return out, starts



#: At most this many top bits make the buckets of the radix order (2**20 buckets).
_MAX_TOP_BITS = 20


def _radix_plan(business, subscriber, n_subscribers: int, ts, inbound):
    """The arguments of :func:`_radix_order` after ``n_subscribers``, or None when a row's key
    and row number do not fit in one 64-bit word even with the widest buckets."""
    n = len(ts)
    lo, hi, unit, c_lo, c_hi = parallel.threaded(n, _key_frame, _key_frame_threaded, business, subscriber,
                                                 np.int64(n_subscribers), ts)
    if int(hi) - int(lo) >= 2**63:   # time differences wrap in int64 (and so did the unit's test)
        return None
    span = (int(hi) - int(lo)) // int(unit) * 2 + 2
    key_bits = ((int(c_hi) - int(c_lo) + 1) * span - 1).bit_length()
    if key_bits > 62:
        return None
    row_bits = max(1, (n - 1).bit_length())
    top_bits = min(key_bits, max(key_bits + row_bits - 64, parallel.part_bits(n)))
    if top_bits > _MAX_TOP_BITS:
        return None
    frame = np.array([lo, unit, span, c_lo], dtype=np.int64)
    return frame, np.int64(key_bits - top_bits), np.int64(row_bits), np.int64(top_bits)


@dataclass(frozen=True, eq=False)
class OrderKeys:
    """The processing order with each row's key (:func:`conversation_keys`): ``words[q]`` holds
    the row at position ``q`` (its low ``row_bits``) and the low ``low_bits`` bits of its key
    above it; the key's top bits are its bucket (``starts``: where each bucket begins, and the
    end). A key is (conversation code - ``frame[3]``) * ``frame[2]`` + whole units of
    ``frame[1]`` ns after ``frame[0]`` * 2 + outbound, so it gives back the row's conversation
    code, exact timestamp and direction without reading them."""

    words: np.ndarray          # int64
    starts: np.ndarray         # int64
    frame: np.ndarray          # int64: earliest timestamp, unit, span of the time part, least conversation code
    low_bits: int
    row_bits: int

    def rows(self) -> np.ndarray:
        """The processing order (as :func:`conversation_order`)."""
        return self.words & np.int64((1 << self.row_bits) - 1)


def conversation_keys(business: np.ndarray, subscriber: np.ndarray, n_subscribers: int,
                      ts: np.ndarray, inbound: np.ndarray) -> OrderKeys | None:
    """The processing order of :func:`conversation_order` with each row's key kept, when the
    radix sort applies and the rows are not in order already (else None)."""
    if len(ts) == 0:
        return None
    nsub = np.int64(max(n_subscribers, 1))
    business, subscriber, ts, inbound = parallel.readonly(business, subscriber, ts, inbound)
    plan = _radix_plan(business, subscriber, nsub, ts, inbound)
    if plan is None:
        return None
    words, starts = parallel.threaded(len(ts), _radix_order, _radix_order_threaded, business, subscriber, nsub, ts,
                                      inbound, *plan, True)
    if not len(words):
        return None
    return OrderKeys(words=words.view(np.int64), starts=starts, frame=plan[0], low_bits=int(plan[1]),
                     row_bits=int(plan[2]))


def conversation_order(business: np.ndarray, subscriber: np.ndarray, n_subscribers: int,
                       ts: np.ndarray, inbound: np.ndarray) -> np.ndarray:
    """The processing order: by conversation, timestamp, inbound before outbound, then input
    order. A radix sort of one key per row when (conversation, time, direction) and the row
    number fit in 64 bits (:func:`_radix_order`), else a stable argsort of the key when it fits
    in 63 bits, else a lexsort of the three."""
    if len(ts) == 0:
        return np.zeros(0, dtype=np.int64)
    nsub = np.int64(max(n_subscribers, 1))
    business, subscriber, ts, inbound = parallel.readonly(business, subscriber, ts, inbound)
    plan = _radix_plan(business, subscriber, nsub, ts, inbound)
    if plan is not None:
        words, _ = parallel.threaded(len(ts), _radix_order, _radix_order_threaded, business, subscriber, nsub, ts,
                                     inbound, *plan, False)
        return words.view(np.int64) if len(words) else np.arange(len(ts), dtype=np.int64)
    key = _sort_key(business, subscriber, nsub, ts, inbound)
    if len(key):
        return np.argsort(key, kind="stable")
    conv = business.astype(np.int64) * max(n_subscribers, 1) + subscriber
    return np.lexsort(((~inbound).astype(np.int8), ts, conv))



def warm() -> None:
    """Call each compiled function of this module once (numba loads it from its cache), with
    arguments typed as :func:`conversation_order` passes them."""
    one = np.zeros(1, dtype=np.int64)
    flag = np.zeros(1, dtype=bool)
    codes = np.zeros(1, dtype=np.int32)
    columns = parallel.readonly(codes, codes, one, flag)
    _radix_order(columns[0], columns[1], np.int64(1), columns[2], columns[3], *_radix_plan(*columns[:2], 1, *columns[2:]),
                 False)
    zero, one_row = np.int64(0), np.int64(1)
    _key_bounds(columns[0], columns[1], one_row, columns[2], zero, one_row)
    _key_unit(columns[2], one[0], zero, one_row)
    # the threaded order's helpers, called from Python: two rows out of order reach each of them
    two = parallel.readonly(np.zeros(2, np.int32), np.array([1, 0], np.int32), np.zeros(2, np.int64),
                            np.zeros(2, dtype=bool))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        _radix_order_threaded(pool, 1, two[0], two[1], np.int64(2), two[2], two[3], *_radix_plan(*two[:2], 2, *two[2:]),
                              True)
