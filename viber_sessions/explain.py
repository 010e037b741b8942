"""One conversation as a timeline: every message, what it cost and why, and each session
boundary with the reason it opened and closed. Built from a :class:`Segmentation` only: the
rules are never applied a second time here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from . import money
from .errors import BillingError, UsageError
from .segment import (BILLING_NAMES, CLOSE_NAMES, ORIGIN_NAMES, REASON_NAMES, Segmentation)
from .tariff import Limits, Tariff, Zone
from .timeutil import NS, Period, iso_utc, month_labels


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def local(ts: int, tz: str) -> str:
    dt = datetime.fromtimestamp(ts // NS, tz=ZoneInfo(tz))
    frac = ts % NS
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    if frac:
        text += f".{frac:09d}".rstrip("0")
    return f"{text} {dt.strftime('%Z') or tz}"


def _country(seg: Segmentation, s: int, plan: Tariff) -> str:
    """The subscriber's country (ISO 3166 alpha-2, ``""``: none), looked up only when the
    account's plan has zones (the segmentation keeps it for the other commands)."""
    if not plan.zones:
        return ""
    from .countries import region_names

    return region_names()[int(seg.countries(np.array([s], dtype=np.int64))[0])]


def _check_plan(seg: Segmentation, b: int, business: str, tariff: Tariff, plan: Tariff) -> Limits:
    """The limits the account's sessions were computed with, refused when they are not the ones
    its plan gives it (as an invoice refuses them): the explanation would describe other
    sessions than the invoice bills."""
    limits = seg.limits_of(b)
    sessions_on = not (seg.plans is not None and bool(seg.plans.sessions_off[b]))
    if (limits, sessions_on) != (plan.limits, plan.sessions):
        raise BillingError(f"the sessions of account {business!r} were computed with other limits than its plan in "
                           f"{tariff.source} gives it: segment the log with the tariff, segment(log, tariff)")
    return limits


