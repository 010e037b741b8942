"""Split every conversation into sessions (RULES.md sections 2-5).

All per-message work is array work: duplicate and status flags, conversation codes, the ordering,
the type flags. The one inherently sequential step - where the next session opens depends on
where the previous one closed - is a single compiled pass (numba) over the ordered arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .load import LoadOptions, MessageLog, from_table
from .tariff import Limits
from .timeutil import iso_utc

# Billing classes of a loaded row (``Segmentation.billing``).
SESSION, OUT_OF_SESSION, DUPLICATE, EXCLUDED = 0, 1, 2, 3
BILLING_NAMES = ("session", "out_of_session", "duplicate", "excluded")
# Reasons (``Segmentation.reason``).
R_NONE, R_NO_SESSION, R_TYPE_NOT_ALLOWED, R_ONE_SIDED, R_DUPLICATE, R_EXCLUDED = range(6)
REASON_NAMES = ("", "no_session", "type_not_allowed", "one_sided", "duplicate", "excluded_status")
# Session origins and close reasons.
ORIGIN_NAMES = ("subscriber", "rollover")
C_OPEN, C_EXPIRED, C_MESSAGE_LIMIT, C_UNANSWERED_LIMIT = range(4)
CLOSE_NAMES = ("open", "expired", "message_limit", "unanswered_limit")


@numba.njit(cache=True, nogil=True)
def _kernel(newconv, ts, inbound, can_open, allowed, window, max_bm, max_un, close_at_limit,
            sess, reason, s_row, s_origin, s_close, s_in, s_out):  # pragma: no cover - compiled
    """The state machine of RULES.md section 4, one pass over messages ordered by
    (conversation, timestamp, inbound first, input order). Returns the number of sessions.

    Per message: ``sess`` (session number or -1) and ``reason`` (0 in a session, 1 no_session,
    2 type_not_allowed). Per session: the row that opened it, origin (0 subscriber,
    1 rollover), the limit that closed it (0 none, 2 message_limit, 3 unanswered_limit) and
    its inbound and outbound message counts.
    """
    n = ts.shape[0]
    ns = 0
    is_open = False
    cur = -1
    start = np.int64(0)
    bm = 0
    un = 0
    for i in range(n):
        if newconv[i]:
            is_open = False
        t = ts[i]
        if is_open and t - start >= window:
            is_open = False
        if not is_open:
            if inbound[i] and can_open[i]:
                cur = ns
                ns += 1
                s_row[cur] = i
                s_origin[cur] = 0
                s_close[cur] = 0
                s_in[cur] = 0
                s_out[cur] = 0
                start = t
                bm = 0
                un = 0
                is_open = True
            else:
                sess[i] = -1
                reason[i] = 1
                continue
        if inbound[i]:
            un = 0
            sess[i] = cur
            reason[i] = 0
            s_in[cur] += 1
        elif not allowed[i]:
            sess[i] = -1
            reason[i] = 2
        else:
            if bm == max_bm:
                s_close[cur] = 2
                cur = ns
                ns += 1
                s_row[cur] = i
                s_origin[cur] = 1
                s_close[cur] = 0
                s_in[cur] = 0
                s_out[cur] = 0
                start = t
                bm = 0
                un = 0
            bm += 1
            un += 1
            sess[i] = cur
            reason[i] = 0
            s_out[cur] += 1
            if un == max_un:
                s_close[cur] = 3
                is_open = False
            elif close_at_limit and bm == max_bm:
                s_close[cur] = 2
                is_open = False
    return ns


def run_kernel(newconv, ts, inbound, can_open, allowed, limits: Limits):
    """The compiled pass on already ordered arrays; returns per-message and per-session arrays."""
    n = len(ts)
    bound = int(np.count_nonzero(can_open & inbound)) + int(np.count_nonzero(allowed & ~inbound)) \
        // limits.max_business_messages + 1
    sess = np.empty(n, dtype=np.int64)
    reason = np.empty(n, dtype=np.int8)
    s_row = np.empty(bound, dtype=np.int64)
    s_origin = np.empty(bound, dtype=np.int8)
    s_close = np.empty(bound, dtype=np.int8)
    s_in = np.empty(bound, dtype=np.int32)
    s_out = np.empty(bound, dtype=np.int32)
    count = _kernel(newconv, ts, inbound, can_open, allowed, np.int64(limits.window_ns),
                    limits.max_business_messages, limits.max_unanswered,
                    limits.after_message_limit == "close", sess, reason, s_row, s_origin, s_close, s_in, s_out)
    return sess, reason, s_row[:count], s_origin[:count], s_close[:count], s_in[:count], s_out[:count]


def first_occurrences(message_id: pa.Array) -> np.ndarray:
    """True for the first row (in input order) of each message_id."""
    if len(message_id) == 0:
        return np.zeros(0, dtype=bool)
    codes = pc.dictionary_encode(message_id).indices.to_numpy(zero_copy_only=False)
    # dictionary_encode numbers values in order of first appearance: a row is a first occurrence
    # exactly when its code is larger than every code before it.
    seen = np.maximum.accumulate(codes)
    first = np.empty(len(codes), dtype=bool)
    first[0] = True
    first[1:] = codes[1:] > seen[:-1]
    return first


def conversation_order(business: np.ndarray, subscriber: np.ndarray, n_subscribers: int,
                       ts: np.ndarray, inbound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Conversation codes and the processing order: by conversation, timestamp, inbound before
    outbound, then input order (the sort is stable)."""
    conv = business.astype(np.int64) * max(n_subscribers, 1) + subscriber
    if len(ts) and ts.min() > -(2 ** 61) and ts.max() < 2 ** 61:
        tkey = ts * 2 + (~inbound)
        order = np.lexsort((tkey, conv))
    else:
        order = np.lexsort(((~inbound).astype(np.int8), ts, conv))
    return conv, order


