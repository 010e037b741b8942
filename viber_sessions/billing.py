"""Invoice lines from a segmentation (README, "The rules": billing and the accounting identity).

Counting is array work (numpy, :mod:`viber_sessions.tally`); money is Decimal, applied to the
few aggregated lines only (:func:`price`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Sequence

from . import money
from .errors import BillingError
from .segment import Segmentation
from .status import PROVISIONAL, Coverage, coverage, coverage_warnings
from .tally import (RowCounts, Tally, account_codes, add_periods, combine, part_tallies, part_tally,  # noqa: F401
                    period_index, rejected_tally, row_counts, tally, tally_periods)
from .tariff import Tariff
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
    if seg.carry is not None:
        check_cut(seg.carry.cut_ns, periods)
    tallies = tally_periods(seg, periods, accounts, countries=tariff.has_zones)
    return [price(t, tariff, p, seg.limits, accounts) for t, p in zip(tallies, periods)]


def check_cut(cut_ns: int, periods: Sequence[Period]) -> None:
    """Refuse a carried-in state cut after the first period's start (it does not describe that
    period's beginning)."""
    if periods and cut_ns > periods[0].start_ns:
        from .status import iso
        raise BillingError(f"the carried-in state is cut at {iso(cut_ns)}, after the start of the period "
                           f"{periods[0]} ({iso(periods[0].start_ns)}): bill from the period that starts at the cut "
                           "or later")


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
