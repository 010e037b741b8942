"""The pipeline every command runs: load -> segment -> bill. No click here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from . import tables, writing
from .billing import Invoice, bill
from .load import LoadOptions, MessageLog, load
from .segment import Segmentation, segment
from .tariff import Tariff, load_tariff
from .timeutil import Period, check_timezone


@dataclass(frozen=True)
class Request:
    """What to bill: the inputs and every option that changes the result."""

    inputs: Sequence[str]
    tariff: str | Tariff
    period: str
    tz: str = "UTC"
    input_tz: str = "UTC"
    column_map: Mapping[str, str] = field(default_factory=dict)
    epoch_unit: str | None = None
    on_invalid: str = "error"
    accounts: Sequence[str] = ()

    def load_options(self) -> LoadOptions:
        return LoadOptions(column_map=dict(self.column_map), input_tz=self.input_tz,
                           epoch_unit=self.epoch_unit, on_invalid=self.on_invalid)


@dataclass(eq=False)
class Result:
    log: MessageLog
    tariff: Tariff
    segmentation: Segmentation
    invoice: Invoice


def prepare(request: Request, stdin=None) -> tuple[MessageLog, Tariff]:
    """Check the options, read the tariff, then load the log (cheap checks first)."""
    check_timezone(request.tz, "--tz")
    tariff = request.tariff if isinstance(request.tariff, Tariff) else load_tariff(request.tariff)
    return load(request.inputs, request.load_options(), stdin=stdin), tariff


def run_invoice(request: Request, stdin=None, progress=None) -> Result:
    """Load, segment and bill as ``request`` says. Raises ViberSessionsError subclasses only.

    ``progress(what, done, total)``, when given, is told as each of the three steps ends."""
    step = (lambda k: progress("billing", k, 3)) if progress else (lambda k: None)
    period = Period.parse(request.period, request.tz)
    step(0)
    log, tariff = prepare(request, stdin)
    step(1)
    seg = segment(log, tariff)
    step(2)
    invoice = with_notices(bill(seg, tariff, period, request.accounts), log.notices)
    step(3)
    return Result(log=log, tariff=tariff, segmentation=seg, invoice=invoice)


def with_notices(invoice: Invoice, notices=()) -> Invoice:
    """The invoice with what the reader noticed (a last line without a line end, ...) and the
    accounts on it whose ids look mistyped (surrounding spaces, invisible characters) added to
    its warnings."""
    from . import ids

    extra = [str(p) for p in notices] + ids.warning_lines([a.business_id for a in invoice.accounts])
    return dataclasses.replace(invoice, warnings=tuple(invoice.warnings) + tuple(extra)) if extra else invoice


def run_invoice_chunked(request: Request, memory_limit: int, workdir: str | None = None, progress=None):
    """The invoice of a log larger than memory (see :mod:`viber_sessions.chunked`)."""
    from . import chunked

    period = Period.parse(request.period, request.tz)
    check_timezone(request.tz, "--tz")
    tariff = request.tariff if isinstance(request.tariff, Tariff) else load_tariff(request.tariff)
    result = chunked.run_invoice(request.inputs, request.load_options(), tariff, period, memory_limit,
                                 request.accounts, workdir, progress)
    return dataclasses.replace(result, invoice=with_notices(result.invoice, result.notices))


def run_invoice_dask(request: Request, scheduler: str = "local", progress=None):
    """The invoice computed on a Dask cluster (see :mod:`viber_sessions.distributed`)."""
    from . import distributed

    result = distributed.run_invoice(request, scheduler, progress=progress)
    return dataclasses.replace(result, invoice=with_notices(result.invoice, result.notices))


def write_outputs(result: Result, tz: str, out: writing.OutputSet, messages_out: str | None = None,
                  sessions_out: str | None = None, rejects: str | None = None) -> None:
    """Stage the optional audit files of an in-memory invoice run in ``out``."""
    if messages_out:
        writing.write_table(tables.messages_table(result.segmentation), out.stage(messages_out), messages_out)
    if sessions_out:
        writing.write_table(tables.sessions_table(result.segmentation, tz), out.stage(sessions_out), sessions_out)
    if rejects:
        writing.write_table(result.log.rejected, out.stage(rejects), rejects)
