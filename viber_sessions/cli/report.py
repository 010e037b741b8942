"""report: one self-contained HTML page about a month's billing."""

from __future__ import annotations

import click

from .app import cli
from .engines import choose_engine, engine_options, Progress
from .options import check_outputs_before, input_options, invalid_options, make_request, state, \
    one_period, table_outputs, warn


@cli.command()
@input_options()
@invalid_options
@click.option("--period", "periods", required=True, multiple=True, metavar="YYYY-MM",
              help="The billing month, in --tz.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="The HTML file to write (.html), atomically.")
@click.option("--top", type=click.IntRange(min=0, max=1000), default=10, show_default=True,
              help="How many of the conversations charged most to list.")
@engine_options
def report(output, top, rejects, quiet, memory_limit, workdir, engine, scheduler, periods, **kw):
    """Write a report of LOG... for one month as one HTML file: the invoice per account, its
    warnings, charts and the conversations charged most, each with the explain command that
    shows it. The file opens offline (no script, nothing fetched).

    \b
    Example:
      viber-sessions report sample_data/messages.parquet --tariff sample_data/tariff.toml \\
          --period 2026-10 --tz Europe/Moscow --output report.html
    """
    from .. import core, report as reporting, writing

    kw["period"] = one_period(periods)
    writing.output_format(output, ("html",))
    table_outputs(**{"--rejects": rejects})
    check_outputs_before(kw, {"--output": output, "--rejects": rejects})
    request = make_request(kw)
    chosen = choose_engine(engine, scheduler, memory_limit, workdir, request, quiet)
    core.check_engine(chosen)
    # the charts' helper imports matplotlib on the other core while the log is read and billed
    with reporting.start() as painter:
        with Progress(quiet) as progress:
            result = core.run(request, chosen, progress)
        try:
            profile = state.get("profile")
            text = reporting.build(result, request, top, source=profile.path if profile is not None else None,
                                   painter=painter)
            with writing.OutputSet() as out:
                writing.write_text(out.stage(output), text, output)
                if rejects:
                    writing.write_table(result.rejected, out.stage(rejects), rejects)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    warn(result.invoice.warnings, quiet)
