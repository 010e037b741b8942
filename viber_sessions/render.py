"""Output: the invoice as a rich table, JSON or CSV (the audit tables are in :mod:`.tables`).

Files are written through :mod:`viber_sessions.writing` (staged, committed as one set).
"""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pyarrow as pa

from . import money, writing
from .billing import Invoice
from .writing import atomic_path, output_format

# ---------------------------------------------------------------------------------------------
# The invoice


def invoice_dict(inv: Invoice, provenance: dict | None = None) -> dict:
    """The invoice as JSON-ready data; money as exact decimal strings. Line amounts, ``total`` and
    ``usage`` are exact (``inv.places`` decimals at least); ``net``, ``tax`` and ``amount_due``
    have exactly the minor unit's decimals."""
    fmt = lambda amount: money.fmt(amount, inv.places)  # noqa: E731
    doc = {
        "period": inv.period,
        "status": inv.status,
        "coverage": inv.coverage.as_dict() if inv.coverage is not None else None,
        "timezone": inv.timezone,
        "currency": inv.currency,
        "rows": {"read": inv.rows.read, "duplicates": inv.rows.duplicates, "rejected": inv.rows.rejected,
                 "excluded": inv.rows.excluded, "before_cut": inv.rows.before_cut,
                 "in_session": inv.rows.in_session, "out_of_session": inv.rows.out_of_session,
                 "blank_lines": inv.rows.blank_lines},
        "accounts": [{
            "business_id": a.business_id,
            "subscription_fee": fmt(a.subscription_fee),
            "sessions": {"count": a.sessions, "unit_price": fmt(a.session_price), "amount": fmt(a.sessions_amount)},
            "in_session_messages": a.in_session_messages,
            "out_of_session": [{"direction": l.direction, "message_type": l.message_type, "zone": l.zone,
                                "count": l.count, "unit_price": fmt(l.unit_price), "amount": fmt(l.amount)}
                               for l in a.out_of_session],
            "total": fmt(a.total),
            "usage": fmt(a.usage),
            "minimum_charge_top_up": fmt(a.minimum_charge_top_up),
            "net": money.fmt(a.net, a.decimals),
            "tax": money.fmt(a.tax, a.decimals),
            "amount_due": money.fmt(a.amount_due, a.decimals),
        } for a in inv.accounts],
        "total": fmt(inv.total),
        "net": money.fmt(inv.net, inv.decimals),
        "tax": money.fmt(inv.tax, inv.decimals),
        "amount_due": money.fmt(inv.amount_due, inv.decimals),
        "warnings": list(inv.warnings),
    }
    if provenance is not None:
        doc["generated_by"] = provenance
    return doc


def invoice_json(inv: Invoice, provenance: dict | None = None) -> str:
    return json.dumps(invoice_dict(inv, provenance), indent=2, ensure_ascii=False) + "\n"


def invoices_dict(invoices, provenance: dict | None = None) -> dict:
    """Several periods' invoices: ``{"invoices": [...], "generated_by": ...}``."""
    doc: dict = {"invoices": [invoice_dict(inv) for inv in invoices]}
    if provenance is not None:
        doc["generated_by"] = provenance
    return doc


def invoices_json(invoices, provenance: dict | None = None) -> str:
    return json.dumps(invoices_dict(invoices, provenance), indent=2, ensure_ascii=False) + "\n"


def invoices_csv(invoices) -> str:
    """The CSV lines of every period, one header (the ``period`` column tells them apart)."""
    parts = [invoice_csv(inv) for inv in invoices]
    return parts[0] + "".join(p.split("\n", 1)[1] for p in parts[1:])


def invoices_table(invoices, console) -> None:
    """Each period's invoice as tables, one after another."""
    for k, inv in enumerate(invoices):
        if k:
            console.print("", markup=False)
        invoice_table(inv, console)


INVOICE_CSV_COLUMNS = ("period", "business_id", "item", "direction", "message_type", "zone", "count", "unit_price",
                       "amount")


