"""The pipeline every command runs: load -> segment -> bill. No click here.

The engine is a seam: ``run(request, engine)`` bills with ``Local()`` (in memory),
``OutOfCore(memory_limit, workdir)`` (partitioned on disk) or ``Dask(scheduler)`` and returns one
:class:`Result` whatever the engine; the engines never change what is computed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

import pyarrow as pa

from . import nopandas, tables, writing
from .billing import Invoice, bill_periods
from .load import LoadOptions, MessageLog, load
from .monthly import carried_state, state_cut
from .periods import PeriodSelection, parse_periods
from .segment import CarriedState, Segmentation, preload_kernels, segment, state_at
from .segment.ahead import Ahead
from .tariff import Tariff, load_tariff
from .timeutil import Period, check_timezone  # noqa: F401  (core.Period, as callers know it)


@dataclass(frozen=True)
class Request:
    """What to bill: the inputs and every option that changes the result.

    ``periods``: the ``--period`` values (months ``2026-10`` or ranges ``2026-07..2026-10``; when
    empty, ``period`` alone); :meth:`selection` gives the months and the shape of the output.
    ``state_in``: a state file (or :class:`~viber_sessions.segment.CarriedState`) to start every
    conversation from; ``state_out``: also compute the state at the end of the last period."""

    inputs: Sequence[str]
    tariff: str | Tariff
    period: str = ""
    tz: str = "UTC"
    input_tz: str = "UTC"
    column_map: Mapping[str, str] = field(default_factory=dict)
    epoch_unit: str | None = None
    on_invalid: str = "error"
    accounts: Sequence[str] = ()
    load: LoadOptions | None = None     # every reading option at once (wins over the four fields above)
    periods: Sequence[str] = ()
    state_in: object = None             # a path, a CarriedState or None
    state_out: bool = False

    def load_options(self) -> LoadOptions:
        if self.load is not None:
            return self.load
        return LoadOptions(column_map=dict(self.column_map), input_tz=self.input_tz,
                           epoch_unit=self.epoch_unit, on_invalid=self.on_invalid)

    def selection(self) -> PeriodSelection:
        """The months to bill, sorted (a usage error for a bad ``--period``)."""
        return parse_periods(list(self.periods) or [self.period], self.tz)


@dataclass(eq=False)
class Result:
    """One result type for every engine: ``invoices``, one per period in order (``invoice`` is
    the first, or only, one) and ``state``, the state at the end of the last period when the
    request asked for it. ``log`` and ``segmentation`` are there in memory only (the engines
    that bill in parts never hold the whole log); ``parts`` is there out of core and on Dask:
    what makes the audit tables part by part (its open files, or the cluster it started, are
    released by :meth:`close` - use ``with core.run(...) as result:`` - or when the result is
    dropped: no code of ours runs then, so a signal at that moment still ends the run in one line)."""

    log: MessageLog | None
    tariff: Tariff
    segmentation: Segmentation | None
    invoice: Invoice
    rejected: pa.Table | None = None
    sources: list[str] = field(default_factory=list)
    notices: tuple = ()          # what the reader noticed (errors.Problem), also among the invoice's warnings
    parts: object = None         # chunked.Buckets or dask_engine.DaskParts
    invoices: list[Invoice] = field(default_factory=list)
    state: CarriedState | None = None

    def __post_init__(self):
        if self.log is not None:
            self.rejected = self.log.rejected if self.rejected is None else self.rejected
            self.sources = self.sources or list(self.log.sources)
            self.notices = self.notices or tuple(self.log.notices)
        self.invoices = list(self.invoices) or [self.invoice]

    def messages(self) -> Iterator[pa.Table]:
        """The ``--messages-out`` table, part by part (in memory: one part): one row per input
        row in input order, the rejected rows among them, on every engine."""
        if self.segmentation is not None:
            yield tables.messages_table(self.segmentation)
        else:
            yield from self.parts.tables("messages")

    def sessions(self, tz: str, where: Callable | None = None) -> Iterator[pa.Table]:
        """The ``--sessions-out`` table, part by part (in memory: one part), ordered by business,
        subscriber, start and id on every engine; only the sessions where ``where(segmentation)``
        (a mask, e.g. :class:`viber_sessions.sessionlist.Filter`) holds, when given."""
        if self.segmentation is not None:
            seg = self.segmentation
            yield tables.sessions_table(seg, tz, None if where is None else where(seg))
        else:
            yield from self.parts.tables("sessions", tz, where)

    def close(self) -> None:
        if self.parts is not None:
            self.parts.close()

    def __enter__(self) -> "Result":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class Local:
    """In memory: load the whole log, segment, bill."""

    def invoice(self, request: Request, progress=None) -> Result:
        return run_invoice(request, progress=progress)


@dataclass(frozen=True)
class OutOfCore:
    """Within about ``memory_limit`` bytes: partition by conversation on disk, bill bucket by
    bucket (:mod:`viber_sessions.chunked`)."""

    memory_limit: int
    workdir: str | None = None
    def invoice(self, request: Request, progress=None) -> Result:
        return run_invoice_chunked(request, self.memory_limit, self.workdir, progress)


@dataclass(frozen=True)
class Dask:
    """On a Dask cluster (``scheduler`` address, or ``local``; :mod:`viber_sessions.dask_engine`)."""

    scheduler: str = "local"
    def invoice(self, request: Request, progress=None) -> Result:
        return run_invoice_dask(request, self.scheduler, progress)


Engine = Local | OutOfCore | Dask


def check_engine(engine: Engine, messages_out: str | None = None, sessions_out: str | None = None) -> None:
    """Refuse, before any work, an engine that cannot run here (Dask not installed). Every
    engine writes every output."""
    if isinstance(engine, Dask):
        from . import dask_engine

        dask_engine.require_dask()


def run(request: Request, engine: Engine | None = None, progress=None) -> Result:
    """Bill ``request`` with ``engine`` (default in memory): the one entry point of the CLI.
    Every engine bills every period of the request from one load and one segmentation, from
    its carried-in state, and computes the state at the end of the last period when asked."""
    return (engine or Local()).invoice(request, progress)


def tariff_of(request: Request) -> Tariff:
    check_timezone(request.tz, "--tz")
    return request.tariff if isinstance(request.tariff, Tariff) else load_tariff(request.tariff)


def prepare(request: Request, stdin=None, on_ids=None) -> tuple[MessageLog, Tariff]:
    """Check the options, read the tariff, then load the log (cheap checks first). ``on_ids``:
    see :func:`~viber_sessions.load.load`."""
    tariff = tariff_of(request)
    return load(request.inputs, request.load_options(), stdin=stdin, on_ids=on_ids), tariff


def run_invoice(request: Request, stdin=None, progress=None) -> Result:
    """Load, segment and bill as ``request`` says. Raises ViberSessionsError subclasses only.

    ``progress(what, done, total)``, when given, is told as each of the three steps ends."""
    step = (lambda k: progress("billing", k, 3)) if progress else (lambda k: None)
    periods = list(request.selection().periods)
    step(0)
    preload_kernels(nopandas.wanted(), ("viber_sessions.counting",))      # on a thread, while the log is read
    ahead = Ahead()                 # the duplicate flags, found while the log is typed
    log, tariff = prepare(request, stdin, on_ids=ahead.start)
    carry = carried_state(request.state_in, tariff, request.load_options(), periods)
    step(1)
    seg = segment(log, tariff, carry=carry, duplicates=ahead.pending(log))
    step(2)
    invoices = [with_notices(inv, log.notices) for inv in bill_periods(seg, tariff, periods, request.accounts)]
    state = state_at(seg, state_cut(periods)) if request.state_out else None
    step(3)
    return Result(log=log, tariff=tariff, segmentation=seg, invoice=invoices[0], invoices=invoices, state=state)


def with_notices(invoice: Invoice, notices=()) -> Invoice:
    """The invoice with what the reader noticed (a last line without a line end, ...) and the
    accounts on it whose ids look mistyped (surrounding spaces, invisible characters) added to
    its warnings."""
    from . import ids

    extra = [str(p) for p in notices] + ids.warning_lines([a.business_id for a in invoice.accounts])
    return dataclasses.replace(invoice, warnings=tuple(invoice.warnings) + tuple(extra)) if extra else invoice


def run_invoice_chunked(request: Request, memory_limit: int, workdir: str | None = None, progress=None):
    """The invoices of a log larger than memory (see :mod:`viber_sessions.chunked`)."""
    from . import chunked

    periods = list(request.selection().periods)
    tariff = tariff_of(request)
    carry = carried_state(request.state_in, tariff, request.load_options(), periods)
    result = chunked.run_invoice(request.inputs, request.load_options(), tariff, periods, memory_limit,
                                 request.accounts, workdir, progress, carry=carry, want_state=request.state_out)
    return parted(result, tariff, request)


def run_invoice_dask(request: Request, scheduler: str = "local", progress=None):
    """The invoices computed on a Dask cluster (see :mod:`viber_sessions.dask_engine`)."""
    from . import dask_engine

    result = dask_engine.run_invoice(request, scheduler, progress=progress)
    return parted(result, tariff_of(request), request)


def parted(result, tariff: Tariff, request: Request) -> Result:
    """The :class:`Result` of an engine that billed in parts (a ``chunked.ChunkedResult``)."""
    invoices = [with_notices(inv, result.notices) for inv in result.invoices]
    return Result(log=None, tariff=tariff, segmentation=None, invoice=invoices[0], invoices=invoices,
                  rejected=result.rejected, sources=list(request.inputs), notices=tuple(result.notices),
                  parts=result.parts, state=result.state)


def write_outputs(result: Result, tz: str, out: writing.OutputSet, messages_out: str | None = None,
                  sessions_out: str | None = None, rejects: str | None = None) -> None:
    """Stage the optional audit files of a run (any engine) in ``out``: the same bytes whatever
    the engine (parts of :data:`~viber_sessions.outofcore.runs.PART_ROWS` rows, one row group each)."""
    if messages_out:
        write_parts(result.messages(), out.stage(messages_out), messages_out)
    if sessions_out:
        write_parts(result.sessions(tz), out.stage(sessions_out), sessions_out)
    if rejects:
        writing.write_table(result.rejected, out.stage(rejects), rejects)


def write_parts(parts: Iterator[pa.Table], tmp: str, target: str) -> None:
    """Tables that arrive part by part as one file (``writing.write_tables``), cut into parts of
    a fixed number of rows first, so that every engine writes the same bytes."""
    from .outofcore.runs import fixed_parts

    try:
        writing.write_tables(fixed_parts(parts), tmp, target)
    finally:
        parts.close()
