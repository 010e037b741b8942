"""What the report's charts need, counted part by part: per-day tallies that add up.

A :class:`ReportTally` is made from one part of a run (a segmentation in memory,
:mod:`.arrays`, or one part of the ``--messages-out`` and ``--sessions-out`` tables of an engine
that bills in parts, here) and tallies of parts add up (``+``), like
:class:`viber_sessions.billing.Tally`: no part needs the whole log. Everything counts what
the period's invoice counts: billable sessions that start in the period, out-of-session messages
timestamped in it; days and hours are the billing time zone's. Money stays exact: the charge of
a conversation is a ``decimal128`` sum (in memory: summed in integers, units of the tariff's
last decimal).
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..amounts import decimals, money_type
from ..segment import BILLING_NAMES, CLOSE_NAMES, ORIGIN_NAMES, OUT_OF_SESSION
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


def first_day(period: Period) -> int:
    """The period's first day, in days since 1970-01-01."""
    return (date(period.year, period.month, 1) - date(1970, 1, 1)).days


def local_instants(ts: np.ndarray, period: Period) -> np.ndarray:
    """Instants (ns since the epoch, UTC) as the wall-clock time of the period's zone, also in ns
    since the epoch (in UTC: ``ts`` itself)."""
    if period.tz == "UTC":
        return ts
    arr = pa.array(ts, pa.timestamp("ns", tz=period.tz))
    return pc.local_timestamp(arr).cast(pa.int64()).to_numpy(zero_copy_only=False)


def local_days_hours(ts: np.ndarray, period: Period) -> tuple[np.ndarray, np.ndarray]:
    """Day of the month (0-based) and hour of the day of instants in the period, in its zone."""
    local = local_instants(ts, period)
    return local // DAY_NS - first_day(period), (local % DAY_NS) // HOUR_NS


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
    return per_day(keys, np.bincount(codes * n_days + days, minlength=len(keys) * n_days), n_days)


def per_day(keys, counts: np.ndarray, n_days: int) -> Counter:
    """``counts[code * n_days + day]`` as (name, day) -> count, the names ``keys[code]``; no zeros."""
    return Counter({(keys[k // n_days], k % n_days): int(counts[k]) for k in np.flatnonzero(counts).tolist()})


def named(names, counts: np.ndarray) -> Counter:
    """``counts[code]`` as name -> count, the names ``names[code]`` (or the code itself: ``None``);
    no zeros."""
    return Counter({(k if names is None else names[k]): int(counts[k]) for k in np.flatnonzero(counts).tolist()})


def _named(names, codes: np.ndarray) -> Counter:
    return named(names, np.bincount(codes, minlength=len(names)))


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


__all__ = ["CHARGE_COLUMNS", "Codes", "ReportTally", "charges_schema", "days_in", "empty_charges", "first_day",
           "from_tables", "local_days_hours", "local_instants", "message_tally", "named", "per_day",
           "session_tally"]