def invoice_rows(inv: Invoice) -> list[dict]:
    """The invoice as flat lines: per account the fee, sessions, each out-of-session line, the
    total, then usage, minimum_charge_top_up, net, tax (unit_price: the tax rate) and
    amount_due; at the end grand_total, grand_net, grand_tax and grand_amount_due."""
    fmt = lambda amount: money.fmt(amount, inv.places)  # noqa: E731
    empty = {"direction": "", "message_type": "", "zone": "", "count": "", "unit_price": ""}
    rows = []
    for a in inv.accounts:
        base = {"period": inv.period, "business_id": a.business_id}
        exact = lambda item, amount: {**base, **empty, "item": item, "amount": fmt(amount)}  # noqa: E731
        rounded = lambda item, amount: {**base, **empty, "item": item,  # noqa: E731
                                        "amount": money.fmt(amount, a.decimals)}
        rows.append({**base, **empty, "item": "subscription_fee", "count": 1, "unit_price": fmt(a.subscription_fee),
                     "amount": fmt(a.subscription_fee)})
        rows.append({**base, **empty, "item": "sessions", "count": a.sessions, "unit_price": fmt(a.session_price),
                     "amount": fmt(a.sessions_amount)})
        for l in a.out_of_session:
            rows.append({**base, "item": "out_of_session", "direction": l.direction, "message_type": l.message_type,
                         "zone": l.zone, "count": l.count, "unit_price": fmt(l.unit_price), "amount": fmt(l.amount)})
        rows.append(exact("account_total", a.total))
        rows.append(exact("usage", a.usage))
        rows.append(exact("minimum_charge_top_up", a.minimum_charge_top_up))
        rows.append(rounded("net", a.net))
        rows.append({**rounded("tax", a.tax), "unit_price": f"{a.tax_rate:f}"})
        rows.append(rounded("amount_due", a.amount_due))
    grand = {"period": inv.period, "business_id": "", **empty}
    rows.append({**grand, "item": "grand_total", "amount": fmt(inv.total)})
    for item, amount in (("grand_net", inv.net), ("grand_tax", inv.tax), ("grand_amount_due", inv.amount_due)):
        rows.append({**grand, "item": item, "amount": money.fmt(amount, inv.decimals)})
    return [{k: row[k] for k in INVOICE_CSV_COLUMNS} for row in rows]


def invoice_csv(inv: Invoice) -> str:
    import csv
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=INVOICE_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in invoice_rows(inv):
        writer.writerow({k: writing.neutralise_text(v) if isinstance(v, str) else v for k, v in row.items()})
    return buf.getvalue()


def fit_table(console, columns: list[str], rows: list[list[str]], right: set[str] = frozenset(), title: str = "",
              footer: list[str] | None = None) -> None:
    """Print ``rows`` so that no value is ever cut: a table with column widths chosen here (each
    at least its longest value and the longest word of its header; the first column may wrap
    its values) when that fits the console, else one block per row of ``column: value`` lines."""
    from rich.table import Table

    cells = rows + ([footer] if footer else [])
    n = len(columns)
    natural = [max([len(c[k]) for c in cells] + [len(columns[k])]) for k in range(n)]
    least = [max([len(c[k]) for c in cells] + [max(len(w) for w in columns[k].split() or [""])]) for k in range(n)]
    least[0] = min(least[0], max(12, max(len(w) for w in columns[0].split() or [""])))
    budget = console.width - (3 * n + 1)
    if sum(least) > budget:
        if title:
            console.print(title, style="bold", markup=False)
        for r in cells:
            console.print(f"  {r[0]}", markup=False)
            for name, value in zip(columns[1:], r[1:]):
                if value != "":
                    console.print(f"    {name}: {value}", markup=False)
        return
    widths = list(least)
    spare = budget - sum(widths)
    for k in [*range(1, n), 0]:            # the room left goes to the headers that would wrap, then the first column
        give = min(spare, natural[k] - widths[k])
        widths[k] += give
        spare -= give
    table = Table(title=title or None, title_justify="left", show_footer=footer is not None)
    for k, name in enumerate(columns):
        table.add_column(name, footer=footer[k] if footer else "", width=widths[k], overflow="fold",
                         justify="right" if name in right else "left")
    for r in rows:
        table.add_row(*r)
    console.print(table)


