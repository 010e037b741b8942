"""The audit tables of a segmentation: one row per input row (``--messages-out``) and one row
per session (``--sessions-out``). Domain data, not presentation: the segmentation offers them
as ``assignment()`` and ``sessions()``, and the writers only write them.

The tables are typed: timestamps are ``timestamp[ns, UTC]`` and money is ``decimal128`` with
the invoice's line decimals (strings are plain strings). :func:`viber_sessions.writing.as_text`
gives the text that CSV and JSON show (ISO-8601 UTC timestamps, exactly as before the tables
were typed); Parquet keeps the types.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .amounts import row_prices
from .segment import BILLING_NAMES, CLOSE_NAMES, ORIGIN_NAMES, REASON_NAMES, Segmentation
from .tariff import Tariff
from .timeutil import month_labels

MESSAGES_COLUMNS = ("message_id", "business_id", "subscriber_id", "timestamp", "direction", "message_type",
                    "session_id", "billing", "reason", "amount", "zone", "raw_timestamp", "source_file", "source_row")
SESSIONS_COLUMNS = ("session_id", "business_id", "subscriber_id", "start", "expires_at", "origin", "close_reason",
                    "inbound_messages", "outbound_messages", "billable", "billed_period")
TIMESTAMP = pa.timestamp("ns", tz="UTC")
DIRECTION_NAMES = ("outbound", "inbound")      # by ``MessageLog.inbound``


def coded(codes: np.ndarray, names: Sequence[str] | pa.Array) -> pa.Array:
    """The name of each code as a string column (code -1: null)."""
    codes = np.asarray(codes)
    values = names.cast(pa.string()) if isinstance(names, pa.Array) else pa.array(list(names), pa.string())
    mask = codes < 0
    indices = pa.array(codes.astype(np.int32, copy=False), pa.int32(), mask=mask if mask.any() else None)
    return values.take(indices)


def _session_column(seg: Segmentation) -> pa.Array:
    """Each row's session id ("" when none)."""
    ids = seg.session_ids()
    codes = np.where(seg.session >= 0, seg.session, len(ids)).astype(np.int32)
    return coded(codes, pa.concat_arrays([ids.cast(pa.string()), pa.array([""], pa.string())]))


def messages_table(seg: Segmentation, tariff: Tariff | None = None) -> pa.Table:
    """One row per input row, in input order: what each row became, why, and what it cost
    (``amount``, under ``tariff``, by default the tariff ``seg`` was segmented with; null for
    rows inside a session and for duplicate, excluded and rejected rows)."""
    log = seg.log
    prices = row_prices(seg, tariff)
    file_idx, file_row = log.locate(log.row)
    n = len(log)
    loaded = pa.table({
        "message_id": log.message_id,
        "business_id": coded(log.business, log.businesses),
        "subscriber_id": coded(log.subscriber, log.subscribers),
        "timestamp": pa.array(log.timestamp, TIMESTAMP),
        "direction": coded(log.inbound.astype(np.int8), DIRECTION_NAMES),
        "message_type": coded(log.mtype, log.message_types),
        "session_id": _session_column(seg),
        "billing": coded(seg.billing, BILLING_NAMES),
        "reason": coded(seg.reason, REASON_NAMES),
        "amount": prices.amount,
        "zone": prices.zone,
        "raw_timestamp": pa.nulls(n, pa.string()),
        "source_file": coded(file_idx, log.sources),
        "source_row": pa.array(file_row, pa.int64()),
    })
    rej = log.rejected
    if not rej.num_rows:
        return loaded
    rejected = _rejected_rows(rej, loaded.schema)
    order_key = np.concatenate([log.row, rej.column("row").to_numpy() - 1])   # --rejects rows count from 1
    both = pa.concat_tables([loaded, rejected])
    return both.take(pa.array(np.argsort(order_key, kind="stable"))).combine_chunks()


def _rejected_rows(rej: pa.Table, schema: pa.Schema) -> pa.Table:
    """The rejected rows in the messages table's columns: raw text, billing ``rejected``, the
    error code as the reason, no timestamp (``raw_timestamp`` keeps the text)."""
    n = rej.num_rows
    text = lambda name: rej.column(name).cast(pa.string())  # noqa: E731
    columns = {
        "message_id": text("message_id"), "business_id": text("business_id"),
        "subscriber_id": text("subscriber_id"), "timestamp": pa.nulls(n, TIMESTAMP),
        "direction": text("direction"), "message_type": text("message_type"),
        "session_id": pa.array([""] * n, pa.string()), "billing": pa.array(["rejected"] * n, pa.string()),
        "reason": text("code"), "amount": pa.nulls(n, schema.field("amount").type),
        "zone": pa.array([""] * n, pa.string()), "raw_timestamp": text("timestamp"),
        "source_file": text("file"), "source_row": rej.column("file_row").cast(pa.int64()),
    }
    return pa.table({name: pc.cast(col, schema.field(name).type) for name, col in columns.items()})


def sessions_table(seg: Segmentation, tz: str, mask: np.ndarray | None = None) -> pa.Table:
    """One row per session (where ``mask`` holds), ordered by business, subscriber and start;
    ``tz`` decides ``billed_period``."""
    log = seg.log
    labels_codes, labels = month_labels(seg.s_start, tz)
    period = np.where(seg.s_billable, labels_codes, len(labels)) if len(labels) else labels_codes
    table = pa.table({
        "session_id": seg.session_ids(),
        "business_id": coded(seg.s_business, log.businesses),
        "subscriber_id": coded(seg.s_subscriber, log.subscribers),
        "start": pa.array(seg.s_start, TIMESTAMP),
        "expires_at": pa.array(seg.s_expires, TIMESTAMP),
        "origin": coded(seg.s_origin, ORIGIN_NAMES),
        "close_reason": coded(seg.s_close, CLOSE_NAMES),
        "inbound_messages": pa.array(seg.s_inbound, pa.int64()),
        "outbound_messages": pa.array(seg.s_outbound, pa.int64()),
        "billable": pa.array(seg.s_billable, pa.bool_()),
        "billed_period": coded(period, [*labels, ""]),
    })
    order = _session_order(seg, table.column("session_id"))
    if mask is not None:
        order = order[np.asarray(mask, dtype=bool)[order]]
    return table.take(pa.array(order))


def _session_order(seg: Segmentation, ids: pa.ChunkedArray) -> np.ndarray:
    """Sessions by business id, subscriber id (as strings), start and session id: the codes are
    ranked by their names once, so the sort is a numeric one; only sessions of one conversation
    that start at the same instant are told apart by their ids."""
    log = seg.log
    if not seg.n_sessions:
        return np.zeros(0, np.int64)
    b_rank = _rank(log.businesses)[seg.s_business]
    s_rank = _rank(log.subscribers)[seg.s_subscriber]
    order = np.lexsort((seg.s_start, s_rank, b_rank))
    same = ((b_rank[order][1:] == b_rank[order][:-1]) & (s_rank[order][1:] == s_rank[order][:-1])
            & (seg.s_start[order][1:] == seg.s_start[order][:-1]))
    if same.any():
        keys = pa.table({"b": b_rank, "s": s_rank, "t": seg.s_start, "id": ids})
        order = pc.sort_indices(keys, [("b", "ascending"), ("s", "ascending"), ("t", "ascending"),
                                       ("id", "ascending")]).to_numpy()
    return order


def _rank(names: pa.Array) -> np.ndarray:
    """Each name's position in the names sorted as strings (pyarrow's order: by bytes)."""
    order = pc.sort_indices(names).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank
