"""What the report's charts need, counted part by part: per-day tallies that add up.

A :class:`ReportTally` is made from one part of a run (a segmentation in memory, or one part of
the ``--messages-out`` and ``--sessions-out`` tables of an engine that bills in parts) and
tallies of parts add up (``+``), like :class:`viber_sessions.billing.Tally`: no part needs the
whole log. Everything counts what the period's invoice counts: billable sessions that start in
the period, out-of-session messages timestamped in it; days and hours are the billing time
zone's. Money stays exact: the charge of a conversation is a ``decimal128`` sum (in memory:
summed in integers, units of the tariff's last decimal).
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..amounts import decimals, money_type, unique_keys, unit_prices
from ..segment import BILLING_NAMES, CLOSE_NAMES, ORIGIN_NAMES, OUT_OF_SESSION, Segmentation
from ..tariff import Tariff
from ..timeutil import Period

HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS
CHARGE_COLUMNS = ("business_id", "subscriber_id", "sessions", "messages", "amount")


@dataclass
class ReportTally:
    """Counts keyed by names (they add up across parts) and the charges per conversation."""

    days: int
    sessions_per_day: Counter = field(default_factory=Counter)   # (account, day index): billable sessions
    messages_per_day: Counter = field(default_factory=Counter)   # (message type, day index): out of session
    close_reasons: Counter = field(default_factory=Counter)      # sessions starting in the period
    origins: Counter = field(default_factory=Counter)
    sizes: Counter = field(default_factory=Counter)              # messages per session -> sessions
    hours: Counter = field(default_factory=Counter)              # local hour of the start -> sessions
    charges: list = field(default_factory=list)                  # pa.Table parts (CHARGE_COLUMNS)

    def __add__(self, other: "ReportTally") -> "ReportTally":
        return ReportTally(days=self.days, sessions_per_day=self.sessions_per_day + other.sessions_per_day,
                           messages_per_day=self.messages_per_day + other.messages_per_day,
                           close_reasons=self.close_reasons + other.close_reasons,
                           origins=self.origins + other.origins, sizes=self.sizes + other.sizes,
                           hours=self.hours + other.hours, charges=self.charges + other.charges)

    def top_conversations(self, n: int, places: int) -> pa.Table:
        """The ``n`` conversations charged most in the period (ties: by business, then subscriber
        id), with their billed sessions, billed messages and charge."""
        parts = [t for t in self.charges if t.num_rows] or [empty_charges(places)]
        table = pa.concat_tables(parts).group_by(["business_id", "subscriber_id"]).aggregate(
            [("sessions", "sum"), ("messages", "sum"), ("amount", "sum")])
        table = table.rename_columns([{"sessions_sum": "sessions", "messages_sum": "messages",
                                       "amount_sum": "amount"}.get(c, c) for c in table.column_names])
        table = table.select(list(CHARGE_COLUMNS)).cast(charges_schema(places))
        order = pc.sort_indices(table, [("amount", "descending"), ("business_id", "ascending"),
                                        ("subscriber_id", "ascending")])
        return table.take(order.slice(0, n))


def charges_schema(places: int) -> pa.Schema:
    return pa.schema([("business_id", pa.string()), ("subscriber_id", pa.string()), ("sessions", pa.int64()),
                      ("messages", pa.int64()), ("amount", money_type(places))])


def empty_charges(places: int) -> pa.Table:
    return charges_schema(places).empty_table()


def days_in(period: Period) -> int:
    return calendar.monthrange(period.year, period.month)[1]


def local_days_hours(ts: np.ndarray, period: Period) -> tuple[np.ndarray, np.ndarray]:
    """Day of the month (0-based) and hour of the day of instants in the period, in its zone."""
    arr = pa.array(ts, pa.timestamp("ns", tz=period.tz))
    local = pc.local_timestamp(arr).cast(pa.int64()).to_numpy(zero_copy_only=False) if period.tz != "UTC" else ts
    first = (date(period.year, period.month, 1) - date(1970, 1, 1)).days
    return local // DAY_NS - first, (local % DAY_NS) // HOUR_NS


@dataclass(frozen=True)
class Codes:
    """A string column as codes into its distinct names (-1: null)."""

    codes: np.ndarray
    names: pa.Array

    @classmethod
    def of(cls, column) -> "Codes":
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if not pa.types.is_dictionary(arr.type):
            arr = pc.dictionary_encode(arr.cast(pa.string()))
        codes = arr.indices.to_numpy(zero_copy_only=False) if not arr.indices.null_count else \
            arr.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return cls(codes.astype(np.int64), arr.dictionary.cast(pa.string()))

    def as_known(self, known) -> np.ndarray:
        """The codes as indexes into ``known`` (a tuple of names); -1 for names not in it."""
        index = {n: i for i, n in enumerate(known)}
        remap = np.array([index.get(n, -1) for n in self.names.to_pylist()] + [-1], dtype=np.int64)
        return remap[self.codes]

    def name_list(self) -> list[str]:
        return self.names.to_pylist()


def _count(keys: list[str], codes: np.ndarray, days: np.ndarray, n_days: int) -> Counter:
    """(name, day) -> count, for codes into ``keys``."""
    counts = np.bincount(codes * n_days + days, minlength=len(keys) * n_days)
    return Counter({(keys[k // n_days], k % n_days): int(counts[k]) for k in np.flatnonzero(counts).tolist()})


def _named(names, codes: np.ndarray) -> Counter:
    counts = np.bincount(codes, minlength=len(names))
    return Counter({names[k]: int(counts[k]) for k in np.flatnonzero(counts).tolist()})


def _grouped_charges(business: Codes, subscriber: Codes, mask: np.ndarray, amount: pa.Array, places: int,
                     what: str) -> pa.Table:
    """Per conversation: the count of the rows where ``mask`` holds (as ``what``) and their
    amounts' exact sum."""
    if not mask.any():
        return empty_charges(places)
    rows = pa.table({"b": business.codes[mask], "s": subscriber.codes[mask],
                     "amount": amount.filter(pa.array(mask)).cast(money_type(places))})
    grouped = rows.group_by(["b", "s"]).aggregate([("amount", "sum"), ("amount", "count")])
    b = grouped.column("b").to_numpy()
    s = grouped.column("s").to_numpy()
    count = grouped.column("amount_count").cast(pa.int64())
    zero = pa.array(np.zeros(grouped.num_rows, np.int64))
    return pa.table({"business_id": business.names.take(pa.array(b)), "subscriber_id": subscriber.names.take(pa.array(s)),
                     "sessions": count if what == "sessions" else zero, "messages": count if what == "messages" else zero,
                     "amount": grouped.column("amount_sum").cast(money_type(places))})


