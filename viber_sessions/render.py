"""Output: the invoice as a rich table, JSON or CSV; the per-message and per-session tables.

Files are written atomically (a temporary file in the same folder, renamed at the end), so a
failed run never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import money
from .billing import Invoice
from .errors import UsageError
from .load import names_of
from .segment import BILLING_NAMES, CLOSE_NAMES, ORIGIN_NAMES, REASON_NAMES, Segmentation
from .timeutil import iso_utc, month_labels

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
    writer.writerows(invoice_rows(inv))
    return buf.getvalue()


def invoice_table(inv: Invoice, console) -> None:
    """Print the invoice as rich tables."""
    from rich.table import Table

    fmt = lambda amount: money.fmt(amount, inv.places)  # noqa: E731
    console.print(f"[bold]Invoice {inv.period}[/bold] ({inv.timezone}), amounts in {inv.currency}")
    for a in inv.accounts:
        table = Table(title=f"{a.business_id}", title_justify="left", show_footer=True)
        table.add_column("item", footer="total", no_wrap=True)
        table.add_column("direction")
        table.add_column("type", no_wrap=True)
        table.add_column("count", justify="right")
        table.add_column("unit price", justify="right")
        table.add_column("amount", justify="right", footer=fmt(a.total))
        table.add_row("monthly fee", "", "", "1", fmt(a.subscription_fee), fmt(a.subscription_fee))
        table.add_row("sessions", "", "", str(a.sessions), fmt(a.session_price), fmt(a.sessions_amount))
        for l in a.out_of_session:
            table.add_row("out of session", l.direction, l.message_type, str(l.count), fmt(l.unit_price), fmt(l.amount))
        console.print(table)
        console.print(f"  messages inside billed sessions (free): {a.in_session_messages}")
    console.print(f"[bold]Total: {fmt(inv.total)} {inv.currency}[/bold] ({len(inv.accounts)} account(s))")
    r = inv.rows
    console.print(f"Rows: {r.read} read = {r.duplicates} duplicates + {r.rejected} rejected + {r.excluded} excluded"
                  f" + {r.in_session} in session + {r.out_of_session} out of session", soft_wrap=True)
    for w in inv.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}", soft_wrap=True)


# ---------------------------------------------------------------------------------------------
# Per-message and per-session tables

MESSAGES_COLUMNS = ("message_id", "business_id", "subscriber_id", "timestamp", "direction", "message_type",
                    "session_id", "billing", "reason", "source_file", "source_row")
SESSIONS_COLUMNS = ("session_id", "business_id", "subscriber_id", "start", "expires_at", "origin", "close_reason",
                    "inbound_messages", "outbound_messages", "billable", "billed_period")


def messages_table(seg: Segmentation) -> pa.Table:
    """One row per input row, in input order: what each row became and why."""
    log = seg.log
    ids = seg.session_ids()
    has = seg.session >= 0
    session_id = pc.if_else(pa.array(has), ids.take(pa.array(np.where(has, seg.session, 0))) if len(ids)
                            else pa.nulls(len(log), pa.string()), "")
    file_idx, file_row = log.locate(log.row)
    loaded = pa.table({
        "message_id": log.message_id,
        "business_id": log.businesses.take(pa.array(log.business)),
        "subscriber_id": log.subscribers.take(pa.array(log.subscriber)),
        "timestamp": iso_utc(log.timestamp),
        "direction": names_of(("outbound", "inbound"), log.inbound.astype(np.int8)),
        "message_type": log.message_type_names(),
        "session_id": session_id,
        "billing": names_of(BILLING_NAMES, seg.billing),
        "reason": names_of(REASON_NAMES, seg.reason),
        "source_file": names_of(log.sources, file_idx),
        "source_row": pa.array(file_row, pa.int64()),
    })
    order_key = log.row
    rej = log.rejected
    if rej.num_rows:
        n = rej.num_rows
        rejected = pa.table({
            "message_id": rej.column("message_id"), "business_id": rej.column("business_id"),
            "subscriber_id": rej.column("subscriber_id"), "timestamp": rej.column("timestamp"),
            "direction": rej.column("direction"), "message_type": rej.column("message_type"),
            "session_id": pa.array([""] * n, pa.string()), "billing": pa.array(["rejected"] * n, pa.string()),
            "reason": rej.column("code"), "source_file": rej.column("file"), "source_row": rej.column("file_row"),
        })
        loaded = pa.concat_tables([loaded, rejected.cast(loaded.schema)])
        order_key = np.concatenate([log.row, rej.column("row").to_numpy()])
        loaded = loaded.take(pa.array(np.argsort(order_key, kind="stable")))
    return loaded


def sessions_table(seg: Segmentation, tz: str, mask: np.ndarray | None = None) -> pa.Table:
    """One row per session (where ``mask`` holds), ordered by business, subscriber and start."""
    log = seg.log
    labels_codes, labels = month_labels(seg.s_start, tz)
    period = names_of(labels, labels_codes) if len(labels) else pa.array([], pa.string())
    table = pa.table({
        "session_id": seg.session_ids(),
        "business_id": log.businesses.take(pa.array(seg.s_business)),
        "subscriber_id": log.subscribers.take(pa.array(seg.s_subscriber)),
        "start": iso_utc(seg.s_start),
        "expires_at": iso_utc(seg.s_expires),
        "origin": names_of(ORIGIN_NAMES, seg.s_origin),
        "close_reason": names_of(CLOSE_NAMES, seg.s_close),
        "inbound_messages": pa.array(seg.s_inbound, pa.int64()),
        "outbound_messages": pa.array(seg.s_outbound, pa.int64()),
        "billable": pa.array(seg.s_billable, pa.bool_()),
        "billed_period": pc.if_else(pa.array(seg.s_billable), period, "") if len(labels) else period,
        "_start_ns": pa.array(seg.s_start, pa.int64()),
    })
    if mask is not None:
        table = table.filter(pa.array(mask))
    table = table.sort_by([("business_id", "ascending"), ("subscriber_id", "ascending"),
                           ("_start_ns", "ascending"), ("session_id", "ascending")])
    return table.drop_columns(["_start_ns"])


# ---------------------------------------------------------------------------------------------
# Writing files


def table_format(path: str) -> str:
    low = path.lower()
    if low.endswith((".parquet", ".pq")):
        return "parquet"
    if low.endswith((".csv", ".csv.gz")):
        return "csv"
    raise UsageError(f"{path}: cannot tell the format from the name; use a .csv or .parquet file name")


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path beside ``path`` that replaces it when the block ends without error."""
    target = Path(path)
    if not target.parent.exists():
        raise UsageError(f"{path}: the folder {str(target.parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes 0600; a normal file follows the umask
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def write_table(table: pa.Table, path: str) -> None:
    """A table as CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``), atomically and
    deterministically (no timestamps or writer ids that vary between runs)."""
    kind = table_format(path)
    with atomic_path(path) as tmp:
        if kind == "parquet":
            pq.write_table(table, tmp, compression="zstd")
        else:
            compression = "gzip" if path.lower().endswith(".gz") else None
            with pa.output_stream(tmp, compression=compression) as out:
                pacsv.write_csv(table, out, pacsv.WriteOptions(quoting_style="needed"))
