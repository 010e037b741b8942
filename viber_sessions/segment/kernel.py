"""The session state machine (README, "The rules"): one compiled pass over the ordered rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tariff import Limits
from .codes import (CARRY_COLUMNS, C_MESSAGE_LIMIT, C_OPEN, C_UNANSWERED_LIMIT, DUPLICATE, END_COLUMNS, O_ROLLOVER,
                    O_SUBSCRIBER, R_NO_SESSION, R_NONE, R_TYPE_NOT_ALLOWED)
from .jit import compiled
from .order import OrderKeys
from .parallel import PARALLEL_MIN_ROWS, over_rows, readonly, threads
from .plans import PlanLimits, plan_tables
from .rows import row_inputs

#: Positions of the order from which :func:`run_pass` works on two halves on two threads.
TWO_HALVES_MIN_ROWS = PARALLEL_MIN_ROWS * 16


@compiled(cache=True, nogil=True)
def _open(cur, row, start, origin, carried, n_in, n_out, s_row, s_start, s_carried, s_origin, s_close, s_in,
          s_out):  # pragma: no cover - compiled
    """Session ``cur`` opens at loaded row ``row`` (its fields, the counters of a carried one)."""
    s_row[cur] = row
    s_start[cur] = start
    s_carried[cur] = carried
    s_origin[cur] = origin
    s_close[cur] = C_OPEN
    s_in[cur] = n_in
    s_out[cur] = n_out


@compiled(cache=True, nogil=True)
def _end(ends, ne, business, subscriber, session, bm, un):  # pragma: no cover - compiled
    """Row ``ne`` of ``ends``: a conversation's state after its last row (its open session or -1,
    and the business-message and unanswered counters)."""
    ends[ne, 0] = business
    ends[ne, 1] = subscriber
    ends[ne, 2] = session
    ends[ne, 3] = bm
    ends[ne, 4] = un


@compiled(cache=True, nogil=True)
def _kernel_plans(order, words, ts, keys, starts, frame, low_bits, row_bits, flags, mtype, mbits, sbits, plan_of,
                  can_open_pt, allowed_pt, windows, max_bms, max_uns, close_at_limits, sess, reason, s_row, s_origin,
                  s_close, s_in, s_out, s_start, s_carried, carry, n_subscribers, ends, q0, q1, s0, sd, e0,
                  ed):  # pragma: no cover - compiled
    """The session state machine (README, "The rules"), one pass over the rows in ``order`` (by
    conversation, timestamp, inbound first, input order). Rows whose ``billing`` was already
    DUPLICATE or EXCLUDED (or BEFORE_CUT) take no part (session -1). Returns the number of sessions and of
    end states written.

    With ``keys`` (an :class:`~.order.OrderKeys`' words, ``starts``, ``frame``, ``low_bits``,
    ``row_bits``), the order comes with each row's key, which gives its conversation, exact
    timestamp and direction: a row is read from one byte (:func:`~.rows.row_inputs`: takes part,
    type when ``mbits``). Else each row is read through ``order`` from its packed word and
    its timestamp. Either way ``mtype`` is read when the type is not packed (``mbits`` 0).

    Limits are per business account: ``plan_of[business]`` indexes the per-plan limits
    (``windows``, ``max_bms``, ... and the rows of ``can_open_pt`` and ``allowed_pt``), read
    once per conversation (one plan for all accounts is the common case).

    ``carry`` (rows sorted by conversation code ``business * n_subscribers + subscriber``, columns
    CARRY_COLUMNS) starts a conversation in a session carried over from an earlier run: the
    session gets an entry (``s_carried``) whose start, origin and counts are the carried ones.
    When ``ends`` has rows, each conversation's state after its last row is written there
    (END_COLUMNS; session -1: none open).

    Only the positions ``q0`` to ``q1`` of the order are worked on (whole conversations): the
    k-th session found there is entry ``s0 + sd * k`` of the session arrays and the k-th end
    state row ``e0 + ed * k`` of ``ends`` (``sd``, ``ed``: 1, or -1 to fill them from the top
    down while another thread fills them from the bottom up).

    Per row: ``sess`` (session number or -1) and ``reason`` (R_NONE in a session,
    R_NO_SESSION, R_TYPE_NOT_ALLOWED). Per session: the row that opened it (for a carried
    session: the conversation's first row here), origin (O_SUBSCRIBER, O_ROLLOVER), the limit
    that closed it (C_OPEN for none, C_MESSAGE_LIMIT, C_UNANSWERED_LIMIT), its inbound and
    outbound message counts and its start.
    """
    ns = 0
    ne = 0
    want_end = ends.shape[0] > 0
    n_carry = carry.shape[0]
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
    conv_shift = mbits + 2
    sub_mask = (np.int64(1) << sbits) - 1
    type_mask = (np.int64(1) << mbits) - 1
    keyed = keys.shape[0] > 0
    row_mask = (np.int64(1) << row_bits) - 1
    low_mask = (np.int64(1) << low_bits) - 1
    bucket = 0
    prev_c = np.int64(-1)
    for q in range(q0, q1):
        if keyed:
            while q >= starts[bucket + 1]:
                bucket += 1
            word = keys[q]
            i = word & row_mask
            f = flags[i]
            if not f & 1:
                sess[i] = -1
                continue
            key = (np.int64(bucket) << low_bits) | ((word >> row_bits) & low_mask)
            c = key // frame[2]
            rest = key - c * frame[2]
            c += frame[3]                   # business * n_subscribers + subscriber
            t = frame[0] + (rest >> 1) * frame[1]
            is_in = (rest & 1) == 0
            m = np.int64(f >> 1) if mbits else np.int64(mtype[i])
        else:
            i = order[q]
            w = words[i]
            if not w & 1:
                sess[i] = -1
                continue
            c = w >> conv_shift
            t = ts[i]
            is_in = (w & 2) != 0
            m = (w >> 2) & type_mask if mbits else np.int64(mtype[i])
        if c != prev_c:
            if keyed:
                b = c // n_subscribers
                s = c - b * n_subscribers
            else:
                b = c >> sbits
                s = c & sub_mask
            prev_c = c
            if want_end and prev_b >= 0:
                _end(ends, e0 + ed * ne, prev_b, prev_s, cur if is_open else -1, bm, un)
                ne += 1
            is_open = False
            bm = 0                          # (an end state without a session shows no counts)
            un = 0
            if b != prev_b:
                p = plan_of[b]
                window = windows[p]
                max_bm = max_bms[p]
                max_un = max_uns[p]
                close_at_limit = close_at_limits[p]
            prev_b = b
            prev_s = s
            if n_carry:
                code = b * n_subscribers + s
                k = np.searchsorted(carry[:, 0], code)
                if k < n_carry and carry[k, 0] == code:
                    cur = s0 + sd * ns
                    ns += 1
                    _open(cur, i, carry[k, 1], carry[k, 2], True, carry[k, 5], carry[k, 6], s_row, s_start,
                          s_carried, s_origin, s_close, s_in, s_out)
                    start = carry[k, 1]
                    bm = carry[k, 3]
                    un = carry[k, 4]
                    is_open = True
        if is_open and t - start >= window:
            is_open = False
        if not is_open:
            if is_in and can_open_pt[p, m]:
                cur = s0 + sd * ns
                ns += 1
                _open(cur, i, t, O_SUBSCRIBER, False, 0, 0, s_row, s_start, s_carried, s_origin, s_close, s_in,
                      s_out)
                start = t
                bm = 0
                un = 0
                is_open = True
            else:
                sess[i] = -1
                reason[i] = R_NO_SESSION
                continue
        if is_in:
            un = 0
            sess[i] = cur
            reason[i] = R_NONE
            s_in[cur] += 1
        elif not allowed_pt[p, m]:
            sess[i] = -1
            reason[i] = R_TYPE_NOT_ALLOWED
        else:
            if bm == max_bm:
                s_close[cur] = C_MESSAGE_LIMIT
                cur = s0 + sd * ns
                ns += 1
                _open(cur, i, t, O_ROLLOVER, False, 0, 0, s_row, s_start, s_carried, s_origin, s_close, s_in,
                      s_out)
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
    if want_end and prev_b >= 0:
        _end(ends, e0 + ed * ne, prev_b, prev_s, cur if is_open else -1, bm, un)
        ne += 1
    return ns, ne


def run_kernel(order, business, subscriber, ts, inbound, mtype, billing, can_open_t, allowed_t, limits: Limits):
    """The compiled pass under one set of limits; returns per-row (session, reason) and the
    per-session arrays."""
    out = run_pass(order, business, subscriber, ts, inbound, mtype, billing, None, (limits,), can_open_t[None, :],
                   allowed_t[None, :])
    return out.session, out.reason, out.s_row, out.s_origin, out.s_close, out.s_in, out.s_out


def run_kernel_plans(order, business, subscriber, ts, inbound, mtype, billing, plans: "PlanLimits",
                     types: list[str]):
    """:func:`run_kernel` with each business account's own limits (``plans``)."""
    can_open, allowed = plan_tables(plans, types)
    out = run_pass(order, business, subscriber, ts, inbound, mtype, billing, plans.of_business, plans.limits,
                   can_open, allowed)
    return out.session, out.reason, out.s_row, out.s_origin, out.s_close, out.s_in, out.s_out


@dataclass(eq=False)
class Pass:
    """What one pass of the kernel gives: per row and per session (see :func:`_kernel_plans`)."""

    session: np.ndarray
    reason: np.ndarray
    s_row: np.ndarray
    s_origin: np.ndarray
    s_close: np.ndarray
    s_in: np.ndarray
    s_out: np.ndarray
    s_start: np.ndarray
    s_carried: np.ndarray
    ends: np.ndarray         # END_COLUMNS per conversation (want_end), else no rows


def run_pass(order, business, subscriber, ts, inbound, mtype, billing, plan_of, limits, can_open, allowed,
             carry: np.ndarray | None = None, n_subscribers: int = 1, want_end: bool = False,
             reason: np.ndarray | None = None) -> Pass:
    """One pass of the kernel over ``order`` (the rows, or an :class:`~.order.OrderKeys`, whose
    keys spare reading the rows' columns): ``plan_of`` (None: every account the first of
    ``limits``), ``carry`` the carried-in sessions (CARRY_COLUMNS, sorted by conversation code),
    ``want_end`` each conversation's state after its last row. ``reason``, when given, is
    written in place for the rows that take part (the others keep theirs); else a new array
    (R_NONE for the rows that take no part)."""
    n = len(ts)
    if plan_of is None:
        plan_of = np.zeros(max(len(business), 1), np.int32)
    carry = np.zeros((0, len(CARRY_COLUMNS)), np.int64) if carry is None else np.ascontiguousarray(carry, np.int64)
    active = int(np.count_nonzero(billing < DUPLICATE))
    least = min(l.max_business_messages for l in limits)
    bound = (active + 1 if least < 2 else int(np.count_nonzero(inbound)) + active // least + 1) + len(carry)
    # keys order every row (conversation_keys), and the kernel writes the session of each row it meets
    whole = isinstance(order, OrderKeys) and len(order.words) == n
    sess = np.empty(n, dtype=np.int64) if whole else np.full(n, -1, dtype=np.int64)
    reason = np.zeros(n, dtype=np.int8) if reason is None else reason
    s_row = np.empty(bound, dtype=np.int64)
    s_origin = np.empty(bound, dtype=np.int8)
    s_close = np.empty(bound, dtype=np.int8)
    s_in = np.empty(bound, dtype=np.int32)
    s_out = np.empty(bound, dtype=np.int32)
    s_start = np.empty(bound, dtype=np.int64)
    s_carried = np.zeros(bound, dtype=bool)
    ends = np.zeros((n + 1 if want_end else 0, len(END_COLUMNS)), np.int64)
    # read-only views of every input (Arrow's columns are): one compiled signature, loaded by warm()
    business, subscriber, ts, inbound, mtype, billing, plan_of, can_open, allowed = readonly(
        business, subscriber, ts, inbound, mtype, billing, plan_of, can_open, allowed)
    rows = row_inputs(order, business, subscriber, ts, inbound, mtype, billing, can_open.shape[1] - 1, DUPLICATE)
    per_session = (s_row, s_origin, s_close, s_in, s_out, s_start, s_carried)
    args = (*rows, plan_of, can_open, allowed,
            np.array([l.window_ns for l in limits], dtype=np.int64),
            np.array([l.max_business_messages for l in limits], dtype=np.int64),
            np.array([l.max_unanswered for l in limits], dtype=np.int64),
            np.array([l.after_message_limit == "close" for l in limits], dtype=bool),
            sess, reason, *per_session, carry, np.int64(max(n_subscribers, 1)), ends)
    positions = len(order.words) if isinstance(order, OrderKeys) else len(order)
    cut = _split_at(*rows[:8], np.int64(rows[10] + 2), np.int64(positions // 2)) \
        if threads() >= 2 and positions >= TWO_HALVES_MIN_ROWS else positions
    if cut in (0, positions):
        count, n_ends = _kernel_plans(*args, np.int64(0), np.int64(positions), np.int64(0), np.int64(1), np.int64(0),
                                      np.int64(1))
    else:
        count, n_ends = _two_halves(args, cut, positions, per_session, sess, ends, bound)
    return Pass(session=sess, reason=reason, s_row=s_row[:count], s_origin=s_origin[:count], s_close=s_close[:count],
                s_in=s_in[:count], s_out=s_out[:count], s_start=s_start[:count], s_carried=s_carried[:count],
                ends=ends[:n_ends])


def _two_halves(args, cut, positions, per_session, sess, ends, bound) -> tuple[int, int]:
    """The kernel over positions [0, cut) and [cut, positions) of the order on two threads
    (conversations are independent; the compiled pass releases the GIL). The first half numbers
    its sessions and end states from the bottom of the arrays up, the second from the top
    down (at most ``bound`` sessions in all, so they never meet); then the second half's are
    moved down after the first's, in order, and its rows' session numbers follow them: the
    same arrays as one pass over the whole order."""
    from concurrent.futures import ThreadPoolExecutor

    top, end_top = np.int64(bound - 1), np.int64(len(ends) - 1)
    with ThreadPoolExecutor(2, thread_name_prefix="viber-sessions") as pool:
        low = pool.submit(_kernel_plans, *args, np.int64(0), np.int64(cut), np.int64(0), np.int64(1), np.int64(0),
                          np.int64(1))
        high = pool.submit(_kernel_plans, *args, np.int64(cut), np.int64(positions), top, np.int64(-1), end_top,
                           np.int64(-1))
        (c1, e1), (c2, e2) = low.result(), high.result()
    if c1 + c2 > bound or (len(ends) and e1 + e2 > len(ends)):      # pragma: no cover - the bounds hold
        raise RuntimeError(f"session kernel: {c1} + {c2} sessions for {bound} entries")
    for a in per_session:
        a[c1:c1 + c2] = a[bound - c2:bound][::-1].copy()
    if len(ends):
        ends[e1:e1 + e2] = ends[len(ends) - e2:][::-1].copy()
        column = ends[e1:e1 + e2, 2]
        column[column >= c1] = c1 + top - column[column >= c1]
    over_rows(len(sess), _renumber, sess, np.int64(c1), top)
    return c1 + c2, e1 + e2


@compiled(cache=True, nogil=True)
def _renumber(sess, first, top, lo, hi):  # pragma: no cover - compiled
    """Session numbers of the second half (``top`` down) become ``first`` up (rows ``lo:hi``)."""
    for i in range(lo, hi):
        k = sess[i]
        if k >= first:
            sess[i] = first + top - k


@compiled(cache=True, nogil=True)
def _conversation_at(order, words, keys, starts, frame, low_bits, row_bits, conv_shift, q):  # pragma: no cover
    """The conversation of position ``q`` of the order (as the kernel reads it)."""
    if keys.shape[0] > 0:
        bucket = np.searchsorted(starts, q, side="right") - 1
        key = (np.int64(bucket) << low_bits) | ((keys[q] >> row_bits) & ((np.int64(1) << low_bits) - 1))
        return key // frame[2]
    return words[order[q]] >> conv_shift


@compiled(cache=True, nogil=True)
def _split_at(order, words, ts, keys, starts, frame, low_bits, row_bits, conv_shift, q):  # pragma: no cover
    """The first position at or after ``q`` where a conversation begins (the end when none)."""
    n = keys.shape[0] if keys.shape[0] > 0 else order.shape[0]
    if q <= 0 or q >= n:
        return q
    before = _conversation_at(order, words, keys, starts, frame, low_bits, row_bits, conv_shift, q - 1)
    while q < n and _conversation_at(order, words, keys, starts, frame, low_bits, row_bits, conv_shift, q) == before:
        q += 1
    return q


def warm() -> None:
    """Call each compiled function of this module once (numba loads it from its cache)."""
    one = np.zeros(1, dtype=np.int64)
    flag = np.zeros(1, dtype=bool)
    codes = np.zeros(1, dtype=np.int32)
    billing = np.zeros(1, dtype=np.int8)
    sess = np.full(1, -1, dtype=np.int64)
    reason = np.zeros(1, dtype=np.int8)
    ro = readonly(codes, codes, one, flag, codes, billing)
    table = readonly(flag[None, :])[0]
    keyed = OrderKeys(np.zeros(1, np.int64), np.array([0, 1], np.int64), np.array([0, 1, 2, 0], np.int64), 1, 1)
    z, o = np.int64(0), np.int64(1)
    for order in (readonly(one)[0], keyed):
        rows = row_inputs(order, *ro, 1, DUPLICATE)
        _kernel_plans(*rows, ro[0], table, table, one, one, one, flag, sess, reason,
                      one.copy(), billing.copy(), billing.copy(), codes.copy(), codes.copy(), one.copy(), flag.copy(),
                      np.zeros((0, len(CARRY_COLUMNS)), np.int64), o, np.zeros((0, len(END_COLUMNS)), np.int64),
                      z, o, z, o, z, o)
        _split_at(*rows[:8], np.int64(rows[10] + 2), o)
    _renumber(sess, o, o, z, o)
