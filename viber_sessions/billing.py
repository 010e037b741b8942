"""Invoice lines from a segmentation (RULES.md sections 6 and 7).

Counting is array work (numpy); money is Decimal, applied to the few aggregated lines only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable, Sequence

import numpy as np

from . import money
from .errors import BillingError
from .segment import DUPLICATE, EXCLUDED, OUT_OF_SESSION, R_TYPE_NOT_ALLOWED, SESSION, Segmentation
from .tariff import Tariff
from .timeutil import NS, Period, iso_utc


@dataclass(frozen=True)
class Line:
    """Out-of-session messages of one direction and type, in one account and period."""

    direction: str
    message_type: str
    count: int
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class AccountInvoice:
    business_id: str
    subscription_fee: Decimal
    sessions: int
    session_price: Decimal
    sessions_amount: Decimal
    in_session_messages: int
    out_of_session: tuple[Line, ...]
    total: Decimal


@dataclass(frozen=True)
class RowCounts:
    """RULES.md section 7: every input row is exactly one of these."""

    read: int
    duplicates: int
    rejected: int
    excluded: int
    in_session: int
    out_of_session: int

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


def row_counts(seg: Segmentation) -> RowCounts:
    counts = np.bincount(seg.billing, minlength=4)
    return RowCounts(read=seg.log.rows_read, duplicates=int(counts[DUPLICATE]), rejected=seg.log.n_rejected,
                     excluded=int(counts[EXCLUDED]), in_session=int(counts[SESSION]),
                     out_of_session=int(counts[OUT_OF_SESSION]))


def account_codes(seg: Segmentation, accounts: Sequence[str] | None) -> np.ndarray | None:
    """Business codes of the selected accounts (None: all)."""
    if not accounts:
        return None
    names = seg.log.businesses.to_pylist()
    index = {b: i for i, b in enumerate(names)}
    return np.array(sorted(index[a] for a in set(accounts) if a in index), dtype=np.int64)


def check_prices(seg: Segmentation, tariff: Tariff, selected: np.ndarray | None = None) -> None:
    """Refuse a log whose outbound messages have a type the tariff does not price."""
    log = seg.log
    relevant = ~log.inbound & ((seg.billing == SESSION) | (seg.billing == OUT_OF_SESSION))
    if selected is not None:
        relevant &= np.isin(log.business, selected)
    counts = np.bincount(log.mtype[relevant], minlength=len(log.message_types))
    missing = [(t, int(c)) for t, c in zip(log.message_types, counts) if c and tariff.outbound_price(t) is None]
    if missing:
        listed = ", ".join(f"{t!r} ({c} row{'s' if c != 1 else ''})" for t, c in missing)
        raise BillingError(f"{tariff.source}: outbound_prices has no price for message type {listed}; "
                           "add it, or a `default` price, to [outbound_prices]")


def bill(seg: Segmentation, tariff: Tariff, period: Period, accounts: Sequence[str] | None = None) -> Invoice:
    """The invoice of ``period`` for every account with a loaded message in it (or ``accounts``)."""
    log = seg.log
    selected = account_codes(seg, accounts)
    check_prices(seg, tariff, selected)
    lo, hi = period.start_ns, period.end_ns
    nb = len(log.businesses)
    in_period = (log.timestamp >= lo) & (log.timestamp < hi)
    present = np.bincount(log.business[in_period], minlength=nb) > 0
    if selected is not None:
        keep = np.zeros(nb, dtype=bool)
        keep[selected] = True
        present &= keep

    billed = seg.s_billable & (seg.s_start >= lo) & (seg.s_start < hi)
    sessions = np.bincount(seg.s_business[billed], minlength=nb)
    in_session = np.bincount(log.business[in_period & (seg.billing == SESSION)], minlength=nb)

    oos = in_period & (seg.billing == OUT_OF_SESSION)
    nt = max(len(log.message_types), 1)
    key = (log.business[oos].astype(np.int64) * 2 + ~log.inbound[oos]) * nt + log.mtype[oos]
    keys, counts = np.unique(key, return_counts=True)
    lines_by_account: dict[int, list[Line]] = {}
    for k, c in zip(keys.tolist(), counts.tolist()):
        b, rest = divmod(k, 2 * nt)
        outbound, t = divmod(rest, nt)
        direction = "outbound" if outbound else "inbound"
        mtype = log.message_types[t]
        unit = tariff.unit_price(direction, mtype)
        lines_by_account.setdefault(b, []).append(Line(direction, mtype, c, unit, money.times(c, unit)))

    names = log.businesses.to_pylist()
    result = []
    for b in sorted(np.flatnonzero(present).tolist(), key=lambda i: names[i]):
        lines = tuple(sorted(lines_by_account.get(b, []), key=lambda l: (l.direction, l.message_type)))
        s_amount = money.times(int(sessions[b]), tariff.session_price)
        total = money.total([tariff.monthly_fee, s_amount, *(l.amount for l in lines)])
        result.append(AccountInvoice(business_id=names[b], subscription_fee=tariff.monthly_fee,
                                     sessions=int(sessions[b]), session_price=tariff.session_price,
                                     sessions_amount=s_amount, in_session_messages=int(in_session[b]),
                                     out_of_session=lines, total=total))
    return Invoice(period=str(period), timezone=period.tz, currency=tariff.currency, places=tariff.places,
                   rows=row_counts(seg), accounts=tuple(result), total=money.total(a.total for a in result),
                   warnings=tuple(warnings(seg, period, present)))


def warnings(seg: Segmentation, period: Period, present: np.ndarray) -> list[str]:
    """Things a reader of the invoice should know (each one line, in a fixed order)."""
    log, limits = seg.log, seg.limits
    out: list[str] = []
    lo, hi = period.start_ns, period.end_ns
    if len(log) == 0:
        out.append("no message was loaded")
        return out
    first = int(log.timestamp.min())
    if first > lo - limits.window_ns:
        out.append(f"the loaded data starts at {iso_utc(np.array([first]))[0].as_py()}, less than one session "
                   f"window ({limits.window_hours:g} h) before the period start "
                   f"{iso_utc(np.array([lo]))[0].as_py()}: sessions that began before the data are not seen, "
                   "so messages of such sessions may be billed as out of session")
    if not present.any():
        out.append(f"no account has a message timestamped in {period}")
    in_period = (log.timestamp >= lo) & (log.timestamp < hi)
    bad = in_period & (seg.reason == R_TYPE_NOT_ALLOWED) & present[log.business]
    if bad.any():
        names = log.businesses.to_pylist()
        for b in sorted(np.unique(log.business[bad]).tolist(), key=lambda i: names[i]):
            sel = bad & (log.business == b)
            types = sorted({log.message_types[t] for t in np.unique(log.mtype[sel]).tolist()})
            out.append(f"account {names[b]!r}: {int(sel.sum())} business message(s) of a type not allowed in a "
                       f"session ({', '.join(types)}) sent while a session was open; billed per message")
    if log.n_rejected:
        out.append(f"{log.n_rejected} invalid row(s) were rejected and billed nowhere (see --rejects)")
    return out
