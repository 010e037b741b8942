"""Compare our sessions and charges with a provider's statement and say where they differ.

Two statement grains, told apart by their columns:

- per session: ``business_id``, ``subscriber_id``, ``start`` (optional ``session_id``,
  ``amount``, ``billable``): sessions are matched by conversation and start time;
- per account and day or month: ``business_id``, ``date`` or ``period``, ``sessions``,
  ``out_of_session_messages``, ``amount`` (sessions and out-of-session charges, without the
  monthly fee).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import money
from .errors import BillingError, InputError, Problem
from .load import parse_timestamps, read_any
from .segment import CLOSE_NAMES, ORIGIN_NAMES, OUT_OF_SESSION, Segmentation
from .tariff import Tariff
from .timeutil import NS, Period, iso_utc

SESSION_COLUMNS = ("business_id", "subscriber_id", "start")
AGGREGATE_COLUMNS = ("business_id", "sessions", "out_of_session_messages", "amount")


@dataclass
class Difference:
    status: str            # matched, shifted, only_ours, only_statement (or differs, for aggregates)
    business_id: str
    subscriber_id: str = ""
    our_start: str = ""
    statement_start: str = ""
    our_session_id: str = ""
    statement_session_id: str = ""
    delta_seconds: float | None = None
    key: str = ""          # date or period, for aggregate grains
    our_sessions: int | None = None
    statement_sessions: int | None = None
    our_out_of_session: int | None = None
    statement_out_of_session: int | None = None
    our_amount: Decimal = Decimal(0)
    statement_amount: Decimal = Decimal(0)
    reason: str = ""


@dataclass
class AccountDiff:
    business_id: str
    our_sessions: int = 0
    statement_sessions: int = 0
    our_amount: Decimal = Decimal(0)
    statement_amount: Decimal = Decimal(0)
    gross_difference: Decimal = Decimal(0)   # sum of |money| of every difference: nothing nets out

    @property
    def session_difference(self) -> int:
        return self.statement_sessions - self.our_sessions

    @property
    def amount_difference(self) -> Decimal:
        return self.statement_amount - self.our_amount


@dataclass
class Reconciliation:
    grain: str
    counts: dict[str, int]
    accounts: list[AccountDiff]
    details: list[Difference] = field(default_factory=list)

    def within(self, tolerance: Decimal) -> bool:
        """Every account's gross difference is within ``tolerance`` (a deleted and an added
        session of one account are two differences, not zero)."""
        return all(a.gross_difference <= tolerance for a in self.accounts)


def unquote_cells(table: pa.Table) -> pa.Table:
    """A CSV statement's text cells with exactly one leading ``'`` removed: the undoing of the
    formula neutralisation of our own CSV files (``writing.neutralise``), so our own
    ``--sessions-out`` is a valid statement whatever its ids hold."""
    for i, column in enumerate(table.schema):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            col = table.column(i)
            quoted = pc.starts_with(col, "'")
            if pc.any(quoted).as_py():
                table = table.set_column(i, column.name, pc.if_else(quoted, pc.utf8_slice_codeunits(col, 1), col))
    return table


def read_statement(path: str, column_map: Mapping[str, str] | None = None) -> tuple[str, pa.Table]:
    """The statement's grain (``session``, ``day`` or ``period``) and its columns, renamed."""
    table = read_any(path)
    if not path.lower().endswith((".parquet", ".pq")):
        table = unquote_cells(table)
    column_map = dict(column_map or {})
    rename = {source: canonical for canonical, source in column_map.items()}
    table = table.rename_columns([rename.get(c, c) for c in table.column_names])
    names = set(table.column_names)
    if set(SESSION_COLUMNS) <= names:
        return "session", table
    if set(AGGREGATE_COLUMNS) <= names and ("date" in names or "period" in names):
        return ("day" if "date" in names else "period"), table
    raise InputError(Problem(path, None, None, "unknown_statement",
                             "cannot tell the statement's grain: it needs business_id, subscriber_id, start (per "
                             "session) or business_id, date|period, sessions, out_of_session_messages, amount "
                             f"(per account); it has {', '.join(table.column_names)} (use --statement-map)"))


