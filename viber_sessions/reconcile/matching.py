"""Matching our side with the statement: per session (by conversation and start, shifted
sessions paired within a window) and per account and day or month."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa

from .. import money
from ..load import parse_timestamps
from ..tariff import Limits, Tariff
from ..timeutil import NS, Period, iso_utc
from .ours import Session
from .report import AccountDiff, Difference, Reconciliation, add_gross
from .statement import Source, strings_any


def iso(ts) -> str:
    return iso_utc(np.array([int(ts)]))[0].as_py()


# ---------------------------------------------------------------------------------------------
# Per session


class StatementSessions:
    """The statement's sessions (rows with ``billable = false`` set aside), checked."""

    def __init__(self, src: Source, table: pa.Table, tariff: Tariff, period: Period | None, input_tz: str):
        if "billable" in table.column_names:
            flags = [str(v).strip().lower() not in ("false", "0", "no", "") for v in strings_any(table, "billable")]
            table = table.filter(pa.array(flags, pa.bool_()))
            src = src.keep(flags)
        self.businesses = src.strings(table, "business_id")
        self.subscribers = src.strings(table, "subscriber_id")
        start, bad = parse_timestamps(table.column("start").combine_chunks(), input_tz, None)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise src.problem(row, "start", "bad_timestamp", "not a timestamp", table.column("start")[row].as_py())
        self.start = start
        self.ids = (src.strings(table, "session_id") if "session_id" in table.column_names
                    else [""] * table.num_rows)
        self.amounts = (src.decimals(strings_any(table, "amount"), "amount") if "amount" in table.column_names
                        else [tariff.plan(b).session_price for b in self.businesses])      # each account's plan
        keep = np.ones(table.num_rows, dtype=bool)
        if period is not None:
            keep = (start >= period.start_ns) & (start < period.end_ns)
        self.by_conversation: dict[tuple[str, str], list[int]] = {}
        for j in np.flatnonzero(keep).tolist():
            self.by_conversation.setdefault((self.businesses[j], self.subscribers[j]), []).append(j)


def match_sessions(ours: dict, every: dict, theirs: StatementSessions, tariff: Tariff, tol_s: float
                   ) -> Reconciliation:
    tol = int(round(tol_s * NS))
    details: list[Difference] = []
    counts = {"matched": 0, "shifted": 0, "only_ours": 0, "only_statement": 0}
    accounts: dict[str, AccountDiff] = {}
    for key in sorted(set(ours) | set(theirs.by_conversation)):
        acc = accounts.setdefault(key[0], AccountDiff(key[0]))
        plan = tariff.plan(key[0])
        price = plan.session_price           # the account's plan (an override's session_price)
        o = sorted(ours.get(key, []), key=lambda s: s.start)
        t = sorted(theirs.by_conversation.get(key, []), key=lambda j: theirs.start[j])
        acc.our_sessions += len(o)
        acc.statement_sessions += len(t)
        acc.our_amount = money.total([acc.our_amount, money.times(len(o), price)])
        acc.statement_amount = money.total([acc.statement_amount, *(theirs.amounts[j] for j in t)])
        left_o, left_t = _match_in_order(o, t, theirs, tol, price, key, counts, details)
        # unmatched sessions of one conversation less than a window apart: the same session, shifted
        while left_o and left_t:
            best = min(((abs(a.start - int(theirs.start[b])), i, b) for i, a in enumerate(left_o) for b in left_t))
            if best[0] >= plan.limits.window_ns:     # the window its sessions were computed with
                break
            a = left_o.pop(best[1])
            b = best[2]
            left_t.remove(b)
            counts["shifted"] += 1
            delta = (int(theirs.start[b]) - a.start) / NS
            details.append(_pair("shifted", key, a, b, theirs, price,
                                 f"statement starts {delta:+g} s from ours; ours: {describe_ours(a, plan.limits)}"))
        for a in left_o:
            counts["only_ours"] += 1
            details.append(Difference("only_ours", key[0], key[1], our_start=iso(a.start), our_session_id=a.session_id,
                                      our_amount=price, our_sessions=1,
                                      reason=f"ours: {describe_ours(a, plan.limits)}; "
                                             "statement: no session starts within the tolerance"))
        for b in left_t:
            counts["only_statement"] += 1
            details.append(Difference("only_statement", key[0], key[1], statement_start=iso(theirs.start[b]),
                                      statement_session_id=theirs.ids[b] or "", statement_amount=theirs.amounts[b],
                                      statement_sessions=1,
                                      reason=f"ours: {describe_time(plan, int(theirs.start[b]), every.get(key, []))}; "
                                             "statement: one session"))
    add_gross(accounts, details)
    return Reconciliation("session", counts, [accounts[k] for k in sorted(accounts)], details)


