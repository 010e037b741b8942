"""The audit tables of a segmentation: one row per input row (``--messages-out``) and one row
per session (``--sessions-out``). Domain data, not presentation: the segmentation offers them
as ``assignment()`` and ``sessions()``, and the renderers only write them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .load import names_of
from .segment import BILLING_NAMES, CLOSE_NAMES, ORIGIN_NAMES, REASON_NAMES, Segmentation
from .timeutil import iso_utc, month_labels


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
        order_key = np.concatenate([log.row, rej.column("row").to_numpy() - 1])   # --rejects rows count from 1
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