class _Source:
    """Where statement values come from, for error messages: the file, the name each canonical
    column has in it (``--statement-map``), and each table row's data row in the file (from 1;
    rows set aside, such as ``billable = false``, keep their numbers)."""

    def __init__(self, path: str, column_map: Mapping[str, str] | None, rows: np.ndarray | None = None):
        self.path = path
        self.column_map = dict(column_map or {})
        self.rows = rows

    def column(self, canonical: str) -> str:
        return self.column_map.get(canonical, canonical)

    def row(self, index: int) -> int:
        return int(self.rows[index]) if self.rows is not None else index + 1

    def keep(self, mask) -> "_Source":
        rows = self.rows if self.rows is not None else np.arange(1, len(mask) + 1)
        return _Source(self.path, self.column_map, rows[np.asarray(mask, dtype=bool)])

    def problem(self, index: int | None, column: str, code: str, message: str, value) -> InputError:
        return InputError(Problem(self.path, None if index is None else self.row(index), self.column(column), code,
                                  message, None if value is None else str(value)))


def _strings(src: _Source, table: pa.Table, column: str) -> list:
    arr = table.column(column).combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_integer(arr.type) or pa.types.is_large_string(arr.type)):
        raise src.problem(None, column, "bad_column_type", f"must hold text, not {arr.type}", None)
    return arr.cast(pa.string()).to_pylist()


def _decimal(src: _Source, values: list, column: str) -> list[Decimal]:
    """Amounts as exact decimals (empty: 0). A bad value is one error naming the file, the row
    and the column, with the value once."""
    out = []
    for i, v in enumerate(values):
        try:
            out.append(money.parse(v if v not in (None, "") else "0"))
        except money.MoneyError:
            raise src.problem(i, column, "bad_amount", _amount_message(v), v) from None
    return out


def _amount_message(value) -> str:
    """Why a statement amount is refused (the value itself is shown once, by the Problem)."""
    try:
        negative = Decimal(str(value).strip()) < 0
    except (ArithmeticError, ValueError):
        negative = False
    if negative:
        return "amount must not be negative"
    if isinstance(value, str) and "," in value:
        return "not a decimal amount: the decimal point must be '.' (such as 868.50), without thousands separators"
    return "not a decimal amount (such as 868.50)"


def _ints(src: _Source, values: list, column: str) -> list[int]:
    out = []
    for i, v in enumerate(values):
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            raise src.problem(i, column, "bad_count", "not a whole number", v) from None
    return out


def reconcile(seg: Segmentation, tariff: Tariff, statement_path: str, tz: str, period: Period | None = None,
              time_tolerance_s: float = 60, column_map: Mapping[str, str] | None = None,
              input_tz: str = "UTC") -> Reconciliation:
    _check_plans(seg, tariff)
    grain, table = read_statement(statement_path, column_map)
    src = _Source(statement_path, column_map)
    if grain == "session":
        return _reconcile_sessions(seg, tariff, src, table, tz, period, time_tolerance_s, input_tz)
    return _reconcile_aggregate(seg, tariff, src, table, grain, tz, period)


def _check_plans(seg: Segmentation, tariff: Tariff) -> None:
    """Refuse a segmentation whose sessions of some account were computed with other limits (or
    another ``sessions`` switch) than the account's plan gives it, as the invoice does: our side
    would not be the sessions we bill."""
    off = seg.plans.sessions_off if seg.plans is not None else None
    for b, name in enumerate(seg.log.businesses.to_pylist()):
        plan = tariff.plan(name)
        if (seg.limits_of(b), not (off is not None and bool(off[b]))) != (plan.limits, plan.sessions):
            raise BillingError(f"the sessions of account {name!r} were computed with other limits than its plan in "
                               f"{tariff.source} gives it: segment the log with the tariff, segment(log, tariff)")


# ---------------------------------------------------------------------------------------------
# Per session


