"""The report of a run as HTML text (:func:`build`): the invoice, the tallies drawn as charts
(asked of a painter as soon as each is counted) and the conversations charged most, each with
its ``explain`` command (:func:`explain_prefix`)."""


from __future__ import annotations

import contextlib
from typing import Sequence

from .. import render
from ..timeutil import Period
from . import arrays, page
from .arrays import from_segmentation
from .painter import Painter
from .tally import ReportTally, from_tables

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
          source: str | None = None, painter: Painter | None = None) -> str:
    """The report of ``result`` (``core.run(request, engine)``) as HTML text. The charts are
    drawn by ``painter`` (default: in this process), each asked for as soon as its tally is
    counted: the invoice's, the sessions', then the messages' (one pass over the rows)."""
    period = Period.parse(request.period, request.tz)
    doc = render.invoice_dict(result.invoice)
    month, tz = doc["period"], doc["timezone"]
    with (Painter() if painter is None else contextlib.nullcontext(painter)) as paint:
        asked = _ask(paint, page.amount_charts(doc))
        seg = result.segmentation
        if seg is not None:
            sessions = arrays.session_part(seg, period)
            asked |= _ask(paint, page.session_charts(sessions, month, tz))
            rows = arrays.out_of_session_rows(seg, period)
            messages = arrays.message_part(seg, period, rows)
            asked |= _ask(paint, page.message_charts(messages, month, tz))
            counted = sessions + messages + arrays.charge_part(seg, result.tariff, period, rows, top)
        else:
            counted = tally_of(result, period, top)
            asked |= _ask(paint, {**page.session_charts(counted, month, tz), **page.message_charts(counted, month, tz)})
        best = counted.top_conversations(top, result.tariff.places) if top else None
        svgs = {name: paint.svg(key) for name, key in asked.items()}
    tariff = request.tariff if isinstance(request.tariff, str) else getattr(request.tariff, "source", "")
    inputs = [str(i) for i in (result.sources or request.inputs)]
    return page.page(doc, svgs, best, explain_prefix(request, source) if explain is None else explain, inputs,
                     str(tariff))


def _ask(painter: Painter, jobs: dict[str, tuple]) -> dict[str, int]:
    """Ask ``painter`` for each chart of ``jobs`` (chart name -> (drawing, args)); their keys."""
    return {name: painter.submit(drawing, *args) for name, (drawing, args) in jobs.items()}


__all__ = ["TOP_CONVERSATIONS", "build", "explain_prefix", "tally_of"]
