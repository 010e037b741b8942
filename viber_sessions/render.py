"""Output: the invoice as a rich table, JSON or CSV (the audit tables are in :mod:`.tables`).

Files are written through :mod:`viber_sessions.writing` (staged, committed as one set).
"""

from __future__ import annotations

import io
import json

import pyarrow as pa

from . import money, writing
from .billing import Invoice
from .writing import atomic_path, output_format

# ---------------------------------------------------------------------------------------------
# The invoice


def invoice_dict(inv: Invoice, provenance: dict | None = None) -> dict:
    """The invoice as JSON-ready data; money as exact decimal strings."""
    fmt = lambda amount: money.fmt(amount, inv.places)  # noqa: E731
    doc = {
        "period": inv.period,
        "timezone": inv.timezone,
        "currency": inv.currency,
        "rows": {"read": inv.rows.read, "duplicates": inv.rows.duplicates, "rejected": inv.rows.rejected,
                 "excluded": inv.rows.excluded, "in_session": inv.rows.in_session,
                 "out_of_session": inv.rows.out_of_session},
        "accounts": [{
            "business_id": a.business_id,
            "subscription_fee": fmt(a.subscription_fee),
            "sessions": {"count": a.sessions, "unit_price": fmt(a.session_price), "amount": fmt(a.sessions_amount)},
            "in_session_messages": a.in_session_messages,
            "out_of_session": [{"direction": l.direction, "message_type": l.message_type, "count": l.count,
                                "unit_price": fmt(l.unit_price), "amount": fmt(l.amount)}
                               for l in a.out_of_session],
            "total": fmt(a.total),
        } for a in inv.accounts],
        "total": fmt(inv.total),
        "warnings": list(inv.warnings),
    }
    if provenance is not None:
        doc["generated_by"] = provenance
    return doc


def invoice_json(inv: Invoice, provenance: dict | None = None) -> str:
    return json.dumps(invoice_dict(inv, provenance), indent=2, ensure_ascii=False) + "\n"


INVOICE_CSV_COLUMNS = ("period", "business_id", "item", "direction", "message_type", "count", "unit_price", "amount")


def invoice_rows(inv: Invoice) -> list[dict]:
    """The invoice as flat lines: fee, sessions, each out-of-session line and the total per
    account, then the grand total."""
    fmt = lambda amount: money.fmt(amount, inv.places)  # noqa: E731
    rows = []
    for a in inv.accounts:
        base = {"period": inv.period, "business_id": a.business_id}
        rows.append({**base, "item": "subscription_fee", "direction": "", "message_type": "", "count": 1,
                     "unit_price": fmt(a.subscription_fee), "amount": fmt(a.subscription_fee)})
        rows.append({**base, "item": "sessions", "direction": "", "message_type": "", "count": a.sessions,
                     "unit_price": fmt(a.session_price), "amount": fmt(a.sessions_amount)})
        for l in a.out_of_session:
            rows.append({**base, "item": "out_of_session", "direction": l.direction, "message_type": l.message_type,
                         "count": l.count, "unit_price": fmt(l.unit_price), "amount": fmt(l.amount)})
        rows.append({**base, "item": "account_total", "direction": "", "message_type": "", "count": "",
                     "unit_price": "", "amount": fmt(a.total)})
    rows.append({"period": inv.period, "business_id": "", "item": "grand_total", "direction": "", "message_type": "",
                 "count": "", "unit_price": "", "amount": fmt(inv.total)})
    return rows


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
    """Print ``rows`` so that no value is ever cut: a table when every column fits the console at
    full width (the first column may wrap), else one block per row of ``column: value`` lines."""
    from rich.table import Table

    cells = rows + ([footer] if footer else [])
    widths = [max([len(c[k]) for c in cells] + [max(len(w) for w in columns[k].split() or [""])])
              for k in range(len(columns))]
    first_min = min(widths[0], 12)
    needed = first_min + sum(widths[1:]) + 3 * len(columns) + 1
    if needed <= console.width:
        table = Table(title=title or None, title_justify="left", show_footer=footer is not None)
        for k, name in enumerate(columns):
            foot = footer[k] if footer else ""
            if k == 0:
                table.add_column(name, footer=foot, overflow="fold", min_width=first_min, ratio=1)
            else:
                table.add_column(name, footer=foot, justify="right" if name in right else "left", no_wrap=True,
                                 min_width=widths[k])
        for r in rows:
            table.add_row(*r)
        console.print(table)
        return
    if title:
        console.print(title, style="bold", markup=False)
    for r in cells:
        console.print(f"  {r[0]}", markup=False)
        for name, value in zip(columns[1:], r[1:]):
            if value != "":
                console.print(f"    {name}: {value}", markup=False)


def invoice_table(inv: Invoice, console) -> None:
    """Print the invoice as rich tables. Numbers are never cut (see :func:`fit_table`). Warnings
    are not part of the table: the CLI writes them to stderr."""
    fmt = lambda amount: money.fmt(amount, inv.places)  # noqa: E731
    console.print(f"Invoice {inv.period} ({inv.timezone}), amounts in {inv.currency}", style="bold", markup=False)
    for a in inv.accounts:
        rows = [["monthly fee", "1", fmt(a.subscription_fee), fmt(a.subscription_fee)],
                ["sessions", str(a.sessions), fmt(a.session_price), fmt(a.sessions_amount)]]
        rows += [[f"out of session {l.direction} {l.message_type}", str(l.count), fmt(l.unit_price), fmt(l.amount)]
                 for l in a.out_of_session]
        fit_table(console, ["item", "count", "unit price", "amount"], rows, {"count", "unit price", "amount"},
                  title=a.business_id, footer=["total", "", "", fmt(a.total)])
        console.print(f"  messages inside billed sessions (free): {a.in_session_messages}", markup=False)
    console.print(f"Total: {fmt(inv.total)} {inv.currency} ({len(inv.accounts)} account(s))", style="bold",
                  markup=False)
    r = inv.rows
    console.print(f"Rows: {r.read} read = {r.duplicates} duplicates + {r.rejected} rejected + {r.excluded} excluded"
                  f" + {r.in_session} in session + {r.out_of_session} out of session", markup=False)


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