def invoice_table(inv: Invoice, console) -> None:
    """Print the invoice as rich tables (a zone column when the tariff has zones). Numbers are
    never cut (see :func:`fit_table`). Warnings are not part of the table: the CLI writes them
    to stderr."""
    fmt = lambda amount: money.fmt(amount, inv.places)  # noqa: E731
    console.print(f"Invoice {inv.period} ({inv.timezone}), {inv.status}, amounts in {inv.currency}", style="bold",
                  markup=False)
    zone = [""] if inv.zoned else []
    for a in inv.accounts:
        rows = [["monthly fee", *zone, "1", fmt(a.subscription_fee), fmt(a.subscription_fee)],
                ["sessions", *zone, str(a.sessions), fmt(a.session_price), fmt(a.sessions_amount)]]
        rows += [[f"out of session {l.direction} {l.message_type}", *([l.zone] if inv.zoned else []), str(l.count),
                  fmt(l.unit_price), fmt(l.amount)] for l in a.out_of_session]
        columns = ["item", *(["zone"] if inv.zoned else []), "count", "unit price", "amount"]
        fit_table(console, columns, rows, {"count", "unit price", "amount"},
                  title=a.business_id, footer=["total", *zone, "", "", fmt(a.total)])
        console.print(f"  messages inside billed sessions (free): {a.in_session_messages}", markup=False)
        top_up = [f"minimum charge top-up {fmt(a.minimum_charge_top_up)}"] if a.minimum_charge_top_up else []
        print_items(console, [f"usage {fmt(a.usage)}", *top_up, f"net {money.fmt(a.net, a.decimals)}",
                              f"tax {money.fmt(a.tax, a.decimals)} ({_percent(a.tax_rate)})",
                              f"amount due {money.fmt(a.amount_due, a.decimals)}"], "; ", "  ")
    console.print(f"Total: {fmt(inv.total)} {inv.currency} ({len(inv.accounts)} account(s))", style="bold",
                  markup=False)
    print_items(console, [f"Net {money.fmt(inv.net, inv.decimals)}", f"tax {money.fmt(inv.tax, inv.decimals)}",
                          f"amount due {money.fmt(inv.amount_due, inv.decimals)} {inv.currency}"], ", ", "",
                style="bold")
    r = inv.rows
    cut = [f"{r.before_cut} before the cut"] if r.before_cut else []
    print_items(console, [f"Rows: {r.read} read = {r.duplicates} duplicates", f"{r.rejected} rejected",
                          f"{r.excluded} excluded", *cut, f"{r.in_session} in session",
                          f"{r.out_of_session} out of session"], " + ", "")
    if r.blank_lines:
        console.print(f"({r.blank_lines} blank line(s) skipped)", markup=False)
    if inv.coverage is not None and inv.status != "final":
        c = inv.coverage.as_dict()
        print_items(console, [f"Provisional: final once the data covers {c['needed_from']}", f"to {c['needed_to']}",
                              f"(loaded: {c['data_from']}", f"to {c['data_to']};",
                              f"{c['open_sessions']} session(s) of the period still open)"], " ", "")


def print_items(console, items: list[str], sep: str, indent: str, style: str | None = None) -> None:
    """``items`` joined by ``sep`` on as few lines as ``console.width`` allows, never breaking
    inside an item (a label stays on the line of its number); a line that goes on ends with the
    separator and the next is indented two more spaces."""
    end = sep.rstrip()
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(sep) + len(item) + len(end) <= console.width:
            lines[-1] += sep + item
        else:
            if lines:
                lines[-1] += end
            lines.append((indent + "  " if lines else indent) + item)
    for line in lines:
        console.print(line, style=style, markup=False)


def _percent(rate) -> str:
    """A tax rate as a percentage, exactly (``0.22`` -> ``22 %``, ``0.125`` -> ``12.5 %``)."""
    text = f"{money.product(rate, Decimal(100)).normalize():f}"
    return f"{text} %"


# ---------------------------------------------------------------------------------------------
# Writing files: see :mod:`viber_sessions.writing` (kept here under their old names)

table_format = lambda path: output_format(path, ("csv", "parquet"))  # noqa: E731


def write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        writing.write_text(tmp, text, path)


def write_table(table: pa.Table, path: str) -> None:
    """A table as CSV or Parquet, atomically (see :func:`viber_sessions.writing.write_table`)."""
    kind = output_format(path, ("csv", "parquet"))
    with atomic_path(path) as tmp:
        writing.write_table(table, tmp, path, kind)
