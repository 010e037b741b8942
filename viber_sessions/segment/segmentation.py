"""Sessions of every conversation of a log: flags, order, the kernel, the result."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from typing import TYPE_CHECKING

from ..load import LoadOptions, MessageLog, from_table
from ..tariff import Limits, Tariff
from .carry import CarriedState
from .codes import (BEFORE_CUT, C_EXPIRED, C_OPEN, EXCLUDED, OUT_OF_SESSION, R_BEFORE_CUT, R_SESSIONS_DISABLED, SESSION)
from .plans import PlanLimits, plan_tables

if TYPE_CHECKING:                     # the compiled modules are imported where they run (see __init__)
    from .kernel import Pass
    from .order import OrderKeys


def id_part(names: pa.Array) -> pa.Array:
    """Identifiers as parts of a session id: ``%`` -> ``%25`` and ``/`` -> ``%2F`` (nothing else
    changes, so ordinary ids read as written)."""
    if not len(names):
        return names
    return pc.replace_substring(pc.replace_substring(names, "%", "%25"), "/", "%2F")


@dataclass(eq=False)
class Segmentation:
    """The per-message assignment and the sessions, aligned with the :class:`MessageLog` rows."""

    log: MessageLog
    limits: Limits       # every account's limits; with per-account limits, the top-level tariff's (see limits_of)
    billing: np.ndarray
    reason: np.ndarray
    session: np.ndarray
    # sessions, one entry each, ordered by conversation and start
    s_business: np.ndarray
    s_subscriber: np.ndarray
    s_start: np.ndarray
    s_origin: np.ndarray
    s_close: np.ndarray
    s_inbound: np.ndarray
    s_outbound: np.ndarray
    s_billable: np.ndarray
    s_first: np.ndarray  # loaded-row index of the message that opened the session
    data_end: int        # latest timestamp of all loaded data (ns), for "open" vs "expired"
    plan: Tariff | None = None          # the tariff whose plans gave each account its limits (None: ``limits``)
    plans: PlanLimits | None = None     # each account's limits (None: ``limits`` for every account)
    _countries: np.ndarray | None = None    # region index per subscriber code, -1: not looked up yet
    s_carried: np.ndarray | None = None     # per session: carried in from an earlier run's state (None: none was)
    carry: CarriedState | None = None       # the state this segmentation started from

    @property
    def n_sessions(self) -> int:
        return len(self.s_start)

    @property
    def s_expires(self) -> np.ndarray:
        if self.plans is None or self.plans.uniform:
            return self.s_start + self.limits.window_ns
        return self.s_start + self.plans.window_ns()[self.s_business]

    def limits_of(self, business: int) -> Limits:
        """The limits the sessions of business code ``business`` were computed with."""
        if self.plans is None:
            return self.limits
        return self.plans.limits[self.plans.of_business[business]]

    def countries(self, subscribers: np.ndarray) -> np.ndarray:
        """Region index (:func:`viber_sessions.countries.region_names`) of each subscriber code in
        ``subscribers``; each distinct subscriber is looked up once per segmentation."""
        from ..countries import classify

        if self._countries is None:
            self._countries = np.full(len(self.log.subscribers), -1, dtype=np.int16)
        if not (self._countries[subscribers] < 0).any():
            return self._countries[subscribers]
        need = np.zeros(len(self._countries), dtype=bool)
        need[subscribers] = True
        todo = np.flatnonzero(need & (self._countries < 0))
        if len(todo):
            self._countries[todo] = classify(self.log.subscribers.take(pa.array(todo)))
        return self._countries[subscribers]

    def session_ids(self) -> pa.Array:
        """Deterministic ids: ``business/subscriber/YYYYMMDDTHHMMSSZ`` (``-2``, ``-3`` ... when
        two sessions of a conversation start at the same instant). A ``%`` or ``/`` inside an id
        is written ``%25`` / ``%2F``, so ``a/b`` + ``c`` and ``a`` + ``b/c`` never meet."""
        if self.n_sessions == 0:
            return pa.array([], pa.string())
        start = pa.array(self.s_start, pa.timestamp("ns", tz="UTC"))
        stamp = pc.strftime(start.cast(pa.timestamp("s", tz="UTC"), safe=False), "%Y%m%dT%H%M%S")
        frac = self.s_start % 1_000_000_000
        if frac.any():
            detailed = pc.utf8_rtrim(pc.utf8_rtrim(pc.strftime(start, "%Y%m%dT%H%M%S"), "0"), ".")
            stamp = pc.if_else(pa.array(frac != 0), detailed, stamp)
        same = np.zeros(self.n_sessions, dtype=bool)
        same[1:] = ((self.s_business[1:] == self.s_business[:-1]) & (self.s_subscriber[1:] == self.s_subscriber[:-1])
                    & (self.s_start[1:] == self.s_start[:-1]))
        # k = position in a run of equal starts (0 for the first)
        run_start = np.flatnonzero(~same)
        k = np.arange(self.n_sessions) - np.repeat(run_start, np.diff(np.append(run_start, self.n_sessions)))
        suffix = pa.array(np.where(k > 0, np.char.add("-", (k + 1).astype(str)), ""), pa.string())
        ids = pc.binary_join_element_wise(
            id_part(self.log.businesses).take(pa.array(self.s_business)),
            id_part(self.log.subscribers).take(pa.array(self.s_subscriber)),
            pc.binary_join_element_wise(stamp, "Z", ""), "/")
        return pc.binary_join_element_wise(ids, suffix, "")

    def assignment(self) -> pa.Table:
        """One row per input row, in input order: session_id, billing and reason (the
        ``--messages-out`` table)."""
        from ..tables import messages_table
        return messages_table(self)

    def sessions(self, tz: str = "UTC") -> pa.Table:
        """One row per session (the ``--sessions-out`` table); ``tz`` decides billed_period."""
        from ..tables import sessions_table
        return sessions_table(self, tz)


def segment(messages, limits: Limits | Tariff | None = None, options: LoadOptions | None = None,
            duplicates: np.ndarray | Future | None = None, data_end: int | None = None,
            carry: CarriedState | None = None) -> Segmentation:
    """Sessions of every conversation of ``messages`` (a :class:`MessageLog`, or a pandas /
    pyarrow table with the canonical columns) under ``limits``: one :class:`Limits` for every
    account, or a :class:`Tariff`, whose plans give each account its own limits (an account
    override's ``[limits]``) and may turn its sessions off (``sessions = false``: every message
    of the account is out of session, reason ``sessions_disabled``).

    When ``messages`` is one part of a larger log (a bucket of whole conversations),
    ``duplicates`` marks its rows that repeat a message id seen earlier anywhere in the log,
    and ``data_end`` is the latest timestamp of the whole log. ``duplicates`` may also be a
    :class:`~concurrent.futures.Future` of those flags (being found on another thread): its
    result is asked for once the rows are ordered, which needs no flags.

    ``carry`` (a :class:`CarriedState` from an earlier run, see :mod:`viber_sessions.state`)
    starts each conversation in its carried session; rows before its cut are ``before_cut``
    and take no part; rows repeating a carried message id are duplicates.
    """
    tariff = limits if isinstance(limits, Tariff) else None
    limits = tariff.limits if tariff is not None else (limits or Limits())
    log = messages if isinstance(messages, MessageLog) else from_table(messages, options)
    from . import jit, load_kernels

    if not jit.interpreting():
        load_kernels()
    plans = None
    if tariff is not None and (tariff.accounts or not tariff.sessions):
        plans = PlanLimits.of(tariff, log.businesses.to_pylist())
    order = processing_order(log)
    if isinstance(duplicates, Future):
        duplicates = duplicates.result()
    billing, reason, off = row_classes(log, limits, plans, duplicates, carry)
    if data_end is None:
        data_end = int(log.timestamp.max()) if len(log) else 0
    one, run = kernel_pass(log, order, billing, limits, plans, carry, reason=reason)
    window = np.int64(one.window_ns) if one is not None else plans.window_ns()[log.business[run.s_row]]
    session, s_close = run.session, run.s_close
    unclosed = s_close == 0
    ends = run.s_start + window
    s_close[unclosed] = np.where(ends[unclosed] <= data_end, C_EXPIRED, C_OPEN)
    billable = (run.s_in > 0) & (run.s_out > 0)
    from .rows import finish

    finish(billing, session, reason, billable)
    if off is not None:
        billing[off] = OUT_OF_SESSION
        reason[off] = R_SESSIONS_DISABLED
    s_first = run.s_row
    return Segmentation(
        log=log, limits=one or limits, billing=billing, reason=reason, session=session,
        s_business=log.business[s_first], s_subscriber=log.subscriber[s_first], s_start=run.s_start,
        s_origin=run.s_origin, s_close=s_close, s_inbound=run.s_in, s_outbound=run.s_out, s_billable=billable,
        s_first=s_first, data_end=data_end, plan=tariff, plans=plans,
        s_carried=run.s_carried if carry is not None else None, carry=carry)


def row_classes(log: MessageLog, limits: Limits, plans: PlanLimits | None, duplicates: np.ndarray | None,
                carry: CarriedState | None):
    """Each loaded row's class before the kernel, in the order of README "Rows": before_cut,
    duplicate, excluded (rejected rows are not loaded); and the rows of accounts without
    sessions (EXCLUDED here, billed per message after the kernel)."""
    from .dedup import first_occurrences
    from .rows import classes

    first = first_occurrences(log.message_id) if duplicates is None else ~duplicates
    if carry is not None:
        first &= ~carry.repeats(log.message_id)
    status = log.status if log.status is not None and log.statuses else None
    if plans is None or len(plans.limits) == 1:
        unbilled = np.array([[s in limits.unbilled_statuses for s in log.statuses] + [False]], dtype=bool)
        plan = np.zeros(len(log.businesses), np.int32)
    else:
        unbilled = np.array([[s in l.unbilled_statuses for s in log.statuses] + [False] for l in plans.limits],
                            dtype=bool)
        plan = plans.of_business
    billing, reason = classes(first, status, unbilled, plan, log.business)    # status -1 (none): the last entry
    if carry is not None:
        before = log.timestamp < carry.cut_ns
        billing[before] = BEFORE_CUT
        reason[before] = R_BEFORE_CUT
    off = None
    if plans is not None and plans.sessions_off.any():
        off = plans.sessions_off[log.business] & (billing == SESSION)
        billing[off] = EXCLUDED                              # the kernel skips them; billed per message below
    return billing, reason, off


def processing_order(log: MessageLog) -> OrderKeys | np.ndarray:
    """The rows in processing order, with their keys when the radix sort gives them (the kernel
    then reads no column but the type through the order)."""
    from .order import conversation_keys, conversation_order

    columns = (log.business, log.subscriber, len(log.subscribers), log.timestamp, log.inbound)
    return conversation_keys(*columns) or conversation_order(*columns)


def kernel_pass(log: MessageLog, order: OrderKeys | np.ndarray, billing: np.ndarray, limits: Limits, plans: PlanLimits | None,
                carry: CarriedState | None = None, want_end: bool = False,
                reason: np.ndarray | None = None) -> tuple[Limits | None, Pass]:
    """The kernel over ``order`` (rows, or :class:`~.order.OrderKeys`) with each account's
    limits: (the one set of limits of every account, or None when they differ; the pass).
    ``reason``: see :func:`~.kernel.run_pass`."""
    from .kernel import run_pass

    types = log.message_types
    codes = carry.codes(log) if carry is not None else None
    if plans is None or plans.uniform:
        one = limits if plans is None or not len(plans.of_business) else plans.limits[plans.of_business[0]]
        can_open = np.array([[t not in one.non_opening_types for t in types] + [False]], dtype=bool)
        allowed = np.array([[t in one.session_types for t in types] + [False]], dtype=bool)
        return one, run_pass(order, log.business, log.subscriber, log.timestamp, log.inbound, log.mtype, billing,
                             None, (one,), can_open, allowed, codes, len(log.subscribers), want_end, reason)
    can_open, allowed = plan_tables(plans, types)
    return None, run_pass(order, log.business, log.subscriber, log.timestamp, log.inbound, log.mtype, billing,
                          plans.of_business, plans.limits, can_open, allowed, codes, len(log.subscribers), want_end,
                          reason)