def _reconcile_sessions(seg, tariff, src, table, tz, period, tol_s, input_tz) -> Reconciliation:
    log = seg.log
    if "billable" in table.column_names:
        flags = [str(v).strip().lower() not in ("false", "0", "no", "") for v in _strings_any(table, "billable")]
        table = table.filter(pa.array(flags, pa.bool_()))
        src = src.keep(flags)
    businesses = _strings(src, table, "business_id")
    subscribers = _strings(src, table, "subscriber_id")
    start, bad = parse_timestamps(table.column("start").combine_chunks(), input_tz, None)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise src.problem(row, "start", "bad_timestamp", "not a timestamp", table.column("start")[row].as_py())
    sids = _strings(src, table, "session_id") if "session_id" in table.column_names else [""] * table.num_rows
    amounts = (_decimal(src, _strings_any(table, "amount"), "amount") if "amount" in table.column_names
               else [tariff.plan(b).session_price for b in businesses])      # each account's plan
    keep = np.ones(table.num_rows, dtype=bool)
    if period is not None:
        keep = (start >= period.start_ns) & (start < period.end_ns)

    ours_mask = seg.s_billable.copy()
    if period is not None:
        ours_mask &= (seg.s_start >= period.start_ns) & (seg.s_start < period.end_ns)
    ids = seg.session_ids().to_pylist()
    names_b = log.businesses.to_pylist()
    names_s = log.subscribers.to_pylist()
    ours = defaultdict(list)
    for k in np.flatnonzero(ours_mask).tolist():
        ours[(names_b[seg.s_business[k]], names_s[seg.s_subscriber[k]])].append(k)
    theirs = defaultdict(list)
    for j in np.flatnonzero(keep).tolist():
        theirs[(businesses[j], subscribers[j])].append(j)
    # every session of ours (billable or not) by conversation, to describe what we saw
    everything = defaultdict(list)
    for k in range(seg.n_sessions):
        everything[(names_b[seg.s_business[k]], names_s[seg.s_subscriber[k]])].append(k)

    tol = int(round(tol_s * NS))
    details: list[Difference] = []
    counts = {"matched": 0, "shifted": 0, "only_ours": 0, "only_statement": 0}
    accounts: dict[str, AccountDiff] = {}
    for key in sorted(set(ours) | set(theirs)):
        acc = accounts.setdefault(key[0], AccountDiff(key[0]))
        plan = tariff.plan(key[0])
        price = plan.session_price           # the account's plan (an override's session_price)
        o = sorted(ours.get(key, []), key=lambda k: seg.s_start[k])
        t = sorted(theirs.get(key, []), key=lambda j: start[j])
        acc.our_sessions += len(o)
        acc.statement_sessions += len(t)
        acc.our_amount = money.total([acc.our_amount, money.times(len(o), price)])
        acc.statement_amount = money.total([acc.statement_amount, *(amounts[j] for j in t)])
        i = j = 0
        left_o, left_t = [], []
        while i < len(o) or j < len(t):
            if i < len(o) and j < len(t) and abs(int(seg.s_start[o[i]]) - int(start[t[j]])) <= tol:
                counts["matched"] += 1
                if amounts[t[j]] != price:
                    details.append(_pair("matched", key, seg, o[i], t[j], start, ids, sids, price, amounts,
                                         f"statement charges {amounts[t[j]]} instead of {price}"))
                i += 1
                j += 1
            elif j >= len(t) or (i < len(o) and seg.s_start[o[i]] < start[t[j]]):
                left_o.append(o[i])
                i += 1
            else:
                left_t.append(t[j])
                j += 1
        # unmatched sessions of one conversation less than a window apart: the same session, shifted
        while left_o and left_t:
            best = min(((abs(int(seg.s_start[a]) - int(start[b])), a, b) for a in left_o for b in left_t))
            if best[0] >= _limits(seg, best[1]).window_ns:     # the window its sessions were computed with
                break
            _, a, b = best
            left_o.remove(a)
            left_t.remove(b)
            counts["shifted"] += 1
            delta = (int(start[b]) - int(seg.s_start[a])) / NS
            details.append(_pair("shifted", key, seg, a, b, start, ids, sids, price, amounts,
                                 f"statement starts {delta:+g} s from ours; ours: {_describe_ours(seg, a, everything[key])}"))
        for a in left_o:
            counts["only_ours"] += 1
            details.append(Difference("only_ours", key[0], key[1], our_start=_iso(seg.s_start[a]),
                                      our_session_id=ids[a], our_amount=price, our_sessions=1,
                                      reason=f"ours: {_describe_ours(seg, a, everything[key])}; "
                                             "statement: no session starts within the tolerance"))
        for b in left_t:
            counts["only_statement"] += 1
            details.append(Difference("only_statement", key[0], key[1], statement_start=_iso(start[b]),
                                      statement_session_id=sids[b] or "", statement_amount=amounts[b],
                                      statement_sessions=1,
                                      reason=f"ours: {_describe_time(seg, plan, int(start[b]), everything[key], ids)}; "
                                             "statement: one session"))
    _add_gross(accounts, details)
    return Reconciliation("session", counts, [accounts[k] for k in sorted(accounts)], details)


def _add_gross(accounts: dict[str, AccountDiff], details: list[Difference]) -> None:
    for d in details:
        acc = accounts[d.business_id]
        acc.gross_difference = money.total([acc.gross_difference, abs(d.statement_amount - d.our_amount)])


def _strings_any(table: pa.Table, column: str) -> list:
    arr = table.column(column).combine_chunks()
    return [None if v is None else str(v) for v in arr.to_pylist()]


