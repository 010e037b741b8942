"""The engine equals the plain reference implementation (tests/reference.py) on generated logs."""

from __future__ import annotations

import contextlib
import importlib
from decimal import Decimal
from unittest import mock

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from viber_sessions.billing import bill
from viber_sessions.segment import BILLING_NAMES, CLOSE_NAMES, ORIGIN_NAMES, REASON_NAMES, segment
from viber_sessions.tariff import Limits, parse_tariff
from viber_sessions.timeutil import Period

from reference import reference_invoice, reference_segment

BASE = 1_791_000_000 * 10**9          # 2026-10-03 (UTC), mid-month
STEP = 15 * 60 * 10**9                # a 15-minute grid: ties and exact window boundaries happen often
TYPES = ["text", "image", "video", "text_button", "file"]
TARIFF = parse_tariff({"currency": "RUB", "monthly_fee": "100.00", "session_price": "1.20", "inbound_price": "0.05",
                       "outbound_prices": {"text": "0.85", "image": "1.10", "video": "1.5", "default": "2.00"}})


@st.composite
def limits(draw):
    return Limits(
        window_hours=draw(st.sampled_from([1, 2, 24])),
        max_business_messages=draw(st.integers(1, 6)),
        max_unanswered=draw(st.integers(1, 5)),
        non_opening_types=frozenset(draw(st.sampled_from([["image"], [], ["image", "video"]]))),
        session_types=frozenset(draw(st.sampled_from([["text", "image"], ["text"], ["text", "image", "video"]]))),
        after_message_limit=draw(st.sampled_from(["new_session", "close"])),
        unbilled_statuses=frozenset({"failed", "rejected"}),
    )


@st.composite
def logs(draw, max_rows=60, spread=40):
    n = draw(st.integers(1, max_rows))       # a table without rows is an input error (from_table)
    rows = []
    burst = draw(st.booleans())
    for k in range(n):
        reuse = rows and draw(st.integers(0, 12)) == 0
        inbound = draw(st.booleans()) if not burst else draw(st.integers(0, 5)) == 0
        rows.append({
            "message_id": rows[draw(st.integers(0, len(rows) - 1))]["message_id"] if reuse else f"m{k}",
            "ts": BASE + draw(st.integers(0, spread)) * STEP + draw(st.sampled_from([0, 0, 0, 1])),
            "business": draw(st.sampled_from(["shop", "007"])),
            "subscriber": draw(st.sampled_from(["+79001234567", "0079001234567", "viber:9f"])),
            "inbound": inbound,
            "type": draw(st.sampled_from(TYPES)),
            "status": draw(st.sampled_from([None, None, None, "delivered", "failed", "REJECTED"])),
        })
    return rows


def to_table(rows, shout=False) -> pa.Table:
    return pa.table({
        "message_id": pa.array([r["message_id"] for r in rows], pa.string()),
        "timestamp": pa.array([r["ts"] for r in rows], pa.timestamp("ns", tz="UTC")),
        "business_id": pa.array([r["business"] for r in rows], pa.string()),
        "subscriber_id": pa.array([r["subscriber"] for r in rows], pa.string()),
        "direction": pa.array([("IN" if shout else "inbound") if r["inbound"] else "outbound" for r in rows]),
        "message_type": pa.array([r["type"].upper() if shout else r["type"] for r in rows]),
        "status": pa.array([r["status"] for r in rows], pa.string()),
    })


def engine_view(seg):
    """Per-row (billing, reason) and the sessions as {frozenset(rows): (start, origin, close, billable)}."""
    billing = [BILLING_NAMES[b] for b in seg.billing]
    reason = [REASON_NAMES[r] for r in seg.reason]
    members = {}
    for row, s in enumerate(seg.session.tolist()):
        if s >= 0:
            members.setdefault(s, set()).add(row)
    sessions = {frozenset(m): (int(seg.s_start[s]), ORIGIN_NAMES[seg.s_origin[s]], CLOSE_NAMES[seg.s_close[s]],
                               bool(seg.s_billable[s])) for s, m in members.items()}
    assert len(sessions) == seg.n_sessions, "every session holds at least one message"
    return billing, reason, sessions


def reference_view(rows, lim):
    billing, reason, _, sessions = reference_segment(rows, lim)
    return billing, reason, {frozenset(s.messages): (s.start, s.origin, s.close, s.billable) for s in sessions}


