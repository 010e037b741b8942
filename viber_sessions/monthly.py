"""The monthly run (README, "Monthly runs"): several periods billed from one load and one
segmentation, starting from a carried-in state and leaving one for the next run. No click here.

In memory only for now: the engines that bill in parts (``--memory-limit``, Dask) bill one
period without a state through :func:`viber_sessions.core.run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import core
from .billing import Invoice, bill_periods
from .errors import UsageError
from .periods import PeriodSelection
from .segment import CarriedState, segment, state_at


@dataclass(eq=False)
class MonthlyResult:
    """The invoices of a run, in period order, with the one-invoice :class:`core.Result` of the
    run (its audit tables, rejected rows and sources) and the state at the end of the last period."""

    invoices: list[Invoice]
    result: core.Result
    state: CarriedState | None = None
    notices: list[str] = field(default_factory=list)
    options: object = None       # the LoadOptions the log was read with (recorded in a state file)


def run_monthly(request: core.Request, selection: PeriodSelection, engine=None, state_in: str | None = None,
                want_state: bool = False, progress=None, stdin=None) -> MonthlyResult:
    """Bill every period of ``selection``; ``state_in`` is a state file to start from,
    ``want_state`` asks for the state at the end of the last period."""
    engine = engine or core.Local()
    in_parts = not isinstance(engine, core.Local)
    if in_parts and (len(selection.periods) > 1 or state_in or want_state):
        raise UsageError("several periods, --state-in and --state-out are billed in memory only for now: they "
                         "cannot be combined with --memory-limit or --engine dask")
    if in_parts:
        result = core.run(request, engine, progress)
        return MonthlyResult([result.invoice], result, options=request.load_options())
    from .state import read_state

    step = (lambda k: progress("billing", k, 3)) if progress else (lambda k: None)
    step(0)
    log, tariff = core.prepare(request, stdin)
    carry = read_state(state_in, tariff, request.load_options()) if state_in else None
    step(1)
    seg = segment(log, tariff, carry=carry)
    step(2)
    invoices = [core.with_notices(inv, log.notices)
                for inv in bill_periods(seg, tariff, list(selection.periods), request.accounts)]
    step(3)
    state = state_at(seg, selection.last.end_ns) if want_state else None
    result = core.Result(log=log, tariff=tariff, segmentation=seg, invoice=invoices[0])
    return MonthlyResult(invoices, result, state, options=request.load_options())