@dataclass(eq=False)
class Segmentation:
    """The per-message assignment and the sessions, aligned with the :class:`MessageLog` rows."""

    log: MessageLog
    limits: Limits
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

    @property
    def n_sessions(self) -> int:
        return len(self.s_start)

    @property
    def s_expires(self) -> np.ndarray:
        return self.s_start + self.limits.window_ns

    def session_ids(self) -> pa.Array:
        """Deterministic ids: ``business/subscriber/YYYYMMDDTHHMMSSZ`` (``-2``, ``-3`` ... when
        two sessions of a conversation start at the same instant)."""
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
            self.log.businesses.take(pa.array(self.s_business)),
            self.log.subscribers.take(pa.array(self.s_subscriber)),
            pc.binary_join_element_wise(stamp, "Z", ""), "/")
        return pc.binary_join_element_wise(ids, suffix, "")

    def close_names(self) -> np.ndarray:
        return np.array(CLOSE_NAMES, dtype=object)[self.s_close]


def segment(messages, limits: Limits | None = None, options: LoadOptions | None = None) -> Segmentation:
    """Sessions of every conversation of ``messages`` (a :class:`MessageLog`, or a pandas /
    pyarrow table with the canonical columns) under ``limits``."""
    limits = limits or Limits()
    log = messages if isinstance(messages, MessageLog) else from_table(messages, options)
    n = len(log)
    billing = np.full(n, SESSION, dtype=np.int8)
    reason = np.zeros(n, dtype=np.int8)
    session = np.full(n, -1, dtype=np.int64)

    first = first_occurrences(log.message_id)
    billing[~first] = DUPLICATE
    reason[~first] = R_DUPLICATE
    active = first
    if log.status is not None and log.statuses:
        unbilled = np.array([s in limits.unbilled_statuses for s in log.statuses] + [False], dtype=bool)
        excluded = unbilled[np.where(log.status < 0, len(log.statuses), log.status)] & first
        billing[excluded] = EXCLUDED
        reason[excluded] = R_EXCLUDED
        active = first & ~excluded

    idx = np.flatnonzero(active)
    ts_all = log.timestamp
    data_end = int(ts_all.max()) if n else 0
    business, subscriber = log.business[idx], log.subscriber[idx]
    ts, inbound, mtype = ts_all[idx], log.inbound[idx], log.mtype[idx]
    conv, order = conversation_order(business, subscriber, len(log.subscribers), ts, inbound)

    types = log.message_types
    opening = np.array([t not in limits.non_opening_types for t in types] + [False], dtype=bool)
    in_session = np.array([t in limits.session_types for t in types] + [False], dtype=bool)
    o_conv = conv[order]
    o_ts = ts[order]
    o_in = inbound[order]
    o_type = mtype[order]
    newconv = np.ones(len(order), dtype=bool)
    newconv[1:] = o_conv[1:] != o_conv[:-1]
    sess, why, s_row, s_origin, s_close, s_in, s_out = run_kernel(
        newconv, o_ts, o_in, opening[o_type] & o_in, in_session[o_type] & ~o_in, limits)

    s_start = o_ts[s_row]
    s_close = s_close.copy()
    unclosed = s_close == 0
    s_close[unclosed] = np.where(s_start[unclosed] + limits.window_ns <= data_end, C_EXPIRED, C_OPEN)
    billable = (s_in > 0) & (s_out > 0)

    rows = idx[order]                       # loaded-row index of each ordered message
    has = sess >= 0
    session[rows[has]] = sess[has]
    out = ~has.copy()
    out[has] = ~billable[sess[has]]
    billing[rows] = np.where(out, OUT_OF_SESSION, SESSION)
    one_sided = has & out
    reason[rows] = np.where(one_sided, R_ONE_SIDED, why)
    s_first = rows[s_row]
    return Segmentation(
        log=log, limits=limits, billing=billing, reason=reason, session=session,
        s_business=log.business[s_first], s_subscriber=log.subscriber[s_first], s_start=s_start,
        s_origin=s_origin, s_close=s_close, s_inbound=s_in, s_outbound=s_out, s_billable=billable,
        s_first=s_first, data_end=data_end)