def message_tally(period: Period, places: int, business: Codes, subscriber: Codes, ts: np.ndarray,
                  billing: np.ndarray, mtype: Codes, amount: pa.Array, charges: bool = True) -> ReportTally:
    """The tally of one part's messages: out-of-session messages per day and type, and the
    out-of-session charges per conversation (``billing``: codes into ``BILLING_NAMES``)."""
    n_days = days_in(period)
    mask = (billing == OUT_OF_SESSION) & (ts >= period.start_ns) & (ts < period.end_ns)
    days, _ = local_days_hours(ts[mask], period)
    per_day = _count(mtype.name_list(), mtype.codes[mask], days, n_days)
    return ReportTally(days=n_days, messages_per_day=per_day,
                       charges=[_grouped_charges(business, subscriber, mask, amount, places, "messages")] if charges
                       else [])


def session_tally(period: Period, tariff: Tariff, business: Codes, subscriber: Codes, start: np.ndarray,
                  origin: np.ndarray, close: np.ndarray, size: np.ndarray, billable: np.ndarray,
                  charges: bool = True) -> ReportTally:
    """The tally of one part's sessions (``origin``, ``close``: codes into ``ORIGIN_NAMES`` and
    ``CLOSE_NAMES``): those starting in the period by reason, origin, size and hour, the billable
    ones per account and day, and their charges per conversation (the account's session price)."""
    n_days = days_in(period)
    inside = (start >= period.start_ns) & (start < period.end_ns)
    days, hours = local_days_hours(start[inside], period)
    billed = billable[inside]
    accounts = business.name_list()
    found = [_grouped_charges(business, subscriber, inside & billable, session_prices(tariff, business),
                              tariff.places, "sessions")] if charges else []
    return ReportTally(
        days=n_days, sessions_per_day=_count(accounts, business.codes[inside][billed], days[billed], n_days),
        close_reasons=_named(CLOSE_NAMES, close[inside]), origins=_named(ORIGIN_NAMES, origin[inside]),
        sizes=Counter({int(k): int(v) for k, v in zip(*np.unique(size[inside], return_counts=True))}),
        hours=Counter({int(k): int(v) for k, v in zip(*np.unique(hours, return_counts=True))}),
        charges=found)