def check_prices(seg: Segmentation, tariff: Tariff) -> None:
    """Refuse, as an invoice does (:func:`viber_sessions.billing.check_prices`), a log whose
    billed-or-free outbound messages (anywhere in it, not only in the conversation) have a type
    their account's plan does not price: an explanation must not show them at 0.00."""
    from collections import Counter

    from .billing import check_prices as refuse
    from .segment import OUT_OF_SESSION, SESSION
    from .tally import RowCounts, Tally

    log = seg.log
    rows = np.flatnonzero(((seg.billing == SESSION) | (seg.billing == OUT_OF_SESSION)) & ~log.inbound)
    if not len(rows):
        return
    names, types = log.businesses.to_pylist(), log.message_types
    nt = max(len(types), 1)
    keys, counts = np.unique(log.business[rows].astype(np.int64) * nt + log.mtype[rows], return_counts=True)
    found = Counter({(names[k // nt], types[k % nt]): int(c) for k, c in zip(keys.tolist(), counts.tolist())})
    refuse(Tally(rows=RowCounts(0, 0, 0, 0, 0, 0), first_ts=None, outbound_types=found), tariff)


def explain(seg: Segmentation, tariff: Tariff, business: str, subscriber: str, tz: str,
            period: Period | None = None, session_id: str | None = None) -> dict:
    """The facts of one conversation (optionally one period or one session) as data, under the
    account's plan (``tariff.plan(business)``): its session price, its limits (the ones its
    sessions were computed with) and, for out-of-session messages, the price of the zone that
    lists the subscriber's country."""
    log = seg.log
    names_b = log.businesses.to_pylist()
    names_s = log.subscribers.to_pylist()
    if business not in names_b or subscriber not in names_s:
        raise UsageError(f"no message between business {business!r} and subscriber {subscriber!r} was loaded")
    b, s = names_b.index(business), names_s.index(subscriber)
    rows = np.flatnonzero((log.business == b) & (log.subscriber == s))
    if not len(rows):
        raise UsageError(f"no message between business {business!r} and subscriber {subscriber!r} was loaded")
    check_prices(seg, tariff)
    plan = tariff.plan(business)
    limits = _check_plan(seg, b, business, tariff, plan)
    country = _country(seg, s, plan)
    zone = plan.zone_of(country)
    ctx = _Context(seg, plan, limits, zone, tariff.places)
    rows = rows[np.lexsort((rows, ~log.inbound[rows], log.timestamp[rows]))]
    ids = seg.session_ids().to_pylist()
    keep = _shown(seg, rows, ids, period, session_id)
    events = _events(ctx, rows, ids, keep, tz)
    return _facts(events, tariff, plan, limits, business, subscriber, tz, country, zone)


def _shown(seg: Segmentation, rows: np.ndarray, ids: list, period: Period | None, session_id: str | None):
    """Which of the conversation's ``rows`` the explanation shows: one session (and the
    messages outside sessions during it), one period, or all."""
    log = seg.log
    sessions = {int(x) for x in seg.session[rows] if x >= 0}
    if session_id is not None:
        if session_id not in ids or ids.index(session_id) not in sessions:
            raise UsageError(f"--session {session_id!r} is not a session of this conversation")
        k = ids.index(session_id)
        members = seg.session[rows] == k
        span = (log.timestamp[rows] >= seg.s_start[k]) & (log.timestamp[rows] <= log.timestamp[rows][members].max())
        return members | (span & (seg.session[rows] < 0))
    if period is not None:
        return (log.timestamp[rows] >= period.start_ns) & (log.timestamp[rows] < period.end_ns)
    return np.ones(len(rows), dtype=bool)


def _events(ctx, rows: np.ndarray, ids: list, keep: np.ndarray, tz: str) -> list[dict]:
    """The conversation's timeline: sessions opening and closing, and every message with its
    session's counters as they stood after it."""
    seg = ctx.seg
    log = seg.log
    codes, labels = month_labels(seg.s_start, tz)
    msg_codes, msg_labels = month_labels(log.timestamp[rows], tz)
    statuses = log.status_names().to_pylist() if log.status is not None else None
    last_member = {}
    for pos, r in enumerate(rows.tolist()):
        if seg.session[r] >= 0:
            last_member[int(seg.session[r])] = pos
    counters: dict[int, list[int]] = {}
    closed_last = None          # the session that closed most recently, for "why no session"
    events: list[dict] = []
    for pos, r in enumerate(rows.tolist()):
        k = int(seg.session[r])
        if k >= 0 and k not in counters:
            counters[k] = [0, 0]
            if keep[pos]:
                events.append(_open_event(ctx, k, ids[k], labels[codes[k]], tz))
        if k >= 0:
            c = counters[k]
            if log.inbound[r]:
                c[1] = 0
            else:
                c[0] += 1
                c[1] += 1
        if keep[pos]:
            events.append(_message_event(ctx, r, k, ids, counters.get(k), msg_labels[msg_codes[pos]],
                                         tz, statuses, closed_last))
        if k >= 0 and last_member[k] == pos:
            closed_last = k
            if keep[pos]:
                events.append(_close_event(ctx, k, ids[k], tz, labels[codes[k]]))
    return events


def _facts(events, tariff: Tariff, plan, limits, business: str, subscriber: str, tz: str, country, zone) -> dict:
    """The explanation as data: the plan, the charges the shown events add up to, the limits."""
    places = tariff.places
    opens = [e for e in events if e["kind"] == "session_open" and e["billable"]]
    priced = [e for e in events if e["kind"] == "message" and e["unit_price"] is not None]
    s_amount = money.times(len(opens), plan.session_price)
    o_amount = money.total(money.parse(e["unit_price"]) for e in priced)
    return {
        "business_id": business, "subscriber_id": subscriber, "timezone": tz, "currency": tariff.currency,
        "plan": {"account_override": business in tariff.accounts, "sessions": plan.sessions,
                 "session_price": money.fmt(plan.session_price, places), "subscriber_country": country,
                 "zone": zone.name if zone is not None else ""},
        "charges": {"sessions": len(opens), "sessions_amount": money.fmt(s_amount, places),
                    "out_of_session_messages": len(priced), "out_of_session_amount": money.fmt(o_amount, places),
                    "total": money.fmt(money.total([s_amount, o_amount]), places)},
        "limits": {"window_hours": limits.window_hours, "max_business_messages": limits.max_business_messages,
                   "max_unanswered": limits.max_unanswered, "after_message_limit": limits.after_message_limit,
                   "non_opening_types": sorted(limits.non_opening_types),
                   "session_types": sorted(limits.session_types)},
        "events": events,
    }


@dataclass(frozen=True)
class _Context:
    """What every event of one conversation is described with: the account's plan, the limits its
    sessions were computed with, the zone of the subscriber's country (None: no zone) and the
    invoice's decimal places."""

    seg: Segmentation
    plan: Tariff
    limits: Limits
    zone: Zone | None
    places: int


def _open_event(ctx: _Context, k, sid, billed_period, tz) -> dict:
    seg, limits = ctx.seg, ctx.limits
    origin = ORIGIN_NAMES[seg.s_origin[k]]
    start = int(seg.s_start[k])
    first = int(seg.s_first[k])
    if origin == "subscriber":
        why = f"opened by the subscriber's {seg.log.message_types[seg.log.mtype[first]]} message"
    else:
        why = (f"opened by the {ordinal(limits.max_business_messages + 1)} business message: the previous session "
               f"reached the {limits.max_business_messages}-message limit (rollover)")
    billable = bool(seg.s_billable[k])
    return {"kind": "session_open", "session_id": sid, "origin": origin, "start": iso_utc(np.array([start]))[0].as_py(),
            "start_local": local(start, tz), "expires_at_local": local(start + limits.window_ns, tz),
            "billable": billable, "billed_period": billed_period if billable else None,
            "amount": money.fmt(ctx.plan.session_price, ctx.places) if billable else None, "why": why}


def _close_event(ctx: _Context, k, sid, tz, billed_period) -> dict:
    seg, limits = ctx.seg, ctx.limits
    reason = CLOSE_NAMES[seg.s_close[k]]
    expires = int(seg.s_start[k]) + limits.window_ns
    if reason == "expired":
        why = f"window expired at {local(expires, tz)} ({limits.window_hours:g} h after the start)"
    elif reason == "unanswered_limit":
        why = f"closed at the {ordinal(limits.max_unanswered)} unanswered business message"
    elif reason == "message_limit":
        why = f"closed at the {limits.max_business_messages}-message limit" + (
            "; the next business message opens a new session" if limits.after_message_limit == "new_session"
            else "; only a subscriber message can open the next session")
    else:
        why = f"still open at the end of the loaded data (its window ends {local(expires, tz)})"
    n_in, n_out = int(seg.s_inbound[k]), int(seg.s_outbound[k])
    if seg.s_billable[k]:
        billing = (f"billed once: {money.fmt(ctx.plan.session_price, ctx.places)} {ctx.plan.currency} "
                   f"in {billed_period} (the period of its start)")
    else:
        billing = ("not billed: one-sided (only subscriber messages)" if n_out == 0
                   else "not billed: one-sided (only business messages)") + "; its messages are billed per message"
    return {"kind": "session_close", "session_id": sid, "close_reason": reason, "inbound_messages": n_in,
            "outbound_messages": n_out, "billable": bool(seg.s_billable[k]), "why": why, "billing": billing}


def _closed_words(seg: Segmentation, limits: Limits, k, tz) -> str:
    reason = CLOSE_NAMES[seg.s_close[k]]
    if reason == "unanswered_limit":
        return f"closed at the {ordinal(limits.max_unanswered)} unanswered business message"
    if reason == "message_limit":
        return f"closed at the {limits.max_business_messages}-message limit"
    return f"expired at {local(int(seg.s_start[k]) + limits.window_ns, tz)}"


def _message_event(ctx: _Context, r, k, ids, counter, period_label, tz, statuses, closed_last) -> dict:
    seg, limits = ctx.seg, ctx.limits
    log = seg.log
    inbound = bool(log.inbound[r])
    mtype = log.message_types[log.mtype[r]]
    billing = BILLING_NAMES[seg.billing[r]]
    reason = REASON_NAMES[seg.reason[r]]
    ts = int(log.timestamp[r])
    unit, zone = None, None
    if billing == "session":
        if inbound:
            why = "subscriber message in the session: free; the unanswered count starts again"
        else:
            why = (f"business message {counter[0]} of {limits.max_business_messages}, {counter[1]} of "
                   f"{limits.max_unanswered} unanswered: free")
    elif billing == "out_of_session":
        unit, zone = ctx.plan.lookup("inbound" if inbound else "outbound", mtype, ctx.zone)
        if reason == "sessions_disabled":
            why = "sessions are not enabled for this account's plan; billed per message"
        elif reason == "no_session":
            if inbound:
                why = (f"no session open, and a subscriber's {mtype} cannot open one" if mtype in limits.non_opening_types
                       else "no session open")
            else:
                why = "no session open: only a subscriber message opens a session"
            if closed_last is not None:
                why += f" (the last session {ids[closed_last]} {_closed_words(seg, limits, closed_last, tz)})"
        elif reason == "type_not_allowed":
            why = (f"type {mtype} is not allowed in a session (allowed: {', '.join(sorted(limits.session_types))}); "
                   "it changes no counter")
        else:
            why = "its session holds messages of one direction only, so it is not billed: billed per message"
        why = f"out of session: {why}; charged in {period_label}"
        if zone:
            why += f" at the price of zone {zone}"
    elif billing == "duplicate":
        why = "duplicate message_id (an earlier row counts): billed nowhere"
    else:
        why = f"status {statuses[r] if statuses else '?'}: never reached the subscriber, billed nowhere"
    f, row = log.locate(log.row[r:r + 1])
    return {"kind": "message", "message_id": log.message_id[r].as_py(), "time": iso_utc(np.array([ts]))[0].as_py(),
            "time_local": local(ts, tz), "direction": "inbound" if inbound else "outbound", "message_type": mtype,
            "session_id": ids[k] if k >= 0 else None, "billing": billing, "reason": reason,
            "unit_price": money.fmt(unit, ctx.places) if unit is not None else None,
            "zone": zone if billing == "out_of_session" else None,
            "period": period_label if billing == "out_of_session" else None,
            "why": why, "source": f"{log.sources[f[0]]}:{int(row[0])}"}


def render(facts: dict, console) -> None:
    """The timeline on a rich console."""
    from rich.text import Text

    console.print(Text(f"Conversation {facts['business_id']} ↔ {facts['subscriber_id']} "
                       f"(times in {facts['timezone']}, amounts in {facts['currency']})", style="bold"))
    plan = facts["plan"]
    if plan["account_override"] or plan["zone"] or not plan["sessions"]:      # the plain top-level plan: no line
        words = ["the account's own plan (override)" if plan["account_override"] else "the top-level plan"]
        if not plan["sessions"]:
            words.append("sessions not enabled: every message billed per message")
        else:
            words.append(f"session {plan['session_price']}")
        if plan["zone"]:
            words.append(f"subscriber in {plan['subscriber_country']}: zone {plan['zone']} prices")
        console.print(Text("Plan: " + "; ".join(words)), soft_wrap=True)
    for e in facts["events"]:
        if e["kind"] == "session_open":
            line = Text(f"┌─ session {e['session_id']}: {e['why']} at {e['start_local']}", style="cyan")
            console.print(line, soft_wrap=True)
        elif e["kind"] == "session_close":
            console.print(Text(f"└─ {e['why']}; {e['billing']}", style="cyan"), soft_wrap=True)
        else:
            cost = e["unit_price"] if e["unit_price"] is not None else ("free" if e["billing"] == "session" else "-")
            arrow = "→ in " if e["direction"] == "inbound" else "← out"
            bar = "│ " if e["session_id"] and e["billing"] == "session" else "  "
            console.print(Text(f"{bar}{e['time_local']}  {arrow}  {e['message_type']:<17} {e['message_id']:<12} "
                               f"{cost:>8}  {e['why']}"), soft_wrap=True)
    c = facts["charges"]
    console.print(Text(f"Shown: {c['sessions']} billed session(s) = {c['sessions_amount']}, "
                       f"{c['out_of_session_messages']} out-of-session message(s) = {c['out_of_session_amount']}; "
                       f"together {c['total']} {facts['currency']} (the monthly fee is not included)", style="bold"),
                  soft_wrap=True)
