"""A small, plainly sequential implementation of RULES.md, written for the tests only.

It works on a list of plain dicts, one per loaded row in input order, with keys
``message_id``, ``ts`` (int nanoseconds, UTC), ``business``, ``subscriber``, ``inbound`` (bool),
``type`` (lowercase) and ``status`` (str or None). It shares no code with the engine.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class RefSession:
    business: str
    subscriber: str
    start: int
    origin: str
    messages: list = field(default_factory=list)   # row indices, in processing order
    business_messages: int = 0
    unanswered: int = 0
    close: str | None = None
    billable: bool = False


def reference_segment(rows, limits):
    """Returns (billing, reason, session_of_row, sessions) following RULES.md sections 2-5."""
    n = len(rows)
    billing = [None] * n
    reason = [""] * n
    session_of = [None] * n
    seen = set()
    conversations = defaultdict(list)
    for i, r in enumerate(rows):
        if r["message_id"] in seen:
            billing[i], reason[i] = "duplicate", "duplicate"
            continue
        seen.add(r["message_id"])
        if r.get("status") and r["status"].strip().lower() in limits.unbilled_statuses:
            billing[i], reason[i] = "excluded", "excluded_status"
            continue
        conversations[(r["business"], r["subscriber"])].append(i)

    window = limits.window_hours * 3600 * 10**9
    data_end = max((r["ts"] for r in rows), default=0)
    sessions = []
    for (business, subscriber), idxs in conversations.items():
        idxs.sort(key=lambda i: (rows[i]["ts"], 0 if rows[i]["inbound"] else 1, i))
        current = None
        for i in idxs:
            m = rows[i]
            if current is not None and m["ts"] >= current.start + window:
                current.close = "expired"
                current = None
            if current is None:
                if m["inbound"] and m["type"] not in limits.non_opening_types:
                    current = RefSession(business, subscriber, m["ts"], "subscriber")
                    sessions.append(current)
                else:
                    billing[i], reason[i] = "out_of_session", "no_session"
                    continue
            if m["inbound"]:
                current.unanswered = 0
                current.messages.append(i)
            elif m["type"] not in limits.session_types:
                billing[i], reason[i] = "out_of_session", "type_not_allowed"
            else:
                if current.business_messages == limits.max_business_messages:
                    current.close = "message_limit"
                    current = RefSession(business, subscriber, m["ts"], "rollover")
                    sessions.append(current)
                current.business_messages += 1
                current.unanswered += 1
                current.messages.append(i)
                if current.unanswered == limits.max_unanswered:
                    current.close = "unanswered_limit"
                    current = None
                elif (limits.after_message_limit == "close"
                      and current.business_messages == limits.max_business_messages):
                    current.close = "message_limit"
                    current = None

    for s in sessions:
        if s.close is None:
            s.close = "open" if data_end < s.start + window else "expired"
        has_in = any(rows[i]["inbound"] for i in s.messages)
        has_out = any(not rows[i]["inbound"] for i in s.messages)
        s.billable = has_in and has_out
        for i in s.messages:
            session_of[i] = s
            if s.billable:
                billing[i], reason[i] = "session", ""
            else:
                billing[i], reason[i] = "out_of_session", "one_sided"
    return billing, reason, session_of, sessions


def reference_invoice(rows, limits, tariff, period_start, period_end, accounts=None):
    """{business: (sessions, in_session_messages, {(direction, type): count}, total)} and the grand total."""
    billing, reason, session_of, sessions = reference_segment(rows, limits)

    def in_period(ts):
        return period_start <= ts < period_end

    present = sorted({r["business"] for r in rows if in_period(r["ts"])})
    if accounts:
        present = [b for b in present if b in accounts]
    result = {}
    for b in present:
        n_sessions = sum(1 for s in sessions if s.business == b and s.billable and in_period(s.start))
        in_session = sum(1 for i, r in enumerate(rows)
                         if r["business"] == b and billing[i] == "session" and in_period(r["ts"]))
        lines = defaultdict(int)
        for i, r in enumerate(rows):
            if r["business"] == b and billing[i] == "out_of_session" and in_period(r["ts"]):
                lines[("inbound" if r["inbound"] else "outbound", r["type"])] += 1
        total = tariff.monthly_fee + n_sessions * tariff.session_price
        for (direction, mtype), count in lines.items():
            price = tariff.inbound_price if direction == "inbound" else (
                tariff.outbound_prices.get(mtype, tariff.default_outbound_price))
            total += count * price
        result[b] = (n_sessions, in_session, dict(lines), total)
    return result, sum((v[3] for v in result.values()), Decimal(0))
