"""Compare our sessions and charges with a provider's statement and say where they differ.

Two statement grains, told apart by their columns:

- per session: ``business_id``, ``subscriber_id``, ``start`` (optional ``session_id``,
  ``amount``, ``billable``): sessions are matched by conversation and start time;
- per account and day or month: ``business_id``, ``date`` or ``period``, ``sessions``,
  ``out_of_session_messages``, ``amount`` (sessions and out-of-session charges, without the
  monthly fee).

Our side comes from the audit tables of a run (:class:`viber_sessions.core.Result`), part by
part, so it works on every engine (:mod:`.ours`); the package: :mod:`.statement` (reading the
statement), :mod:`.matching` (the comparison), :mod:`.report` (results and their display).
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

import pyarrow as pa

from .. import tables
from ..errors import BillingError
from ..segment import Segmentation
from ..tariff import Tariff
from ..timeutil import Period
from .matching import StatementSessions, match_aggregates, match_sessions, statement_aggregates
from .ours import aggregates, collect_sessions, out_of_session_counts, session_counts
from .report import AccountDiff, Difference, Reconciliation, as_dict, details_table, render_table
from .statement import AGGREGATE_COLUMNS, SESSION_COLUMNS, Source, read_statement, unquote_cells

__all__ = ["AGGREGATE_COLUMNS", "SESSION_COLUMNS", "AccountDiff", "Difference", "Reconciliation", "as_dict",
           "check_plans", "details_table", "read_statement", "reconcile", "render_table", "unquote_cells"]


def reconcile(source, tariff: Tariff, statement_path: str, tz: str, period: Period | None = None,
              time_tolerance_s: float = 60, column_map: Mapping[str, str] | None = None,
              input_tz: str = "UTC") -> Reconciliation:
    """Our side against the statement at ``statement_path``. ``source`` is a run's
    :class:`~viber_sessions.core.Result` (any engine: its session and message tables are read
    part by part) or, in memory, a :class:`Segmentation` made with ``tariff``."""
    sessions, messages = _tables_of(source, tariff, tz)
    grain, table = read_statement(statement_path, column_map)
    src = Source(statement_path, column_map)
    if grain == "session":
        theirs = StatementSessions(src, table, tariff, period, input_tz)
        ours, every = collect_sessions(sessions(), set(theirs.by_conversation), period)
        return match_sessions(ours, every, theirs, tariff, time_tolerance_s)
    theirs = statement_aggregates(src, table, grain, period)
    ours = aggregates(session_counts(sessions(), tz, grain), out_of_session_counts(messages(), tariff, tz, grain),
                      tariff)
    return match_aggregates(ours, theirs, grain, period)


Parts = Callable[[], Iterable[pa.Table]]


def _tables_of(source, tariff: Tariff, tz: str) -> tuple[Parts, Parts]:
    """The session and message tables of ``source``, each as a function giving its parts."""
    if isinstance(source, Segmentation):
        check_plans(source, tariff)
        return (lambda: iter([tables.sessions_table(source, tz)]), lambda: iter([tables.messages_table(source)]))
    return (lambda: source.sessions(tz)), source.messages


def check_plans(seg: Segmentation, tariff: Tariff) -> None:
    """Refuse a segmentation whose sessions of some account were computed with other limits (or
    another ``sessions`` switch) than the account's plan gives it, as the invoice does: our side
    would not be the sessions we bill."""
    off = seg.plans.sessions_off if seg.plans is not None else None
    for b, name in enumerate(seg.log.businesses.to_pylist()):
        plan = tariff.plan(name)
        if (seg.limits_of(b), not (off is not None and bool(off[b]))) != (plan.limits, plan.sessions):
            raise BillingError(f"the sessions of account {name!r} were computed with other limits than its plan in "
                               f"{tariff.source} gives it: segment the log with the tariff, segment(log, tariff)")
