"""Invoice lines from a segmentation (README, "The rules": billing and the accounting identity).

Counting is array work (numpy); money is Decimal, applied to the few aggregated lines only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Sequence

import numpy as np

from . import money
from .errors import BillingError
from .segment import BEFORE_CUT, C_OPEN, DUPLICATE, EXCLUDED, OUT_OF_SESSION, R_TYPE_NOT_ALLOWED, SESSION, Segmentation
from .countries import region_names
from .tariff import Tariff
from .status import PROVISIONAL, Coverage, coverage, coverage_warnings
from .timeutil import Period


@dataclass(frozen=True)
class Line:
    """Out-of-session messages of one direction and type, in one account and period."""

    direction: str
    message_type: str
    count: int
    unit_price: Decimal
    amount: Decimal
    zone: str = ""            # the zone whose price applies ("": the plan's top-level price)


@dataclass(frozen=True)
class AccountInvoice:
    business_id: str
    subscription_fee: Decimal
    sessions: int
    session_price: Decimal
    sessions_amount: Decimal
    in_session_messages: int
    out_of_session: tuple[Line, ...]
    total: Decimal                              # fee + usage, exact (as before price plans)
    usage: Decimal = Decimal(0)                 # sessions + out-of-session amounts, exact
    minimum_charge_top_up: Decimal = Decimal(0)  # max(0, minimum_monthly_charge - usage), exact
    net: Decimal = Decimal(0)                   # fee + usage + top-up, rounded half-up to ``decimals``
    tax: Decimal = Decimal(0)                   # net x tax_rate, rounded half-up to ``decimals``
    amount_due: Decimal = Decimal(0)            # net + tax
    decimals: int = 2                           # the plan's minor unit
    tax_rate: Decimal = Decimal(0)


@dataclass(frozen=True)
class RowCounts:
    """The accounting identity: every input row is exactly one of these (blank lines are outside it)."""

    read: int
    duplicates: int
    rejected: int
    excluded: int
    in_session: int
    out_of_session: int
    blank_lines: int = 0      # blank lines and all-empty rows: outside the identity (not in ``read``)
    before_cut: int = 0       # rows timestamped before a carried-in state's cut (counted, otherwise ignored)

    def balanced(self) -> bool:
        return self.read == (self.duplicates + self.rejected + self.excluded + self.before_cut + self.in_session
                             + self.out_of_session)

    def __add__(self, o: "RowCounts") -> "RowCounts":
        return RowCounts(read=self.read + o.read, duplicates=self.duplicates + o.duplicates,
                         rejected=self.rejected + o.rejected, excluded=self.excluded + o.excluded,
                         in_session=self.in_session + o.in_session, out_of_session=self.out_of_session + o.out_of_session,
                         blank_lines=self.blank_lines + o.blank_lines, before_cut=self.before_cut + o.before_cut)


@dataclass(frozen=True)
class Invoice:
    period: str
    timezone: str
    currency: str
    places: int
    rows: RowCounts
    accounts: tuple[AccountInvoice, ...]
    total: Decimal
    warnings: tuple[str, ...] = field(default=())
    net: Decimal = Decimal(0)                   # sums of the accounts' rounded figures
    tax: Decimal = Decimal(0)
    amount_due: Decimal = Decimal(0)
    decimals: int = 2                           # decimals of net, tax and amount_due (the minor unit)
    zoned: bool = False                         # the tariff has zones (the table shows a zone column)
    coverage: Coverage | None = None            # what the data covers; its status: final or provisional

    @property
    def status(self) -> str:
        return self.coverage.status if self.coverage is not None else PROVISIONAL


def row_counts(seg: Segmentation) -> RowCounts:
    counts = np.bincount(seg.billing, minlength=5)
    return RowCounts(read=seg.log.rows_read, duplicates=int(counts[DUPLICATE]), rejected=seg.log.n_rejected,
                     excluded=int(counts[EXCLUDED]), in_session=int(counts[SESSION]),
                     out_of_session=int(counts[OUT_OF_SESSION]), blank_lines=seg.log.blank_lines,
                     before_cut=int(counts[BEFORE_CUT]))


def part_tally(seg: Segmentation, period: Period, accounts: Sequence[str] | None = None) -> Tally:
    """The tally of one part of a log (a bucket of whole conversations): its loaded rows only;
    rejected rows and blank lines are counted once, by :func:`rejected_tally`."""
    counts = np.bincount(seg.billing, minlength=5)
    rows = RowCounts(read=len(seg.log), duplicates=int(counts[DUPLICATE]), rejected=0,
                     excluded=int(counts[EXCLUDED]), in_session=int(counts[SESSION]),
                     out_of_session=int(counts[OUT_OF_SESSION]), before_cut=int(counts[BEFORE_CUT]))
    return tally(seg, period, accounts, rows=rows)


def rejected_tally(rejected: int, blank_lines: int) -> Tally:
    """The rows of a partitioned run that no part holds: rejected rows (and the blank lines)."""
    return Tally(rows=RowCounts(read=rejected, duplicates=0, rejected=rejected, excluded=0, in_session=0,
                                out_of_session=0, blank_lines=blank_lines), first_ts=None)


def combine(parts, rejected: int, blank_lines: int, rows_read: int) -> Tally:
    """The parts' tallies added up with the rejected rows, checked against the rows read (a
    difference is a bug, never bad input)."""
    total = rejected_tally(rejected, blank_lines)
    for part in parts:
        total = total + part
    if total.rows.read != rows_read or not total.rows.balanced():   # pragma: no cover - a bug
        raise RuntimeError(f"rows accounted for ({total.rows.read}) differ from rows read ({rows_read})")
    return total


def account_codes(seg: Segmentation, accounts: Sequence[str] | None) -> np.ndarray | None:
    """Business codes of the selected accounts (None: all)."""
    if not accounts:
        return None
    index = {b: i for i, b in enumerate(seg.log.businesses.to_pylist())}
    return np.array(sorted(index[a] for a in set(accounts) if a in index), dtype=np.int64)


@dataclass
class Tally:
    """Everything an invoice needs, as integer counts keyed by names: tallies of disjoint parts
    of the data (buckets of conversations, cluster partitions) add up to the tally of the
    whole, so the invoice of a log billed in parts is exactly the invoice of the log."""

    rows: RowCounts
    first_ts: int | None                                   # earliest loaded timestamp
    last_ts: int | None = None                             # latest loaded timestamp
    present: set = field(default_factory=set)              # accounts with a message in the period
    seen: set = field(default_factory=set)                 # accounts with a loaded message at all
    sessions: Counter = field(default_factory=Counter)     # billable sessions starting in the period
    in_session: Counter = field(default_factory=Counter)   # period messages in billable sessions
    lines: Counter = field(default_factory=Counter)        # (account, direction, type, country) out of session
    outbound_types: Counter = field(default_factory=Counter)   # (account, type): every billed-or-free outbound
    not_allowed: Counter = field(default_factory=Counter)  # (account, type): type_not_allowed in the period
    loaded: set = field(default_factory=set)               # every account with a loaded row
    plans: dict = field(default_factory=dict)   # account -> (Limits, sessions on) its sessions were computed with
    unclassified: bool = False   # lines whose subscriber country was not looked up (country ""): no zone prices
    open_sessions: int = 0       # sessions starting in the period that are still open at the end of the data
    state_cut: int | None = None   # the cut of the carried-in state the sessions started from
    state_from: int | None = None  # where the history behind that state began

    def __add__(self, other: "Tally") -> "Tally":
        r, o = self.rows, other.rows
        firsts = [t for t in (self.first_ts, other.first_ts) if t is not None]
        lasts = [t for t in (self.last_ts, other.last_ts) if t is not None]
        return Tally(
            rows=r + o, open_sessions=self.open_sessions + other.open_sessions,
            first_ts=min(firsts) if firsts else None, last_ts=max(lasts) if lasts else None,
            present=self.present | other.present, seen=self.seen | other.seen,
            sessions=self.sessions + other.sessions, in_session=self.in_session + other.in_session,
            lines=self.lines + other.lines, outbound_types=self.outbound_types + other.outbound_types,
            not_allowed=self.not_allowed + other.not_allowed, loaded=self.loaded | other.loaded,
            plans={**self.plans, **other.plans},
            state_cut=self.state_cut if self.state_cut is not None else other.state_cut,
            state_from=self.state_from if self.state_from is not None else other.state_from,
            unclassified=self.unclassified or other.unclassified)


def _name_counts(names: list[str], codes: np.ndarray, minlength: int) -> Counter:
    counts = np.bincount(codes, minlength=minlength)
    return Counter({names[i]: int(c) for i, c in enumerate(counts.tolist()) if c})


def tally(seg: Segmentation, period: Period, accounts: Sequence[str] | None = None,
          rows: RowCounts | None = None, countries: bool | None = None) -> Tally:
    """Count what ``period``'s invoice needs from one segmentation (array work only).

    Out-of-session lines are keyed by the subscriber's country too when ``countries`` (default:
    when the tariff the segmentation was given has zones); each distinct subscriber is looked
    up once (:mod:`viber_sessions.countries`). Otherwise the country is ``""``."""
    return tally_periods(seg, [period], accounts, rows, countries)[0]


def period_index(ts: np.ndarray, periods: Sequence[Period]) -> np.ndarray:
    """Per timestamp: the index of the period of ``periods`` (sorted, disjoint) holding it, -1 for none."""
    edges = np.array([x for p in periods for x in (p.start_ns, p.end_ns)], dtype=np.int64)
    at = np.searchsorted(edges, ts, side="right") - 1
    return np.where((at >= 0) & (at % 2 == 0), at // 2, -1)


def tally_periods(seg: Segmentation, periods: Sequence[Period], accounts: Sequence[str] | None = None,
                  rows: RowCounts | None = None, countries: bool | None = None) -> list[Tally]:
    """:func:`tally` of each of ``periods`` (sorted, disjoint) in one pass over the rows: the
    period of each row is found once and is part of every counting key."""
    log = seg.log
    names = log.businesses.to_pylist()
    nb, npd = len(names), len(periods)
    keep = np.ones(nb, dtype=bool)
    selected = account_codes(seg, accounts)
    if selected is not None:
        keep[:] = False
        keep[selected] = True
    if countries is None:
        countries = seg.plan is not None and seg.plan.has_zones
    pidx = period_index(log.timestamp, periods)
    mine = keep[log.business]
    counted = (pidx >= 0) & mine
    present = np.bincount(pidx[pidx >= 0] * nb + log.business[pidx >= 0], minlength=npd * nb).reshape(npd, nb) > 0
    s_pidx = period_index(seg.s_start, periods)
    billed = seg.s_billable & (s_pidx >= 0) & keep[seg.s_business]
    sessions = _per_period(names, s_pidx[billed], seg.s_business[billed], npd)
    opened = (s_pidx >= 0) & keep[seg.s_business] & (seg.s_close == C_OPEN)
    open_counts = np.bincount(s_pidx[opened], minlength=npd)
    in_session = _per_period(names, pidx[counted & (seg.billing == SESSION)],
                             log.business[counted & (seg.billing == SESSION)], npd)
    group = _Grouping(seg, names, bool(countries))
    lines = group.count(counted & (seg.billing == OUT_OF_SESSION), pidx, npd, True, bool(countries))
    not_allowed = group.count(counted & (seg.reason == R_TYPE_NOT_ALLOWED), pidx, npd, False)
    active = (seg.billing == SESSION) | (seg.billing == OUT_OF_SESSION)
    outbound_types = group.count(active & mine & ~log.inbound, np.zeros(len(log), np.int64), 1, False)[0]
    rows = rows or row_counts(seg)
    first = int(log.timestamp.min()) if len(log) else None
    last = int(log.timestamp.max()) if len(log) else None
    plans = {name: (seg.limits_of(b), not (seg.plans is not None and bool(seg.plans.sessions_off[b])))
             for b, name in enumerate(names)}
    return [Tally(rows=rows, first_ts=first, last_ts=last,
                  present={names[b] for b in np.flatnonzero(present[k] & keep).tolist()},
                  seen=set(names) & set(accounts) if accounts else set(), sessions=sessions[k],
                  in_session=in_session[k], lines=lines[k], outbound_types=outbound_types,
                  not_allowed=not_allowed[k], loaded=set(names), unclassified=bool(lines[k]) and not countries,
                  plans=plans, open_sessions=int(open_counts[k]),
                  state_cut=seg.carry.cut_ns if seg.carry is not None else None,
                  state_from=seg.carry.data_from if seg.carry is not None else None)
            for k in range(npd)]


def _per_period(names: list[str], pidx: np.ndarray, business: np.ndarray, npd: int) -> list[Counter]:
    """Counts by (period, account name) as one Counter per period."""
    nb = len(names)
    counts = np.bincount(pidx.astype(np.int64) * nb + business, minlength=npd * nb).reshape(npd, nb)
    return [Counter({names[b]: int(counts[k, b]) for b in np.flatnonzero(counts[k]).tolist()}) for k in range(npd)]


class _Grouping:
    """Counts of rows by (period, account[, direction], type[, country]) with numpy."""

    def __init__(self, seg: Segmentation, names: list[str], countries: bool):
        self.seg, self.names = seg, names
        self.regions = region_names() if countries else ("",)

    def count(self, mask: np.ndarray, pidx: np.ndarray, npd: int, with_direction: bool,
              by_country: bool = False) -> list[Counter]:
        log, names = self.seg.log, self.names
        nb, nt = len(names), max(len(log.message_types), 1)
        key = (pidx[mask].astype(np.int64) * nb + log.business[mask]) * 2
        if with_direction:
            key += ~log.inbound[mask]
        key = key * nt + log.mtype[mask]
        nc, regions = 1, ("",)
        if by_country:
            regions = self.regions
            nc = len(regions)
            key = key * nc + self.seg.countries(log.subscriber[mask])
        bins = npd * nb * 2 * nt * nc
        if bins <= 4 * len(key) + 1024:          # a dense count is cheaper than sorting the keys
            counts = np.bincount(key, minlength=bins)
            keys = np.flatnonzero(counts)
            counts = counts[keys]
        else:
            keys, counts = np.unique(key, return_counts=True)
        out = [Counter() for _ in range(npd)]
        for k, c in zip(keys.tolist(), counts.tolist()):
            k, country = divmod(k, nc)
            k, t = divmod(k, nt)
            k, outbound = divmod(k, 2)
            period, b = divmod(k, nb)
            if with_direction:
                out[period][(names[b], "outbound" if outbound else "inbound", log.message_types[t],
                             regions[country])] = c
            else:
                out[period][(names[b], log.message_types[t])] = c
        return out


def check_plans(t: Tally, tariff: Tariff) -> None:
    """Refuse to price an account whose sessions were computed with other limits (or another
    ``sessions`` switch) than its plan gives it: the segmentation must be given the tariff."""
    for name in sorted(t.present):
        used = t.plans.get(name)
        plan = tariff.plan(name)
        if used is not None and used != (plan.limits, plan.sessions):
            raise BillingError(f"the sessions of account {name!r} were computed with other limits than its plan in "
                               f"{tariff.source} gives it: segment the log with the tariff, segment(log, tariff)")


def bill(seg: Segmentation, tariff: Tariff, period: Period, accounts: Sequence[str] | None = None) -> Invoice:
    """The invoice of ``period`` for every account with a loaded message in it (or ``accounts``)."""
    if seg.carry is not None:
        return bill_periods(seg, tariff, [period], accounts)[0]
    return price(tally(seg, period, accounts, countries=tariff.has_zones), tariff, period, seg.limits, accounts)


def bill_periods(seg: Segmentation, tariff: Tariff, periods: Sequence[Period],
                 accounts: Sequence[str] | None = None) -> list[Invoice]:
    """The invoice of each of ``periods`` (sorted, disjoint) from one segmentation: each equals
    :func:`bill` of that period alone. A carried-in state cut after the first period's start
    is refused (the state does not describe that period's beginning)."""
    if seg.carry is not None and periods and seg.carry.cut_ns > periods[0].start_ns:
        from .status import iso
        raise BillingError(f"the carried-in state is cut at {iso(seg.carry.cut_ns)}, after the start of the period "
                           f"{periods[0]} ({iso(periods[0].start_ns)}): bill from the period that starts at the cut "
                           "or later")
    tallies = tally_periods(seg, periods, accounts, countries=tariff.has_zones)
    return [price(t, tariff, p, seg.limits, accounts) for t, p in zip(tallies, periods)]


def check_accounts(t: Tally, accounts: Sequence[str] | None) -> None:
    """Refuse an ``--account`` that no loaded row has: a typo must not give a zero invoice."""
    import difflib

    for a in sorted(set(accounts or ()) - t.seen):
        close = difflib.get_close_matches(a, sorted(t.seen | t.present), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise BillingError(f"--account {a!r}: no row of the loaded log belongs to this account{hint}")


def check_prices(t: Tally, tariff: Tariff) -> None:
    """Refuse a log whose outbound messages have a type the account's plan does not price."""
    per_type = Counter()
    for (account, mtype), c in t.outbound_types.items():
        if tariff.plan(account).outbound_price(mtype) is None:
            per_type[mtype] += c
    missing = sorted(per_type.items())
    if missing:
        listed = ", ".join(f"{m!r} ({c} row{'s' if c != 1 else ''})" for m, c in missing)
        raise BillingError(f"{tariff.source}: outbound_prices has no price for message type {listed}; "
                           "add it, or a `default` price, to [outbound_prices]")


def price(t: Tally, tariff: Tariff, period: Period, limits=None, accounts: Sequence[str] | None = None) -> Invoice:
    """Apply each account's plan (Decimal prices, zones, minimum, tax, rounding) to a tally: the
    invoice lines and totals (README, "The tariff file")."""
    check_accounts(t, accounts)
    check_prices(t, tariff)
    check_plans(t, tariff)
    if t.unclassified and tariff.has_zones:
        raise BillingError(f"{tariff.source} has zones, but the subscribers' countries were not looked up: "
                           "segment the log with the tariff, segment(log, tariff), or tally(..., countries=True)")
    limits = limits or tariff.limits
    grouped: dict[str, dict[tuple[str, str, str], list]] = {}
    for (b, direction, mtype, country), c in t.lines.items():
        plan = tariff.plan(b)
        unit, zone = plan.lookup(direction, mtype, plan.zone_of(country))
        entry = grouped.setdefault(b, {}).setdefault((direction, mtype, zone), [0, unit])
        entry[0] += c
    result = []
    for b in sorted(t.present):
        plan = tariff.plan(b)
        lines = tuple(Line(d, m, c, unit, money.times(c, unit), zone)
                      for (d, m, zone), (c, unit) in sorted(grouped.get(b, {}).items()))
        s_amount = money.times(t.sessions[b], plan.session_price)
        usage = money.total([s_amount, *(l.amount for l in lines)])
        top_up = max(Decimal(0), money.diff(plan.minimum_monthly_charge, usage))
        total = money.total([plan.monthly_fee, usage])
        net = money.round_half_up(money.total([total, top_up]), plan.decimals)
        tax = money.round_half_up(money.product(net, plan.tax_rate), plan.decimals)
        result.append(AccountInvoice(business_id=b, subscription_fee=plan.monthly_fee, sessions=t.sessions[b],
                                     session_price=plan.session_price, sessions_amount=s_amount,
                                     in_session_messages=t.in_session[b], out_of_session=lines, total=total,
                                     usage=usage, minimum_charge_top_up=top_up, net=net, tax=tax,
                                     amount_due=money.total([net, tax]), decimals=plan.decimals,
                                     tax_rate=plan.tax_rate))
    longest = max([limits, *(tariff.plan(b).limits for b in t.present)], key=lambda l: l.window_ns)
    covered = coverage(t.first_ts, t.last_ts, period, longest.window_ns, t.open_sessions, t.state_cut, t.state_from)
    return Invoice(period=str(period), timezone=period.tz, currency=tariff.currency, places=tariff.places,
                   rows=t.rows, accounts=tuple(result), total=money.total(a.total for a in result),
                   warnings=tuple(warnings(t, period, longest, accounts) + override_warnings(t, tariff)),
                   net=money.total(a.net for a in result), tax=money.total(a.tax for a in result),
                   amount_due=money.total(a.amount_due for a in result),
                   decimals=max(p.decimals for p in tariff.plans()), zoned=tariff.has_zones,
                   coverage=covered)


def override_warnings(t: Tally, tariff: Tariff) -> list[str]:
    """An account override naming no account of the loaded log (a typo would bill the account at
    the top-level prices): one warning each, with a "did you mean"."""
    import difflib

    if t.first_ts is None:
        return []
    out = []
    for name in sorted(set(tariff.accounts) - t.loaded):
        close = difflib.get_close_matches(name, sorted(t.loaded), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(f"{tariff.source}: the override [accounts.{quoted}] names no account of the loaded log{hint}; "
                   "it is not used")
    return out


def warnings(t: Tally, period: Period, limits, accounts: Sequence[str] | None = None) -> list[str]:
    """Things a reader of the invoice should know (each one line, in a fixed order)."""
    out: list[str] = []
    if t.first_ts is None:
        return ["no message was loaded"]
    out += coverage_warnings(t.first_ts, t.last_ts, period, limits, t.state_cut)
    if not t.present:
        out.append(f"no account has a message timestamped in {period}")
    for a in sorted(set(accounts or ()) - t.present):
        out.append(f"--account {a!r}: no message of this account is timestamped in {period}")
    by_account: dict[str, list] = {}
    for (b, mtype), c in t.not_allowed.items():
        if b in t.present:
            by_account.setdefault(b, []).append((mtype, c))
    for b in sorted(by_account):
        types = sorted(m for m, _ in by_account[b])
        n = sum(c for _, c in by_account[b])
        out.append(f"account {b!r}: {n} business message(s) of a type not allowed in a "
                   f"session ({', '.join(types)}) sent while a session was open; billed per message")
    if t.rows.rejected:
        out.append(f"{t.rows.rejected} invalid row(s) were rejected and billed nowhere (see --rejects)")
    return out
