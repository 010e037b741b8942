"""invoice: bill a log for one month."""

from __future__ import annotations

import io

import click

from .app import cli
from .options import (
    Progress, check_outputs_before, choose_engine, default_format, input_options, invalid_options,
    make_console, make_request, one_period, provenance, table_outputs, warn)

@cli.command()
@input_options()
@invalid_options
@click.option("--period", "periods", required=True, multiple=True, metavar="YYYY-MM",
              help="The billing month, in --tz.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default=None,
              help="Invoice format (default: from --output's suffix, else table on a terminal, else json).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the invoice to this file (.json, .csv, .txt) instead of standard output.")
@click.option("--account", "accounts", multiple=True, metavar="ID", help="Only this business account (repeatable).")
@click.option("--messages-out", type=click.Path(dir_okay=False), default=None,
              help="Write one row per input row (.csv or .parquet): session, billing and reason.")
@click.option("--sessions-out", type=click.Path(dir_okay=False), default=None,
              help="Write one row per session (.csv or .parquet).")
@click.option("--memory-limit", default=None, metavar="SIZE",
              help="Bill within about this much memory (e.g. 4GB): partition the log by conversation on disk "
                   "and bill bucket by bucket. Chosen automatically when the input is clearly larger than memory.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Folder for the temporary buckets of --memory-limit (default: the system's temporary folder).")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local: this machine; dask: a Dask cluster (pip install 'viber-sessions[dask]').")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="With --engine dask: the scheduler address (tcp://host:8786), or 'local' for a local cluster.")
def invoice(fmt, output, messages_out, sessions_out, rejects, quiet, memory_limit, workdir, engine, scheduler, periods,
            **kw):
    """Bill LOG... (CSV, CSV.gz, Parquet, directories, globs; - for stdin) for one month.

    Every output (--output, --messages-out, --sessions-out, --rejects) is written to a
    temporary file and all are renamed together at the end: an error or Ctrl-C leaves the
    previous files as they were.

    \b
    Example:
      viber-sessions invoice sample_data/messages.parquet \\
          --tariff sample_data/tariff.toml --period 2026-10 --tz Europe/Moscow
    """
    from .. import core, render, writing

    kw["period"] = one_period(periods)
    if output:
        fmt = fmt or writing.output_format(output, ("json", "csv", "table"))
        writing.output_format(output, ("json", "csv", "table"))
    fmt = fmt or default_format("table", "json")
    table_outputs(**{"--messages-out": messages_out, "--sessions-out": sessions_out, "--rejects": rejects})
    check_outputs_before(kw, {"--output": output, "--messages-out": messages_out, "--sessions-out": sessions_out,
                        "--rejects": rejects})
    request = make_request(kw)
    chosen = choose_engine(engine, scheduler, memory_limit, workdir, request, quiet)
    core.check_engine(chosen, messages_out, sessions_out)
    with Progress(quiet) as progress:
        result = core.run(request, chosen, progress)
    text = None
    if fmt == "table" and output:
        buf = io.StringIO()
        render.invoice_table(result.invoice, make_console(buf))
        text = buf.getvalue()
    elif fmt != "table":
        origin = provenance(result.sources, kw["tariff_path"])
        text = (render.invoice_json(result.invoice, origin) if fmt == "json"
                else render.invoice_csv(result.invoice))
    with writing.OutputSet() as out:
        core.write_outputs(result, kw["tz"], out, messages_out=messages_out, sessions_out=sessions_out,
                           rejects=rejects)
        if output:
            writing.write_text(out.stage(output), text, output)
    if text is None:
        render.invoice_table(result.invoice, make_console())
    elif not output:
        click.echo(text, nl=False)
    warn(result.invoice.warnings, quiet)

