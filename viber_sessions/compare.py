"""The same log priced under several tariffs or limits, side by side, through the invoice path."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Sequence

from . import money
from .billing import Invoice, bill
from .load import MessageLog
from .segment import segment
from .tariff import Tariff
from .timeutil import Period


@dataclass(frozen=True)
class Variant:
    name: str
    tariff: Tariff
    per_message: bool = False


def what_if_variants(tariffs: Sequence[tuple[str, Tariff]], per_message: bool = False,
                     window_hours: float | None = None, max_unanswered: int | None = None,
                     max_business_messages: int | None = None,
                     after_message_limit: str | None = None) -> list[Variant]:
    """The tariffs as given, then what-ifs derived from the first one: its limits changed as the
    options say (one variant), and billing every message at its type price (``per_message``)."""
    variants = [Variant(name, t) for name, t in tariffs]
    base_name, base = tariffs[0]
    changes = {k: v for k, v in (("window_hours", window_hours), ("max_unanswered", max_unanswered),
                                 ("max_business_messages", max_business_messages),
                                 ("after_message_limit", after_message_limit)) if v is not None}
    if changes:
        label = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in changes.items())
        variants.append(Variant(f"{base_name} with {label}", base.replace(limits=base.limits.replace(**changes))))
    if per_message:
        variants.append(Variant(f"{base_name} per message (no sessions, no fee)", base, per_message=True))
    return variants


def per_message_tariff(tariff: Tariff, log: MessageLog) -> Tariff:
    """No session can open (no message type may open one), and no fee for the sessions feature:
    every outbound message is billed at its type price, every inbound one at the inbound price."""
    every_type = frozenset(log.message_types) | tariff.limits.non_opening_types
    return tariff.replace(monthly_fee=Decimal(0), limits=tariff.limits.replace(non_opening_types=every_type))


def compare(log: MessageLog, variants: Sequence[Variant], period: Period,
            accounts: Sequence[str] | None = None) -> list[tuple[Variant, Invoice]]:
    """Each variant's invoice, computed by the invoice path (segment + bill); segmentations are
    shared between variants with the same limits."""
    cache = {}
    out = []
    for v in variants:
        tariff = per_message_tariff(v.tariff, log) if v.per_message else v.tariff
        seg = cache.get(tariff.limits)
        if seg is None:
            seg = cache[tariff.limits] = segment(log, tariff.limits)
        out.append((v, bill(seg, tariff, period, accounts)))
    return out


def comparison_dict(results: list[tuple[Variant, Invoice]], invoice_dict) -> dict:
    """Per account and in total: each variant's total and its difference from the first."""
    names = sorted({a.business_id for _, inv in results for a in inv.accounts})
    places = max(inv.places for _, inv in results)
    fmt = lambda a: money.fmt(a, places)  # noqa: E731

    def account_total(inv: Invoice, b: str) -> Decimal:
        return next((a.total for a in inv.accounts if a.business_id == b), Decimal(0))

    base = results[0][1]
    return {
        "period": base.period, "timezone": base.timezone, "currency": base.currency,
        "variants": [{"name": v.name, "tariff": v.tariff.source, "per_message": v.per_message,
                      "invoice": invoice_dict(inv)} for v, inv in results],
        "accounts": [{"business_id": b,
                      "totals": [fmt(account_total(inv, b)) for _, inv in results],
                      "differences": [fmt(money.diff(account_total(inv, b), account_total(base, b))) for _, inv in results]}
                     for b in names],
        "totals": [fmt(inv.total) for _, inv in results],
        "differences": [fmt(money.diff(inv.total, base.total)) for _, inv in results],
    }


def render_table(doc: dict, console) -> None:
    """The comparison on a terminal: the variants, then totals and differences per account."""
    from .render import fit_table

    cols = ["business_id"]
    for k in range(len(doc["variants"])):
        cols += [f"[{k + 1}] total"] + ([f"[{k + 1}] - [1]"] if k else [])
    rows = []
    for a in doc["accounts"] + [{"business_id": "TOTAL", "totals": doc["totals"], "differences": doc["differences"]}]:
        cells = [a["business_id"]]
        for k, (t, d) in enumerate(zip(a["totals"], a["differences"])):
            cells += [t] if k == 0 else [t, d]
        rows.append(cells)
    for k, v in enumerate(doc["variants"]):
        console.print(f"[{k + 1}] {v['name']}", markup=False)
    fit_table(console, cols, rows, set(cols[1:]), title=f"{doc['period']} ({doc['timezone']}), {doc['currency']}")