def halves(on: bool):
    """The session kernel cuts even a small log's order in two halves on two threads (``on``)."""
    kernel = importlib.import_module("viber_sessions.segment.kernel")
    if not on:
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(kernel, "TWO_HALVES_MIN_ROWS", 0))
    stack.enter_context(mock.patch.object(kernel, "threads", lambda: 2))
    return stack


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=logs(), lim=limits(), shout=st.booleans(), two=st.booleans())
def test_engine_equals_reference(rows, lim, shout, two):
    with halves(two):
        seg = segment(to_table(rows, shout), lim)
    assert engine_view(seg) == reference_view(rows, lim)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=logs(max_rows=80, spread=400), lim=limits(), tz=st.sampled_from(["UTC", "Europe/Moscow",
                                                                            "America/New_York", "Asia/Kolkata"]),
       month=st.sampled_from(["2026-10", "2026-11", "2026-09"]))
def test_invoice_equals_reference(rows, lim, tz, month):
    tariff = TARIFF.replace(limits=lim)
    period = Period.parse(month, tz)
    seg = segment(to_table(rows), lim)
    inv = bill(seg, tariff, period)
    want, want_total = reference_invoice(rows, lim, tariff, period.start_ns, period.end_ns)
    got = {a.business_id: (a.sessions, a.in_session_messages,
                           {(l.direction, l.message_type): l.count for l in a.out_of_session}, a.total)
           for a in inv.accounts}
    assert got == want
    assert inv.total == want_total
    assert inv.rows.balanced()
    assert isinstance(inv.total, Decimal)


@settings(max_examples=100, deadline=None)
@given(rows=logs(), lim=limits(), seed=st.integers(0, 2**32 - 1))
def test_input_order_only_breaks_ties(rows, lim, seed):
    """Shuffling rows that are not duplicates and have distinct (conversation, time, direction)
    changes nothing: the engine orders by time, not by input position."""
    seen, unique = set(), []
    for r in rows:
        key = (r["business"], r["subscriber"], r["ts"], r["inbound"])
        if r["message_id"] not in seen and key not in seen:
            seen.add(r["message_id"])
            seen.add(key)
            unique.append(r)
    perm = np.random.default_rng(seed).permutation(len(unique))
    shuffled = [unique[i] for i in perm]
    a = segment(to_table(unique), lim)
    b = segment(to_table(shuffled), lim)
    by_id_a = dict(zip([r["message_id"] for r in unique], zip(a.billing.tolist(), a.reason.tolist())))
    by_id_b = dict(zip([r["message_id"] for r in shuffled], zip(b.billing.tolist(), b.reason.tolist())))
    assert by_id_a == by_id_b
    assert sorted(a.s_start.tolist()) == sorted(b.s_start.tolist())


def test_long_conversation_rolls_over_every_60_messages():
    """One subscriber message, then 10 business messages per reply: exactly ceil(n/60) sessions."""
    rows, k = [], 0
    for block in range(30):
        rows.append({"message_id": f"s{block}", "ts": BASE + k * 10**9, "business": "b", "subscriber": "s",
                     "inbound": True, "type": "text", "status": None})
        k += 1
        for j in range(9):
            rows.append({"message_id": f"b{block}-{j}", "ts": BASE + k * 10**9, "business": "b", "subscriber": "s",
                         "inbound": False, "type": "text", "status": None})
            k += 1
    seg = segment(to_table(rows), Limits())
    assert engine_view(seg) == reference_view(rows, Limits())
    assert seg.n_sessions == -(-270 // 60)
    assert [ORIGIN_NAMES[o] for o in seg.s_origin] == ["subscriber"] + ["rollover"] * 4


@st.composite
def long_conversations(draw):
    """One or two conversations of up to 300 messages, mostly business messages in bursts, with
    the default limits (60 business messages, 10 unanswered, 24 h)."""
    n = draw(st.integers(50, 300))
    p_in = draw(st.sampled_from([0.02, 0.1, 0.3]))
    rows, t = [], BASE
    for k in range(n):
        t += draw(st.sampled_from([0, 1, 60, 600, 3600, 6 * 3600])) * 10**9
        rows.append({"message_id": f"m{k}", "ts": t, "business": "shop",
                     "subscriber": draw(st.sampled_from(["+79001234567", "007"])),
                     "inbound": draw(st.floats(0, 1)) < p_in,
                     "type": draw(st.sampled_from(["text", "text", "text", "image", "video"])), "status": None})
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=long_conversations(), close=st.booleans())
def test_default_limits_on_long_conversations(rows, close):
    lim = Limits(after_message_limit="close" if close else "new_session")
    assert engine_view(segment(to_table(rows), lim)) == reference_view(rows, lim)
