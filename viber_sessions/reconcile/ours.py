"""Our side of a reconciliation, read part by part from the audit tables every engine gives
(``Result.sessions(tz)``: the ``--sessions-out`` columns; ``Result.messages()``: the
``--messages-out`` columns), so that no whole-log segmentation is needed.

Only what the comparison uses is kept: the billable sessions of the period, every session of
the conversations the statement names, and per account and day or month the counts of the
aggregate grain. Parts must hold each conversation's sessions together, in start order (the
in-memory table's order; the engines keep it or give whole conversations per part).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import money
from ..errors import BillingError
from ..load import parse_timestamps
from ..tariff import Tariff
from ..timeutil import Period


@dataclass(frozen=True)
class Session:
    """One of our sessions, as reconcile needs it."""

    start: int                  # UTC nanoseconds
    session_id: str
    origin: str
    close: str
    billable: bool
    previous_close: str | None  # close reason of the conversation's previous session (None: the first)


def instants(column) -> np.ndarray:
    """UTC nanoseconds of a ``start`` / ``timestamp`` column: ISO-8601 text or a timestamp type."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_timestamp(arr.type):
        return arr.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    ns, _ = parse_timestamps(arr, "UTC", None)
    return np.asarray(ns, dtype=np.int64)


def labels(ts: np.ndarray, tz: str, grain: str) -> list[str]:
    """The date (``day`` grain) or month of each instant, in ``tz``."""
    if not len(ts):
        return []
    arr = pa.array(ts, pa.timestamp("ns", tz="UTC"))
    local = pc.local_timestamp(arr.cast(pa.timestamp("ns", tz=tz))) if tz != "UTC" else arr.cast(pa.timestamp("ns"))
    return pc.strftime(local, "%Y-%m-%d" if grain == "day" else "%Y-%m").to_pylist()


def _in(period: Period | None, start: int) -> bool:
    return period is None or period.start_ns <= start < period.end_ns


def collect_sessions(parts: Iterable[pa.Table], wanted: set[tuple[str, str]], period: Period | None
                     ) -> tuple[dict, dict]:
    """``(ours, every)``: our billable sessions starting in ``period`` by conversation, and every
    session of the conversations in ``wanted``; each list in start order."""
    ours: dict[tuple[str, str], list[Session]] = defaultdict(list)
    every: dict[tuple[str, str], list[Session]] = defaultdict(list)
    last_key, last_close = None, None
    for part in parts:
        if not part.num_rows:
            continue
        part = part.append_column("_start", pa.array(instants(part.column("start")), pa.int64()))
        part = part.sort_by([("business_id", "ascending"), ("subscriber_id", "ascending"), ("_start", "ascending"),
                             ("session_id", "ascending")])
        columns = [part.column(c).to_pylist() for c in ("business_id", "subscriber_id", "_start", "session_id",
                                                         "origin", "close_reason", "billable")]
        for b, s, start, sid, origin, close, billable in zip(*columns):
            key = (b, s)
            previous = last_close if key == last_key else None
            last_key, last_close = key, close
            mine = bool(billable) and _in(period, start)
            if mine or key in wanted:
                session = Session(start, sid, origin, close, bool(billable), previous)
                if mine:
                    ours[key].append(session)
                if key in wanted:
                    every[key].append(session)
    return ours, every


def session_counts(parts: Iterable[pa.Table], tz: str, grain: str) -> dict[tuple[str, str], int]:
    """{(business, date or month of the start): billable sessions}."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for part in parts:
        part = part.filter(pc.equal(part.column("billable"), True))
        for b, label in zip(part.column("business_id").to_pylist(),
                            labels(instants(part.column("start")), tz, grain)):
            out[(b, label)] += 1
    return out


def out_of_session_counts(parts: Iterable[pa.Table], tariff: Tariff, tz: str, grain: str) -> dict[tuple, int]:
    """{(business, date or month, direction, message type, region): out-of-session messages}; the
    subscriber's region (ISO 3166 code, "" for none) only for accounts whose plan has zones."""
    from ..countries import classify, region_names

    regions = region_names()
    out: dict[tuple, int] = defaultdict(int)
    for part in parts:
        part = part.filter(pc.equal(part.column("billing"), "out_of_session"))
        if not part.num_rows:
            continue
        business = part.column("business_id").combine_chunks()
        zoned_names = [b for b in pc.unique(business).to_pylist() if tariff.plan(b).zones]
        region = pa.nulls(part.num_rows, pa.string())
        if zoned_names:
            zoned = pc.is_in(business, value_set=pa.array(zoned_names, pa.string()))
            subscribers = part.column("subscriber_id").combine_chunks()
            distinct = pc.unique(subscribers.filter(zoned))
            codes = pa.array([regions[c] for c in classify(distinct).tolist()], pa.string())
            region = pc.if_else(zoned, pc.take(codes, pc.index_in(subscribers, value_set=distinct)), None)
        keyed = pa.table({"b": business, "label": pa.array(labels(instants(part.column("timestamp")), tz, grain)),
                          "direction": part.column("direction"), "type": part.column("message_type"),
                          "region": pc.fill_null(region, "")})
        counted = keyed.group_by(["b", "label", "direction", "type", "region"]).aggregate([("b", "count")])
        for row in counted.to_pylist():
            out[(row["b"], row["label"], row["direction"], row["type"], row["region"])] += row["b_count"]
    return out


def aggregates(sessions: dict, messages: dict, tariff: Tariff) -> dict[tuple[str, str], list]:
    """{(business, date or month): [billed sessions, out-of-session messages, amount]} (no fee),
    priced with each account's plan and zones."""
    out: dict[tuple[str, str], list] = {}
    for (b, label), n in sessions.items():
        out[(b, label)] = [n, 0, money.times(n, tariff.plan(b).session_price)]
    for (b, label, direction, mtype, region), n in messages.items():
        cur = out.setdefault((b, label), [0, 0, Decimal(0)])
        cur[1] += n
        plan = tariff.plan(b)
        unit, _ = plan.lookup(direction, mtype, plan.zone_of(region or None))
        if unit is None:
            raise BillingError(f"{tariff.source}: outbound_prices has no price for message type {mtype!r} "
                               f"(account {b!r}); add it, or a `default` price, to [outbound_prices]")
        cur[2] = money.total([cur[2], money.times(n, unit)])
    return out