def _match_in_order(o: list[Session], t: list[int], theirs: StatementSessions, tol: int, price: Decimal, key,
                    counts: dict, details: list) -> tuple[list[Session], list[int]]:
    """Pair the two sides in time order where the starts are within ``tol``; the rest is left."""
    i = j = 0
    left_o, left_t = [], []
    while i < len(o) or j < len(t):
        if i < len(o) and j < len(t) and abs(o[i].start - int(theirs.start[t[j]])) <= tol:
            counts["matched"] += 1
            if theirs.amounts[t[j]] != price:
                details.append(_pair("matched", key, o[i], t[j], theirs, price,
                                     f"statement charges {theirs.amounts[t[j]]} instead of {price}"))
            i += 1
            j += 1
        elif j >= len(t) or (i < len(o) and o[i].start < theirs.start[t[j]]):
            left_o.append(o[i])
            i += 1
        else:
            left_t.append(t[j])
            j += 1
    return left_o, left_t


def _pair(status, key, a: Session, b: int, theirs: StatementSessions, price, reason) -> Difference:
    return Difference(status, key[0], key[1], our_start=iso(a.start), statement_start=iso(theirs.start[b]),
                      our_session_id=a.session_id, statement_session_id=theirs.ids[b] or "",
                      delta_seconds=(int(theirs.start[b]) - a.start) / NS, our_amount=price,
                      statement_amount=theirs.amounts[b], our_sessions=1, statement_sessions=1, reason=reason)


def describe_ours(s: Session, limits: Limits) -> str:
    if s.origin == "rollover":
        text = f"opened by the {limits.max_business_messages + 1}th business message (rollover)"
    else:
        text = "opened by a subscriber message"
    if s.previous_close is not None:
        text += f" after the previous session closed ({close_text(s.previous_close, limits)})"
    return text


def close_text(reason: str, limits: Limits) -> str:
    return {"expired": f"its {limits.window_hours:g} h window expired",
            "unanswered_limit": f"closed at {limits.max_unanswered} unanswered",
            "message_limit": f"closed at the {limits.max_business_messages}-message limit",
            "open": "still open"}[reason]


def describe_time(plan: Tariff, t: int, conversation: list[Session]) -> str:
    if not plan.sessions:
        return "no session: sessions are not enabled for this account's plan (every message is billed per message)"
    window = plan.limits.window_ns
    covering = [s for s in conversation if s.start <= t < s.start + window]
    if not covering:
        return "no session at this time (no subscriber message opened one)"
    s = covering[-1]
    if not s.billable:
        return f"the session at this time ({s.session_id}) is one-sided, so not billed"
    return f"inside session {s.session_id} (started {iso(s.start)}; {close_text(s.close, plan.limits)})"


# ---------------------------------------------------------------------------------------------
# Per account and day or month


def statement_aggregates(src: Source, table: pa.Table, grain: str, period: Period | None) -> dict:
    """{(business, date or month): [sessions, out-of-session messages, amount]} of the statement."""
    businesses = src.strings(table, "business_id")
    keys = strings_any(table, "date" if grain == "day" else "period")
    sessions = src.ints(strings_any(table, "sessions"), "sessions")
    oos = src.ints(strings_any(table, "out_of_session_messages"), "out_of_session_messages")
    amounts = src.decimals(strings_any(table, "amount"), "amount")
    keys = [str(k)[:10] if grain == "day" else str(k)[:7] for k in keys]
    theirs: dict[tuple[str, str], list] = {}
    for b, k, s, o, a in zip(businesses, keys, sessions, oos, amounts):
        if period is not None and k[:7] != str(period):
            continue
        cur = theirs.setdefault((b, k), [0, 0, Decimal(0)])
        cur[0] += s
        cur[1] += o
        cur[2] = money.total([cur[2], a])
    return theirs


def match_aggregates(ours: dict, theirs: dict, grain: str, period: Period | None) -> Reconciliation:
    if period is not None:
        ours = {k: v for k, v in ours.items() if k[1][:7] == str(period)}
    counts = {"matched": 0, "differs": 0, "only_ours": 0, "only_statement": 0}
    accounts: dict[str, AccountDiff] = {}
    details = []
    for key in sorted(set(ours) | set(theirs)):
        o = ours.get(key)
        t = theirs.get(key)
        acc = accounts.setdefault(key[0], AccountDiff(key[0]))
        if o:
            acc.our_sessions += o[0]
            acc.our_amount = money.total([acc.our_amount, o[2]])
        if t:
            acc.statement_sessions += t[0]
            acc.statement_amount = money.total([acc.statement_amount, t[2]])
        if o and t and o[0] == t[0] and o[1] == t[1] and o[2] == t[2]:
            counts["matched"] += 1
            continue
        status = "differs" if (o and t) else ("only_ours" if o else "only_statement")
        counts[status] += 1
        o = o or [0, 0, Decimal(0)]
        t = t or [0, 0, Decimal(0)]
        parts = []
        if o[0] != t[0]:
            parts.append(f"sessions: ours {o[0]}, statement {t[0]}")
        if o[1] != t[1]:
            parts.append(f"out-of-session messages: ours {o[1]}, statement {t[1]}")
        if o[2] != t[2]:
            parts.append(f"amount: ours {o[2]}, statement {t[2]}")
        details.append(Difference(status, key[0], key=key[1], our_sessions=o[0], statement_sessions=t[0],
                                  our_out_of_session=o[1], statement_out_of_session=t[1], our_amount=o[2],
                                  statement_amount=t[2], reason="; ".join(parts)))
    add_gross(accounts, details)
    return Reconciliation(grain, counts, [accounts[k] for k in sorted(accounts)], details)