def session_prices(tariff: Tariff, business: Codes) -> pa.Array:
    """The session price of each session's account, as money."""
    accounts = business.name_list()
    prices = decimals([tariff.plan(a).session_price for a in accounts], tariff.places)
    if not len(accounts):
        return pa.nulls(len(business.codes), money_type(tariff.places))
    return prices.take(pa.array(np.maximum(business.codes, 0)))


def from_segmentation(seg: Segmentation, tariff: Tariff, period: Period, keep: int | None = None) -> ReportTally:
    """The tally of a segmentation (in memory: the whole log; it equals the tally of its audit
    tables, :func:`from_tables`), straight from its arrays. With ``keep``, only the conversations
    that can be among the ``keep`` charged most are kept (exact for a whole log: every
    conversation's charge is complete in it).

    Only the rows the period bills out of session are looked at past one pass over the log, and
    they are priced per distinct key, not per row."""
    log = seg.log
    n_days = days_in(period)
    lo, hi = period.start_ns, period.end_ns
    rows = np.flatnonzero((seg.billing == OUT_OF_SESSION) & (log.timestamp >= lo) & (log.timestamp < hi))
    days, _ = local_days_hours(log.timestamp[rows], period)
    messages = ReportTally(days=n_days, messages_per_day=_count(log.message_types, log.mtype[rows], days, n_days))
    sessions = session_tally(period, tariff, Codes(seg.s_business, log.businesses),
                             Codes(seg.s_subscriber, log.subscribers), seg.s_start, seg.s_origin, seg.s_close,
                             seg.s_inbound.astype(np.int64) + seg.s_outbound, seg.s_billable, charges=False)
    s_rows = np.flatnonzero(seg.s_billable & (seg.s_start >= lo) & (seg.s_start < hi))
    total = messages + sessions
    total.charges = [conversation_charges(seg, tariff, rows, s_rows, keep)]
    return total


#: Most cells of a dense (conversation x price) count table before counting by sorting instead.
DENSE_CELLS = 1 << 24


