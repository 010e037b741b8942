"""The compiled pass of :mod:`viber_sessions.tally`: every per-row count of a period in one pass
over the rows, into dense tables (numba; imported when first counted, see
:func:`viber_sessions.segment.preload_kernels`)."""

from __future__ import annotations

import numba
import numpy as np

from .compiling import guard
from .segment.codes import BEFORE_CUT, OUT_OF_SESSION, R_TYPE_NOT_ALLOWED, SESSION
from .segment.parallel import readonly, threads

guard()        # numba compiles here: no cycle collection meanwhile (viber_sessions.compiling)


@numba.njit(inline="always")
def _period_of(edges, t):  # pragma: no cover - compiled
    """The period holding ``t`` (``edges``: start, end, start, end, ... sorted), -1 for none."""
    lo = 0
    hi = edges.shape[0]
    while lo < hi:                  # the first edge after t
        mid = (lo + hi) // 2
        if edges[mid] <= t:
            lo = mid + 1
        else:
            hi = mid
    return (lo - 1) // 2 if lo % 2 == 1 else -1


@numba.njit(cache=True, nogil=True)
def needed_subscribers(ts, business, subscriber, billing, edges, keep, need):  # pragma: no cover - compiled
    """Marks the subscribers of the out-of-session rows counted in a period (their countries are looked up)."""
    for i in range(ts.shape[0]):
        if billing[i] == OUT_OF_SESSION and keep[business[i]] and _period_of(edges, ts[i]) >= 0:
            need[subscriber[i]] = True


@numba.njit(cache=True, nogil=True)
def _count_rows(ts, business, subscriber, inbound, mtype, billing, reason, edges, keep, region_of, present,
                in_session, lines, not_allowed, outbound, classes, span):  # pragma: no cover - compiled
    """Every per-row count of :func:`tally_periods` in one pass, into dense tables: ``present``
    and ``in_session`` [period, business], ``lines`` [period, business, outbound, type, region],
    ``not_allowed`` [period, business, type], ``outbound`` [business, type], ``classes`` [billing
    class] (every row); ``span`` gets the least and greatest timestamp."""
    by_region = region_of.shape[0] > 1
    for i in range(ts.shape[0]):
        t = ts[i]
        if t < span[0]:
            span[0] = t
        if t > span[1]:
            span[1] = t
        b = business[i]
        c = billing[i]
        classes[c] += 1
        k = _period_of(edges, t)
        if k >= 0:
            present[k, b] = True
        if not keep[b]:
            continue
        active = c == SESSION or c == OUT_OF_SESSION
        if active and not inbound[i]:
            outbound[b, mtype[i]] += 1
        if k < 0:
            continue
        if c == SESSION:
            in_session[k, b] += 1
        elif c == OUT_OF_SESSION:
            lines[k, b, 0 if inbound[i] else 1, mtype[i], region_of[subscriber[i]] if by_region else 0] += 1
        if reason[i] == R_TYPE_NOT_ALLOWED:
            not_allowed[k, b, mtype[i]] += 1


#: Billing classes (SESSION ... BEFORE_CUT): the length of ``classes``.
CLASSES = BEFORE_CUT + 1

#: Rows from which :func:`count_rows` counts two halves on two threads.
TWO_HALVES_MIN_ROWS = 1 << 20


def count_rows(ts, business, subscriber, inbound, mtype, billing, reason, edges, keep, region_of, present, in_session,
               lines, not_allowed, outbound, classes, span) -> None:
    """:func:`_count_rows` with its inputs as read-only views (one compiled signature). A large
    log is counted in two halves on two threads (the pass releases the GIL), each into its own
    tables, which are then added up: the same counts."""
    rows = readonly(ts, business, subscriber, inbound, mtype, billing, reason)
    shared = readonly(edges, keep, region_of)
    tables = (present, in_session, lines, not_allowed, outbound, classes, span)
    n = len(ts)
    if n < TWO_HALVES_MIN_ROWS or threads() < 2:
        _count_rows(*rows, *shared, *tables)
        return
    from concurrent.futures import ThreadPoolExecutor

    other = tuple(np.zeros_like(t) for t in tables[:-1]) + (span.copy(),)
    half = n // 2
    with ThreadPoolExecutor(2, thread_name_prefix="viber-sessions") as pool:
        low = pool.submit(_count_rows, *(r[:half] for r in rows), *shared, *tables)
        high = pool.submit(_count_rows, *(r[half:] for r in rows), *shared, *other)
        low.result(), high.result()
    present |= other[0]
    for mine, theirs in zip(tables[1:6], other[1:6]):
        mine += theirs
    span[0] = min(span[0], other[6][0])
    span[1] = max(span[1], other[6][1])


def warm() -> None:
    """Call :func:`_count_rows` once on empty tables (numba loads it from its cache): its
    inputs are read-only views, so every run has this one signature."""
    one = np.zeros(1, np.int64)
    codes = np.zeros(1, np.int32)
    small = np.zeros(1, np.int8)
    flag = np.zeros(1, dtype=bool)
    _count_rows(*readonly(one, codes, codes, flag, codes, small, small, one, flag, np.zeros(1, np.int16)),
                np.zeros((1, 1), bool), np.zeros((1, 1), np.int64), np.zeros((1, 1, 2, 1, 1), np.int64),
                np.zeros((1, 1, 1), np.int64), np.zeros((1, 1), np.int64), np.zeros(CLASSES, np.int64), one.copy())
