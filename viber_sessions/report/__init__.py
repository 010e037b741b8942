"""``viber-sessions report``: one self-contained HTML page about one period's billing.

The page holds the invoice per account (net, tax, amount due, the status when the invoice has
one), its warnings, charts (billable sessions per day and account, out-of-session messages per
day and type, amounts by account and line, sessions by close reason and origin, messages per
session, the hour sessions open) and the conversations charged most, each with the ``explain``
command that shows it. No click here.

The charts are drawn from per-day tallies (:mod:`.tally`) of the run's result: in memory
straight from the segmentation's arrays, on the engines that bill in parts from the audit
tables part by part (``Result.messages()``, ``Result.sessions(tz)``); both give the same tally
(``tests/test_report.py``). :mod:`.charts` draws them with matplotlib as inline SVG, and
:mod:`.page` writes the HTML.
"""

from __future__ import annotations

from typing import Sequence

from .. import render
from ..timeutil import Period
from . import page
from .tally import ReportTally, from_segmentation, from_tables

TOP_CONVERSATIONS = 10


def tally_of(result, period: Period, top: int | None = None) -> ReportTally:
    """The report's tally of a run (``core.Result``) for ``period`` (with ``top``: enough
    conversations for the ``top`` charged most)."""
    if result.segmentation is not None:
        return from_segmentation(result.segmentation, result.tariff, period, top)
    return from_tables(result.messages(), result.sessions(period.tz), result.tariff, period)


def explain_prefix(request, source: str | None = None) -> list[str]:
    """The start of the ``explain`` command for one of ``request``'s conversations: the same
    inputs, tariff, billing zone, source profile (``source``, its path: value mappings live
    only there) and reading options (``--business``, ``--subscriber`` and ``--period``
    follow)."""
    options = request.load_options()
    tariff = request.tariff if isinstance(request.tariff, str) else getattr(request.tariff, "source", "TARIFF")
    args = ["viber-sessions", "explain", *[str(i) for i in request.inputs], "--tariff", str(tariff)]
    if source:
        args += ["--source", str(source)]
    if request.tz != "UTC":
        args += ["--tz", request.tz]
    args += _reading_args(options)
    if options.input_tz != "UTC":
        args += ["--input-tz", options.input_tz]
    for canonical, source in sorted(options.column_map.items()):
        args += ["--map", f"{canonical}={source}"]
    if options.epoch_unit:
        args += ["--epoch-unit", options.epoch_unit]
    if options.on_invalid != "error":
        args += ["--on-invalid", options.on_invalid]
    return args


def _reading_args(options) -> list[str]:
    """The export-reading options of ``options`` that differ from the defaults."""
    args: list[str] = []
    for flag, value in (("--encoding", options.encoding), ("--delimiter", options.delimiter),
                        ("--subscriber-format", None if options.subscriber_format == "as_is"
                         else options.subscriber_format),
                        ("--default-region", options.default_region), ("--sheet", options.sheet),
                        ("--skip-rows", str(options.skip_rows) if options.skip_rows else None)):
        if value is not None:
            args += [flag, value]
    for fmt in options.timestamp_format:
        args += ["--timestamp-format", fmt]
    return args


def build(result, request, top: int = TOP_CONVERSATIONS, explain: Sequence[str] | None = None,
          source: str | None = None) -> str:
    """The report of ``result`` (``core.run(request, engine)``) as HTML text."""
    period = Period.parse(request.period, request.tz)
    tally = tally_of(result, period, top)
    doc = render.invoice_dict(result.invoice)
    best = tally.top_conversations(top, result.tariff.places) if top else None
    tariff = request.tariff if isinstance(request.tariff, str) else getattr(request.tariff, "source", "")
    inputs = [str(i) for i in (result.sources or request.inputs)]
    return page.page(doc, tally, best, explain_prefix(request, source) if explain is None else explain, inputs, str(tariff))


__all__ = ["TOP_CONVERSATIONS", "ReportTally", "build", "explain_prefix", "from_segmentation", "from_tables",
           "tally_of"]