def _iso(ts) -> str:
    return iso_utc(np.array([int(ts)]))[0].as_py()


def _pair(status, key, seg, a, b, start, ids, sids, price, amounts, reason) -> Difference:
    return Difference(status, key[0], key[1], our_start=_iso(seg.s_start[a]), statement_start=_iso(start[b]),
                      our_session_id=ids[a], statement_session_id=sids[b] or "",
                      delta_seconds=(int(start[b]) - int(seg.s_start[a])) / NS, our_amount=price,
                      statement_amount=amounts[b], our_sessions=1, statement_sessions=1, reason=reason)


def _limits(seg: Segmentation, k: int):
    """The limits session ``k`` was computed with (its account's plan)."""
    return seg.limits_of(int(seg.s_business[k]))


def _describe_ours(seg: Segmentation, k: int, conversation: list[int]) -> str:
    limits = _limits(seg, k)
    if ORIGIN_NAMES[seg.s_origin[k]] == "rollover":
        text = f"opened by the {limits.max_business_messages + 1}th business message (rollover)"
    else:
        text = "opened by a subscriber message"
    before = [x for x in conversation if x < k]
    if before:
        prev = before[-1]
        text += f" after the previous session closed ({_close_text(seg, prev)})"
    return text


def _close_text(seg: Segmentation, k: int) -> str:
    limits = _limits(seg, k)
    reason = CLOSE_NAMES[seg.s_close[k]]
    return {"expired": f"its {limits.window_hours:g} h window expired",
            "unanswered_limit": f"closed at {limits.max_unanswered} unanswered",
            "message_limit": f"closed at the {limits.max_business_messages}-message limit",
            "open": "still open"}[reason]


def _describe_time(seg: Segmentation, plan: Tariff, t: int, conversation: list[int], ids: list[str]) -> str:
    if not plan.sessions:
        return "no session: sessions are not enabled for this account's plan (every message is billed per message)"
    covering = [k for k in conversation if seg.s_start[k] <= t < seg.s_start[k] + _limits(seg, k).window_ns]
    if not covering:
        return "no session at this time (no subscriber message opened one)"
    k = covering[-1]
    if not seg.s_billable[k]:
        return f"the session at this time ({ids[k]}) is one-sided, so not billed"
    return f"inside session {ids[k]} (started {_iso(seg.s_start[k])}; {_close_text(seg, k)})"


# ---------------------------------------------------------------------------------------------
# Per account and day or month


def _reconcile_aggregate(seg, tariff, src, table, grain, tz, period) -> Reconciliation:
    businesses = _strings(src, table, "business_id")
    keys = _strings_any(table, "date" if grain == "day" else "period")
    sessions = _ints(src, _strings_any(table, "sessions"), "sessions")
    oos = _ints(src, _strings_any(table, "out_of_session_messages"), "out_of_session_messages")
    amounts = _decimal(src, _strings_any(table, "amount"), "amount")
    keys = [str(k)[:10] if grain == "day" else str(k)[:7] for k in keys]

    ours = _our_aggregates(seg, tariff, tz, grain)
    if period is not None:
        label = str(period)
        ours = {k: v for k, v in ours.items() if k[1][:7] == label}
    theirs: dict[tuple[str, str], list] = {}
    for b, k, s, o, a in zip(businesses, keys, sessions, oos, amounts):
        if period is not None and k[:7] != str(period):
            continue
        cur = theirs.setdefault((b, k), [0, 0, Decimal(0)])
        cur[0] += s
        cur[1] += o
        cur[2] = money.total([cur[2], a])
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
    _add_gross(accounts, details)
    return Reconciliation(grain, counts, [accounts[k] for k in sorted(accounts)], details)