def conversation_charges(seg: Segmentation, tariff: Tariff, rows: np.ndarray, s_rows: np.ndarray,
                         keep: int | None = None) -> pa.Table:
    """Per conversation (``CHARGE_COLUMNS``): the billed sessions ``s_rows`` (session indexes)
    and out-of-session messages ``rows`` (loaded-row indexes) and their charge, counted per
    (conversation, price) and summed exactly in integer units of the last decimal; with
    ``keep``, only the conversations that can be among the ``keep`` charged most."""
    log, places = seg.log, tariff.places
    units = unit_prices(seg, tariff, rows)
    accounts = log.businesses.to_pylist()
    values, price = _price_ids([*units.prices, *[tariff.plan(a).session_price for a in accounts]], places)
    n_sub = max(len(log.subscribers), 1)
    keys = np.concatenate([log.business[rows].astype(np.int64) * n_sub + log.subscriber[rows],
                           seg.s_business[s_rows].astype(np.int64) * n_sub + seg.s_subscriber[s_rows]])
    cell = price[np.concatenate([units.inverse, len(units.prices) + seg.s_business[s_rows]])]
    conv, inverse = unique_keys(keys, max(len(accounts), 1) * n_sub)
    n_conv, n_price = len(conv), len(values)
    messages = np.bincount(inverse[:len(rows)], minlength=n_conv)
    sessions = np.bincount(inverse[len(rows):], minlength=n_conv)
    if n_conv * n_price <= DENSE_CELLS:
        counts = np.bincount(inverse * n_price + cell, minlength=n_conv * n_price).reshape(n_conv, n_price)
        amount = counts @ values
    else:
        pairs, count = np.unique(inverse.astype(np.int64) * n_price + cell, return_counts=True)
        amount = np.zeros(n_conv, np.int64)
        np.add.at(amount, pairs // n_price, count * values[pairs % n_price])
    if keep == 0:
        conv, amount, messages, sessions = conv[:0], amount[:0], messages[:0], sessions[:0]
    elif keep is not None and n_conv > keep:
        chosen = amount >= np.partition(amount, n_conv - keep)[n_conv - keep]   # ties at the edge stay: exact
        conv, amount, messages, sessions = conv[chosen], amount[chosen], messages[chosen], sessions[chosen]
    return pa.table({"business_id": log.businesses.take(pa.array(conv // n_sub)).cast(pa.string()),
                     "subscriber_id": log.subscribers.take(pa.array(conv % n_sub)).cast(pa.string()),
                     "sessions": pa.array(sessions, pa.int64()), "messages": pa.array(messages, pa.int64()),
                     "amount": money_of_units(amount, places)}, schema=charges_schema(places))


def _price_ids(prices: list, places: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``prices`` (rounded to ``places`` like :func:`decimals`) as integers in units
    of the last decimal, and each price's index among them."""
    quantum = Decimal(1).scaleb(-places)
    units = [int(p.quantize(quantum).scaleb(places)) for p in prices]
    distinct = sorted(set(units))
    return np.array(distinct, np.int64), np.array([distinct.index(u) for u in units], np.int64)


def money_of_units(units: np.ndarray, places: int) -> pa.Array:
    """Integers in units of the ``places``-th decimal as an exact money column."""
    units = np.ascontiguousarray(units, dtype=np.int64)
    words = np.empty((len(units), 2), np.int64)          # decimal128: little-endian low word, then high
    words[:, 0] = units
    words[:, 1] = units >> 63
    return pa.Array.from_buffers(money_type(places), len(units), [None, pa.py_buffer(words.tobytes())])


def messages_part_tally(table: pa.Table, tariff: Tariff, period: Period) -> ReportTally:
    """The tally of one part of the ``--messages-out`` table (rejected rows count nowhere)."""
    ts_col = table.column("timestamp").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
    valid = ts_col.is_valid().to_numpy(zero_copy_only=False)
    ts = ts_col.fill_null(0).to_numpy(zero_copy_only=False)
    billing = Codes.of(table.column("billing")).as_known(BILLING_NAMES)
    billing = np.where(valid, billing, -1)
    amount = table.column("amount").combine_chunks()
    return message_tally(period, tariff.places, Codes.of(table.column("business_id")),
                         Codes.of(table.column("subscriber_id")), ts, billing,
                         Codes.of(table.column("message_type")), amount)


def sessions_part_tally(table: pa.Table, tariff: Tariff, period: Period) -> ReportTally:
    """The tally of one part of the ``--sessions-out`` table."""
    col = lambda name: table.column(name).to_numpy()  # noqa: E731
    start = table.column("start").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy()
    return session_tally(period, tariff, Codes.of(table.column("business_id")), Codes.of(table.column("subscriber_id")),
                         start, Codes.of(table.column("origin")).as_known(ORIGIN_NAMES),
                         Codes.of(table.column("close_reason")).as_known(CLOSE_NAMES),
                         col("inbound_messages") + col("outbound_messages"), col("billable").astype(bool))


def from_tables(messages, sessions, tariff: Tariff, period: Period) -> ReportTally:
    """The tally of a run's audit tables, part by part (``messages``, ``sessions``: iterables of
    table parts, e.g. ``Result.messages()`` and ``Result.sessions(tz)``)."""
    total = ReportTally(days=days_in(period))
    for part in messages:
        total = total + messages_part_tally(part, tariff, period)
    for part in sessions:
        total = total + sessions_part_tally(part, tariff, period)
    return total


__all__ = ["CHARGE_COLUMNS", "Codes", "ReportTally", "from_segmentation", "from_tables",
           "local_days_hours", "message_tally", "session_tally"]
