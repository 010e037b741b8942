"""The report's counting passes, compiled: each is one loop over the rows (or the sessions) with
no full-length temporaries and the GIL released (the chart helpers draw meanwhile). Counts and
amounts are exact integers (amounts in units of the tariff's last decimal). ``tests/test_report.py``
holds each to a plain numpy reference.
"""

from __future__ import annotations

import numba
import numpy as np

from ..compiling import guard
from ..segment.parallel import readonly
from .tally import DAY_NS, HOUR_NS  # noqa: F401  (read by the compiled passes)

guard()        # numba compiles here: no cycle collection meanwhile (viber_sessions.compiling)



@numba.njit(cache=True, nogil=True)
def _period_rows(billing, timestamp, wanted, lo, hi):  # pragma: no cover - compiled
    # one pass, without branches (which rows are wanted is data, not something a CPU predicts):
    # every index is written, the next one over it unless the row is wanted; only the pages of
    # the rows kept are ever touched. One unsigned comparison tests lo <= t < hi
    span = np.uint64(hi - lo)
    rows = np.empty(len(billing) + 1, np.int64)
    k = 0
    for i in range(len(billing)):
        rows[k] = i
        k += (billing[i] == wanted) & (np.uint64(timestamp[i] - lo) < span)
    return rows[:k]


def period_rows(billing: np.ndarray, timestamp: np.ndarray, wanted: int, lo: int, hi: int) -> np.ndarray:
    """The indexes of the rows whose ``billing`` is ``wanted`` and whose ``timestamp`` is in
    ``[lo, hi)``, in order."""
    billing, timestamp = readonly(billing, timestamp)
    return _period_rows(billing, timestamp, wanted, lo, hi)


@numba.njit(cache=True, nogil=True)
def _day_counts(codes, local, first_day, n_codes, n_days):  # pragma: no cover - compiled
    counts = np.zeros(n_codes * n_days, np.int64)
    for i in range(len(codes)):
        day = local[i] // DAY_NS - first_day
        if 0 <= day < n_days:
            counts[codes[i] * n_days + day] += 1
    return counts


def day_counts(codes: np.ndarray, local: np.ndarray, first_day: int, n_codes: int, n_days: int) -> np.ndarray:
    """Rows per (code, day of the period): ``counts[code * n_days + day]`` (``local``: local
    wall-clock instants in ns, ``first_day``: the period's first day since 1970-01-01)."""
    codes, local = readonly(codes, local)
    return _day_counts(codes, local, first_day, n_codes, n_days)


@numba.njit(cache=True, nogil=True)
def _session_counts(start, local, business, origin, close, size, billable, lo, hi, first_day, n_business,
                    n_days, max_size):  # pragma: no cover - compiled
    per_day = np.zeros(n_business * n_days, np.int64)
    reasons = np.zeros(4, np.int64)
    origins = np.zeros(2, np.int64)
    hours = np.zeros(24, np.int64)
    sizes = np.zeros(max_size + 1, np.int64)
    for i in range(len(start)):
        if not lo <= start[i] < hi:
            continue
        reasons[close[i]] += 1
        origins[origin[i]] += 1
        sizes[size[i]] += 1
        hours[(local[i] % DAY_NS) // HOUR_NS] += 1
        day = local[i] // DAY_NS - first_day
        if billable[i] and 0 <= day < n_days:
            per_day[business[i] * n_days + day] += 1
    return per_day, reasons, origins, hours, sizes


def session_counts(start, local, business, origin, close, size, billable, lo: int, hi: int, first_day: int,
                   n_business: int, n_days: int) -> tuple[np.ndarray, ...]:
    """Over the sessions starting in ``[lo, hi)``: billable ones per (account, day)
    (``per_day[business * n_days + day]``), and all of them by close reason, origin, local hour
    and size (message count: ``sizes[size]``)."""
    max_size = int(size.max()) if len(size) else 0
    arrays = readonly(start, local, business, origin, close, size, billable)
    return _session_counts(*arrays, lo, hi, first_day, n_business, n_days, max_size)


@numba.njit(cache=True, nogil=True)
def _conversation_sums(inverse, row_value, session_value, n_conv):  # pragma: no cover - compiled
    messages = np.zeros(n_conv, np.int64)
    sessions = np.zeros(n_conv, np.int64)
    amount = np.zeros(n_conv, np.int64)
    n_rows = len(row_value)
    for i in range(n_rows):
        c = inverse[i]
        messages[c] += 1
        amount[c] += row_value[i]
    for j in range(len(session_value)):
        c = inverse[n_rows + j]
        sessions[c] += 1
        amount[c] += session_value[j]
    return messages, sessions, amount


def conversation_sums(inverse: np.ndarray, row_value: np.ndarray, session_value: np.ndarray,
                      n_conv: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per conversation: billed messages, billed sessions and their amount (integer units).
    ``inverse``: each message's, then each session's conversation; ``row_value`` and
    ``session_value``: what each costs."""
    inverse, row_value, session_value = readonly(inverse, row_value, session_value)
    return _conversation_sums(inverse, row_value, session_value, n_conv)


__all__ = ["DAY_NS", "HOUR_NS", "conversation_sums", "day_counts", "period_rows", "session_counts"]