def _our_aggregates(seg: Segmentation, tariff: Tariff, tz: str, grain: str) -> dict:
    """{(business, date or period): [billed sessions, out-of-session messages, amount]} (no fee)."""
    log = seg.log
    names = log.businesses.to_pylist()
    out: dict[tuple[str, str], list] = {}

    def labels(ts):
        if not len(ts):
            return []
        arr = pa.array(ts, pa.timestamp("ns", tz="UTC"))
        local = pc.local_timestamp(arr.cast(pa.timestamp("ns", tz=tz))) if tz != "UTC" else arr.cast(pa.timestamp("ns"))
        return pc.strftime(local, "%Y-%m-%d" if grain == "day" else "%Y-%m").to_pylist()

    billed = np.flatnonzero(seg.s_billable)
    for b, label in zip(seg.s_business[billed].tolist(), labels(seg.s_start[billed])):
        cur = out.setdefault((names[b], label), [0, 0, Decimal(0)])
        cur[0] += 1
    for (b, _), cur in out.items():
        cur[2] = money.times(cur[0], tariff.plan(b).session_price)
    rows = np.flatnonzero(seg.billing == OUT_OF_SESSION)
    key_labels = labels(log.timestamp[rows])
    # the subscriber's country only matters to an account whose plan has zones
    zoned = np.array([bool(tariff.plan(b).zones) for b in names] + [False], dtype=bool)
    country = np.zeros(len(rows), dtype=np.int64)
    if len(rows) and zoned[log.business[rows]].any():
        from .countries import region_names

        regions = region_names()
        at = np.flatnonzero(zoned[log.business[rows]])
        country[at] = seg.countries(log.subscriber[rows[at]])
    else:
        regions = ("",)
    groups: dict[tuple, int] = defaultdict(int)
    for r, label, c in zip(rows.tolist(), key_labels, country.tolist()):
        groups[(int(log.business[r]), label, bool(log.inbound[r]), int(log.mtype[r]), c)] += 1
    for (b, label, inbound, t, c), n in groups.items():
        cur = out.setdefault((names[b], label), [0, 0, Decimal(0)])
        cur[1] += n
        plan = tariff.plan(names[b])
        unit, _ = plan.lookup("inbound" if inbound else "outbound", log.message_types[t], plan.zone_of(regions[c]))
        if unit is None:
            raise BillingError(f"{tariff.source}: outbound_prices has no price for message type "
                               f"{log.message_types[t]!r} (account {names[b]!r}); add it, or a `default` price, "
                               "to [outbound_prices]")
        cur[2] = money.total([cur[2], money.times(n, unit)])
    return out


def details_table(rec: Reconciliation, places: int) -> pa.Table:
    rows = [d for d in rec.details]
    fmt = lambda a: money.fmt(a, places)  # noqa: E731
    return pa.table({
        "status": [d.status for d in rows], "business_id": [d.business_id for d in rows],
        "subscriber_id": [d.subscriber_id for d in rows], "key": [d.key for d in rows],
        "our_start": [d.our_start for d in rows], "statement_start": [d.statement_start for d in rows],
        "delta_seconds": pa.array([d.delta_seconds for d in rows], pa.float64()),
        "our_session_id": [d.our_session_id for d in rows], "statement_session_id": [d.statement_session_id for d in rows],
        "our_sessions": pa.array([d.our_sessions for d in rows], pa.int64()),
        "statement_sessions": pa.array([d.statement_sessions for d in rows], pa.int64()),
        "our_out_of_session": pa.array([d.our_out_of_session for d in rows], pa.int64()),
        "statement_out_of_session": pa.array([d.statement_out_of_session for d in rows], pa.int64()),
        "our_amount": [fmt(d.our_amount) for d in rows], "statement_amount": [fmt(d.statement_amount) for d in rows],
        "reason": [d.reason for d in rows],
    }, schema=pa.schema([("status", pa.string()), ("business_id", pa.string()), ("subscriber_id", pa.string()),
                         ("key", pa.string()), ("our_start", pa.string()), ("statement_start", pa.string()),
                         ("delta_seconds", pa.float64()), ("our_session_id", pa.string()),
                         ("statement_session_id", pa.string()), ("our_sessions", pa.int64()),
                         ("statement_sessions", pa.int64()), ("our_out_of_session", pa.int64()),
                         ("statement_out_of_session", pa.int64()), ("our_amount", pa.string()),
                         ("statement_amount", pa.string()), ("reason", pa.string())]))


def as_dict(rec: Reconciliation, places: int, tolerance: Decimal) -> dict:
    fmt = lambda a: money.fmt(a, places)  # noqa: E731
    return {
        "grain": rec.grain, "counts": rec.counts,
        "accounts": [{"business_id": a.business_id, "our_sessions": a.our_sessions,
                      "statement_sessions": a.statement_sessions, "session_difference": a.session_difference,
                      "our_amount": fmt(a.our_amount), "statement_amount": fmt(a.statement_amount),
                      "amount_difference": fmt(a.amount_difference),
                      "gross_difference": fmt(a.gross_difference)} for a in rec.accounts],
        "total_amount_difference": fmt(money.total(a.amount_difference for a in rec.accounts)),
        "tolerance": fmt(tolerance), "within_tolerance": rec.within(tolerance),
        "details": details_table(rec, places).to_pylist(),
    }
