"""The same log priced under several tariffs or limits, side by side, through the invoice path
(:func:`compare_runs`): in memory the log is loaded once and segmented once per distinct set of
limits (:func:`compare`); out of core and on Dask each variant is one ``core.run``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Sequence

from . import money
from .billing import Invoice, bill
from .core import Engine, Local, Request, Result, prepare, run, with_notices
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
        variants.append(Variant(f"{base_name} with {label}",
                                base.map_plans(lambda p: p.replace(limits=p.limits.replace(**changes)))))
    if per_message:
        variants.append(Variant(f"{base_name} per message (no sessions, no fee)", base, per_message=True))
    return variants


def per_message_tariff(tariff: Tariff, log: MessageLog | None = None) -> Tariff:
    """No sessions in any account's plan (``sessions = false``: no message opens one) and no fee
    for the sessions feature: every outbound message is billed at its type price (and zone),
    every inbound one at the inbound price. (``log`` is not needed; kept for older callers.)"""
    return tariff.map_plans(lambda plan: plan.replace(monthly_fee=Decimal(0), sessions=False))


def variant_tariff(v: Variant) -> Tariff:
    """The tariff a variant is billed with."""
    return per_message_tariff(v.tariff) if v.per_message else v.tariff


def compare_runs(request: Request, variants: Sequence[Variant], engine: Engine | None = None, progress=None
                 ) -> tuple[list[tuple[Variant, Invoice]], Result]:
    """Each variant's invoice (with the reader's notices among its warnings, as ``core.run``
    gives them) and the first variant's result (its rejected rows, sources and notices). In
    memory (``engine`` None or ``Local()``) the log is loaded once for every variant; other
    engines bill each variant by ``core.run(request, engine)`` with the variant's tariff."""
    if engine is None or isinstance(engine, Local):
        return _in_memory(request, variants, progress)
    out = []
    first = None
    for v in variants:
        result = run(dataclasses.replace(request, tariff=variant_tariff(v)), engine, progress)
        first = first or result
        out.append((v, result.invoice))
    return out, first


def _in_memory(request: Request, variants: Sequence[Variant], progress=None
               ) -> tuple[list[tuple[Variant, Invoice]], Result]:
    period = Period.parse(request.period, request.tz)
    log, _ = prepare(dataclasses.replace(request, tariff=variant_tariff(variants[0])))
    billed = billed_variants(log, variants, period, request.accounts, progress)
    out = [(v, with_notices(inv, log.notices)) for v, inv, _ in billed]
    v, _, seg = billed[0]
    return out, Result(log=log, tariff=variant_tariff(v), segmentation=seg, invoice=out[0][1])


def _plan_key(tariff: Tariff) -> tuple:
    """What the segmentation depends on: each plan's limits and sessions switch."""
    return ((tariff.limits, tariff.sessions),
            tuple(sorted((a, p.limits, p.sessions) for a, p in tariff.accounts.items())))


def compare(log: MessageLog, variants: Sequence[Variant], period: Period,
            accounts: Sequence[str] | None = None) -> list[tuple[Variant, Invoice]]:
    """Each variant's invoice, computed by the invoice path (segment + bill, each account under
    its plan); segmentations are shared between variants whose plans have the same limits."""
    return [(v, inv) for v, inv, _ in billed_variants(log, variants, period, accounts)]


def billed_variants(log: MessageLog, variants: Sequence[Variant], period: Period,
                    accounts: Sequence[str] | None = None, progress=None) -> list[tuple[Variant, Invoice, object]]:
    """``(variant, invoice, segmentation)`` per variant (see :func:`compare`); ``progress(what,
    done, total)`` is told as each variant is billed."""
    cache = {}
    out = []
    for k, v in enumerate(variants, start=1):
        tariff = variant_tariff(v)
        key = _plan_key(tariff)
        seg = cache.get(key)
        if seg is None:
            seg = cache[key] = segment(log, tariff)
        out.append((v, bill(seg, tariff, period, accounts), seg))
        if progress:
            progress("variants", k, len(variants))
    return out


def comparison_dict(results: list[tuple[Variant, Invoice]], invoice_dict) -> dict:
    """Per account and in total: each variant's total (exact) and its difference from the
    first, and each variant's net, tax and amount due (rounded to the minor unit) with the
    difference of the amount due from the first: what the client would pay under each plan."""
    names = sorted({a.business_id for _, inv in results for a in inv.accounts})
    places = max(inv.places for _, inv in results)
    decimals = max(inv.decimals for _, inv in results)
    fmt = lambda a: money.fmt(a, places)  # noqa: E731
    rounded = lambda a: money.fmt(a, decimals)  # noqa: E731

    def figure(inv: Invoice, b: str, name: str) -> Decimal:
        return next((getattr(a, name) for a in inv.accounts if a.business_id == b), Decimal(0))

    def figures(get) -> dict:
        base = get(results[0][1], "amount_due")
        return {"totals": [fmt(get(inv, "total")) for _, inv in results],
                "differences": [fmt(money.diff(get(inv, "total"), get(results[0][1], "total"))) for _, inv in results],
                "net": [rounded(get(inv, "net")) for _, inv in results],
                "tax": [rounded(get(inv, "tax")) for _, inv in results],
                "amount_due": [rounded(get(inv, "amount_due")) for _, inv in results],
                "amount_due_differences": [rounded(money.diff(get(inv, "amount_due"), base)) for _, inv in results]}

    base = results[0][1]
    whole = figures(lambda inv, name: getattr(inv, name))
    return {
        "period": base.period, "timezone": base.timezone, "currency": base.currency,
        "variants": [{"name": v.name, "tariff": v.tariff.source, "per_message": v.per_message,
                      "invoice": invoice_dict(inv)} for v, inv in results],
        "accounts": [{"business_id": b, **figures(lambda inv, name, b=b: figure(inv, b, name))} for b in names],
        "totals": whole["totals"],
        "differences": whole["differences"],
        "net": whole["net"], "tax": whole["tax"], "amount_due": whole["amount_due"],
        "amount_due_differences": whole["amount_due_differences"],
    }


def render_table(doc: dict, console) -> None:
    """The comparison on a terminal: the variants, then one row per account and variant with the
    total, net, tax, amount due and the difference of the amount due from variant [1]."""
    from .render import fit_table

    cols = ["business_id", "variant", "total", "net", "tax", "amount due", "due - [1]"]
    rows = []
    keys = ("totals", "net", "tax", "amount_due", "amount_due_differences")
    for a in doc["accounts"] + [{"business_id": "TOTAL", **{key: doc[key] for key in keys}}]:
        for k in range(len(doc["variants"])):
            rows.append([a["business_id"] if k == 0 else "", f"[{k + 1}]", a["totals"][k], a["net"][k], a["tax"][k],
                         a["amount_due"][k], a["amount_due_differences"][k] if k else ""])
    for k, v in enumerate(doc["variants"]):
        console.print(f"[{k + 1}] {v['name']}", markup=False)
    fit_table(console, cols, rows, set(cols[2:]), title=f"{doc['period']} ({doc['timezone']}), {doc['currency']}")
