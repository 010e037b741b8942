"""The report's tally straight from a segmentation's arrays (a run in memory), in three parts
that the report asks for in turn, so that the charts of one are drawn while the next is counted:
the sessions' (:func:`session_part`), the out-of-session messages per day (:func:`message_part`)
and the charges per conversation (:func:`charge_part`). Each is one compiled pass
(:mod:`.kernel`) over the sessions or the rows; only the rows the period bills out of session
are looked at past one pass over the log, and they are priced per distinct key, not per row.
The sum equals the tally of the run's audit tables (:func:`.tally.from_tables`,
``tests/test_report.py``).
"""

from __future__ import annotations

import importlib
from decimal import Decimal

import numpy as np
import pyarrow as pa

from ..amounts import money_type, unique_keys, unit_prices
from ..segment import CLOSE_NAMES, ORIGIN_NAMES, OUT_OF_SESSION, Segmentation
from ..tariff import Tariff
from ..timeutil import Period
from .tally import ReportTally, charges_schema, days_in, first_day, local_instants, named, per_day


def from_segmentation(seg: Segmentation, tariff: Tariff, period: Period, keep: int | None = None) -> ReportTally:
    """The whole tally of a segmentation (in memory: the whole log). With ``keep``, only the
    conversations that can be among the ``keep`` charged most are kept (exact for a whole log:
    every conversation's charge is complete in it)."""
    rows = out_of_session_rows(seg, period)
    return session_part(seg, period) + message_part(seg, period, rows) + charge_part(seg, tariff, period, rows, keep)


def session_part(seg: Segmentation, period: Period) -> ReportTally:
    """What the sessions alone give (one pass over them, none over the rows): those starting in
    the period by close reason, origin, size and local hour, the billable ones per account and
    day."""
    n_days = days_in(period)
    accounts = seg.log.businesses.to_pylist()
    counts = _kernel().session_counts(seg.s_start, local_instants(seg.s_start, period), seg.s_business, seg.s_origin,
                                   seg.s_close, seg.s_inbound.astype(np.int64) + seg.s_outbound, seg.s_billable,
                                   period.start_ns, period.end_ns, first_day(period), len(accounts), n_days)
    days, reasons, origins, hours, sizes = counts
    return ReportTally(days=n_days, sessions_per_day=per_day(accounts, days, n_days),
                       close_reasons=named(CLOSE_NAMES, reasons), origins=named(ORIGIN_NAMES, origins),
                       sizes=named(None, sizes), hours=named(None, hours))


def out_of_session_rows(seg: Segmentation, period: Period) -> np.ndarray:
    """The loaded rows the period bills out of session (timestamped in it), in order."""
    return _kernel().period_rows(seg.billing, seg.log.timestamp, OUT_OF_SESSION, period.start_ns, period.end_ns)


def message_part(seg: Segmentation, period: Period, rows: np.ndarray) -> ReportTally:
    """The out-of-session messages ``rows`` (:func:`out_of_session_rows`) per local day and
    type."""
    log, n_days = seg.log, days_in(period)
    counts = _kernel().day_counts(log.mtype[rows], local_instants(log.timestamp[rows], period), first_day(period),
                               len(log.message_types), n_days)
    return ReportTally(days=n_days, messages_per_day=per_day(log.message_types, counts, n_days))


def charge_part(seg: Segmentation, tariff: Tariff, period: Period, rows: np.ndarray,
                keep: int | None = None) -> ReportTally:
    """The charges per conversation: the billable sessions starting in the period and the
    out-of-session messages ``rows``."""
    s_rows = np.flatnonzero(seg.s_billable & (seg.s_start >= period.start_ns) & (seg.s_start < period.end_ns))
    return ReportTally(days=days_in(period), charges=[conversation_charges(seg, tariff, rows, s_rows, keep)])


def conversation_charges(seg: Segmentation, tariff: Tariff, rows: np.ndarray, s_rows: np.ndarray,
                         keep: int | None = None) -> pa.Table:
    """Per conversation (``CHARGE_COLUMNS``): the billed sessions ``s_rows`` (session indexes)
    and out-of-session messages ``rows`` (loaded-row indexes) and their charge, summed exactly
    in integer units of the last decimal; with ``keep``, only the conversations that can be
    among the ``keep`` charged most."""
    log, places = seg.log, tariff.places
    units = unit_prices(seg, tariff, rows)
    accounts = log.businesses.to_pylist()
    key_units = units_of(units.prices, places)
    session_units = units_of([tariff.plan(a).session_price for a in accounts], places)
    n_sub = max(len(log.subscribers), 1)
    keys = np.concatenate([log.business[rows].astype(np.int64) * n_sub + log.subscriber[rows],
                           seg.s_business[s_rows].astype(np.int64) * n_sub + seg.s_subscriber[s_rows]])
    conv, inverse = unique_keys(keys, max(len(accounts), 1) * n_sub)
    messages, sessions, amount = _kernel().conversation_sums(inverse, key_units[units.inverse],
                                                          session_units[seg.s_business[s_rows]], len(conv))
    n_conv = len(conv)
    if keep == 0:
        conv, amount, messages, sessions = conv[:0], amount[:0], messages[:0], sessions[:0]
    elif keep is not None and n_conv > keep:
        chosen = amount >= np.partition(amount, n_conv - keep)[n_conv - keep]   # ties at the edge stay: exact
        conv, amount, messages, sessions = conv[chosen], amount[chosen], messages[chosen], sessions[chosen]
    return pa.table({"business_id": log.businesses.take(pa.array(conv // n_sub)).cast(pa.string()),
                     "subscriber_id": log.subscribers.take(pa.array(conv % n_sub)).cast(pa.string()),
                     "sessions": pa.array(sessions, pa.int64()), "messages": pa.array(messages, pa.int64()),
                     "amount": money_of_units(amount, places)}, schema=charges_schema(places))


def units_of(prices, places: int) -> np.ndarray:
    """Decimal prices, rounded to ``places`` decimals like :func:`viber_sessions.amounts.decimals`,
    as integers in units of the last decimal."""
    quantum = Decimal(1).scaleb(-places)
    return np.array([int(p.quantize(quantum).scaleb(places)) for p in prices], np.int64)


def money_of_units(units: np.ndarray, places: int) -> pa.Array:
    """Integers in units of the ``places``-th decimal as an exact money column."""
    units = np.ascontiguousarray(units, dtype=np.int64)
    words = np.empty((len(units), 2), np.int64)          # decimal128: little-endian low word, then high
    words[:, 0] = units
    words[:, 1] = units >> 63
    return pa.Array.from_buffers(money_type(places), len(units), [None, pa.py_buffer(words.tobytes())])


__all__ = ["charge_part", "conversation_charges", "from_segmentation", "message_part", "money_of_units",
           "out_of_session_rows", "session_part", "units_of"]


def _kernel():
    """The compiled passes (numba is imported when the first chart is counted: a run imports it
    on a thread while it reads the log, not on this one before)."""
    return importlib.import_module(f"{__package__}.kernel")
