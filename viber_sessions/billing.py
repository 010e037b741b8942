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
from .segment import DUPLICATE, EXCLUDED, OUT_OF_SESSION, R_TYPE_NOT_ALLOWED, SESSION, Segmentation
from .countries import region_names
from .tariff import Tariff
from .timeutil import Period, iso_utc


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

    def balanced(self) -> bool:
        return self.read == self.duplicates + self.rejected + self.excluded + self.in_session + self.out_of_session


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


def row_counts(seg: Segmentation) -> RowCounts:
    counts = np.bincount(seg.billing, minlength=4)
    return RowCounts(read=seg.log.rows_read, duplicates=int(counts[DUPLICATE]), rejected=seg.log.n_rejected,
                     excluded=int(counts[EXCLUDED]), in_session=int(counts[SESSION]),
                     out_of_session=int(counts[OUT_OF_SESSION]), blank_lines=seg.log.blank_lines)


def part_tally(seg: Segmentation, period: Period, accounts: Sequence[str] | None = None) -> Tally:
    """The tally of one part of a log (a bucket of whole conversations): its loaded rows only;
    rejected rows and blank lines are counted once, by :func:`rejected_tally`."""
    counts = np.bincount(seg.billing, minlength=4)
    rows = RowCounts(read=len(seg.log), duplicates=int(counts[DUPLICATE]), rejected=0,
                     excluded=int(counts[EXCLUDED]), in_session=int(counts[SESSION]),
                     out_of_session=int(counts[OUT_OF_SESSION]))
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

    def __add__(self, other: "Tally") -> "Tally":
        r, o = self.rows, other.rows
        firsts = [t for t in (self.first_ts, other.first_ts) if t is not None]
        lasts = [t for t in (self.last_ts, other.last_ts) if t is not None]
        return Tally(
            rows=RowCounts(read=r.read + o.read, duplicates=r.duplicates + o.duplicates, rejected=r.rejected + o.rejected,
                           excluded=r.excluded + o.excluded, in_session=r.in_session + o.in_session,
                           out_of_session=r.out_of_session + o.out_of_session,
                           blank_lines=r.blank_lines + o.blank_lines),
            first_ts=min(firsts) if firsts else None, last_ts=max(lasts) if lasts else None,
            present=self.present | other.present, seen=self.seen | other.seen,
            sessions=self.sessions + other.sessions, in_session=self.in_session + other.in_session,
            lines=self.lines + other.lines, outbound_types=self.outbound_types + other.outbound_types,
            not_allowed=self.not_allowed + other.not_allowed, loaded=self.loaded | other.loaded,
            plans={**self.plans, **other.plans},
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
    log = seg.log
    names = log.businesses.to_pylist()
    nb = len(names)
    selected = account_codes(seg, accounts)
    keep = np.ones(nb, dtype=bool)
    if selected is not None:
        keep[:] = False
        keep[selected] = True
    if countries is None:
        countries = seg.plan is not None and seg.plan.has_zones
    lo, hi = period.start_ns, period.end_ns
    in_period = (log.timestamp >= lo) & (log.timestamp < hi)
    mine = keep[log.business]
    present = np.bincount(log.business[in_period], minlength=nb) > 0
    billed = seg.s_billable & (seg.s_start >= lo) & (seg.s_start < hi) & keep[seg.s_business]

    def grouped(mask: np.ndarray, with_direction: bool, by_country: bool = False) -> Counter:
        nt = max(len(log.message_types), 1)
        key = log.business[mask].astype(np.int64) * 2
        if with_direction:
            key += ~log.inbound[mask]
        key = key * nt + log.mtype[mask]
        nc, regions = 1, ("",)
        if by_country:
            regions = region_names()
            nc = len(regions)
            key = key * nc + seg.countries(log.subscriber[mask])
        bins = nb * 2 * nt * nc
        if bins <= 4 * len(key) + 1024:          # a dense count is cheaper than sorting the keys
            counts = np.bincount(key, minlength=bins)
            keys = np.flatnonzero(counts)
            counts = counts[keys]
        else:
            keys, counts = np.unique(key, return_counts=True)
        out = Counter()
        for k, c in zip(keys.tolist(), counts.tolist()):
            k, country = divmod(k, nc)
            b, rest = divmod(k, 2 * nt)
            outbound, t = divmod(rest, nt)
            if with_direction:
                out[(names[b], "outbound" if outbound else "inbound", log.message_types[t], regions[country])] = c
            else:
                out[(names[b], log.message_types[t])] = c
        return out

    active = (seg.billing == SESSION) | (seg.billing == OUT_OF_SESSION)
    lines = grouped(in_period & mine & (seg.billing == OUT_OF_SESSION), True, bool(countries))
    return Tally(
        rows=rows or row_counts(seg),
        first_ts=int(log.timestamp.min()) if len(log) else None,
        last_ts=int(log.timestamp.max()) if len(log) else None,
        present={names[b] for b in np.flatnonzero(present & keep).tolist()},
        seen=set(names) & set(accounts) if accounts else set(),
        sessions=_name_counts(names, seg.s_business[billed], nb),
        in_session=_name_counts(names, log.business[in_period & mine & (seg.billing == SESSION)], nb),
        lines=lines,
        outbound_types=grouped(active & mine & ~log.inbound, False),
        not_allowed=grouped(in_period & mine & (seg.reason == R_TYPE_NOT_ALLOWED), False),
        loaded=set(names),
        unclassified=bool(lines) and not countries,
        plans={name: (seg.limits_of(b), not (seg.plans is not None and bool(seg.plans.sessions_off[b])))
               for b, name in enumerate(names)},
    )


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
    return price(tally(seg, period, accounts, countries=tariff.has_zones), tariff, period, seg.limits, accounts)


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
    coverage = max([limits, *(tariff.plan(b).limits for b in t.present)], key=lambda l: l.window_ns)
    return Invoice(period=str(period), timezone=period.tz, currency=tariff.currency, places=tariff.places,
                   rows=t.rows, accounts=tuple(result), total=money.total(a.total for a in result),
                   warnings=tuple(warnings(t, period, coverage, accounts) + override_warnings(t, tariff)),
                   net=money.total(a.net for a in result), tax=money.total(a.tax for a in result),
                   amount_due=money.total(a.amount_due for a in result),
                   decimals=max(p.decimals for p in tariff.plans()), zoned=tariff.has_zones)


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
    out += coverage_warnings(t.first_ts, t.last_ts, period, limits)
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


def coverage_warnings(first: int, last: int, period: Period, limits) -> list[str]:
    """What part of ``period`` the loaded data (from ``first`` to ``last``, ns) does not cover."""
    at = lambda ns: iso_utc(np.array([ns]))[0].as_py()  # noqa: E731
    lo, hi, window = period.start_ns, period.end_ns, limits.window_ns
    hours = f"{limits.window_hours:g} h"
    if last < lo or first >= hi:
        return [f"the loaded data ({at(first)} to {at(last)}) does not reach into the period {at(lo)} to {at(hi)}"]
    out = []
    if first > lo:
        out.append(f"the loaded data starts at {at(first)}, after the period start {at(lo)}: the period is not "
                   f"covered from {at(lo)} to {at(first)}, and sessions that began before the data are not seen")
    elif first > lo - window:
        out.append(f"the loaded data starts at {at(first)}, less than one session window ({hours}) before the "
                   f"period start {at(lo)}: sessions that began before {at(first)} are not seen, so messages of "
                   "such sessions may be billed as out of session")
    if last < hi - window:
        out.append(f"the loaded data ends at {at(last)}, more than one session window ({hours}) before the period "
                   f"end {at(hi)}: the period is not covered from {at(last)} to {at(hi)}")
    return out
