"""invoice: bill a log for one month or several (one load, every engine, through core.run)."""

from __future__ import annotations

import io
import json

import click

from .app import cli
from .engines import Progress, choose_engine, engine_options
from .options import (
    check_outputs_before, default_format, input_options, invalid_options,
    make_console, make_request, state, table_outputs, warn)


@cli.command()
@input_options()
@invalid_options
@click.option("--period", "periods", required=True, multiple=True, metavar="YYYY-MM[..YYYY-MM]",
              help="The billing month in --tz, or a range of months (2026-07..2026-10); repeatable.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default=None,
              help="Invoice format (default: from --output's suffix, else table on a terminal, else json).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the invoice to this file (.json, .csv, .txt) instead of standard output.")
@click.option("--output-dir", type=click.Path(file_okay=False), default=None,
              help="Write DIR/{period}/{account}.json (or .csv with --format csv) and DIR/{period}/invoice.json; "
                   "each period's folder is replaced whole.")
@click.option("--account", "accounts", multiple=True, metavar="ID", help="Only this business account (repeatable).")
@click.option("--messages-out", type=click.Path(dir_okay=False), default=None,
              help="Write one row per input row (.csv or .parquet): session, billing and reason.")
@click.option("--sessions-out", type=click.Path(dir_okay=False), default=None,
              help="Write one row per session (.csv or .parquet).")
@click.option("--state-out", type=click.Path(dir_okay=False), default=None,
              help="Write the state of every conversation at the end of the last period (.parquet) for the next run.")
@click.option("--state-in", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Start every conversation in the state an earlier run wrote with --state-out.")
@click.option("--fast-provenance", is_flag=True,
              help="In generated_by, record each input's size and modification time instead of its sha256.")
@engine_options
def invoice(fmt, output, output_dir, messages_out, sessions_out, state_out, state_in, fast_provenance, rejects, quiet,
            memory_limit, workdir, engine, scheduler, periods, **kw):
    """Bill LOG... (CSV, CSV.gz, Parquet, directories, globs; - for stdin) for one month or several.

    Every output (--output, --output-dir, --messages-out, --sessions-out, --state-out, --rejects)
    is written to a temporary file or folder and all are renamed together at the end: an error
    or Ctrl-C leaves the previous files as they were.

    \b
    Example:
      viber-sessions invoice sample_data/messages.parquet \\
          --tariff sample_data/tariff.toml --period 2026-10 --tz Europe/Moscow
    """
    import dataclasses

    from .. import core, outdir, writing
    from ..periods import parse_periods
    from ..provenance import Digests

    selection = parse_periods(periods, kw["tz"])
    kw["period"] = str(selection.first)
    if output:
        fmt = fmt or writing.output_format(output, ("json", "csv", "table"))
        writing.output_format(output, ("json", "csv", "table"))
    fmt = fmt or default_format("table", "json")
    if output_dir and fmt == "table":
        fmt = "json" if not output else fmt
    table_outputs(**{"--messages-out": messages_out, "--sessions-out": sessions_out, "--rejects": rejects})
    if state_out:
        writing.output_format(state_out, ("parquet",), "--state-out")
    check_outputs_before(kw, {"--output": output, "--messages-out": messages_out, "--sessions-out": sessions_out,
                              "--rejects": rejects, "--state-out": state_out, "--state-in": None})
    if output_dir:
        outdir.check_dir(output_dir, kw["inputs"], selection.periods, {
            "--tariff": kw["tariff_path"], "--state-in": state_in, "--output": output, "--messages-out": messages_out,
            "--sessions-out": sessions_out, "--rejects": rejects, "--state-out": state_out, "--workdir": workdir},
            kw.get("accounts", ()))
    request = dataclasses.replace(make_request(kw), periods=tuple(periods), state_in=state_in,
                                  state_out=bool(state_out))
    chosen = choose_engine(engine, scheduler, memory_limit, workdir, request, quiet)
    core.check_engine(chosen, messages_out, sessions_out)
    digests = None if fast_provenance else Digests.start(kw["inputs"])
    with Progress(quiet) as progress:
        result = core.run(request, chosen, progress)
    with result:
        origin = _provenance(kw, result.sources, fast_provenance, state_in, digests)
        text = _render(result.invoices, selection.several, fmt, origin, bool(output))
        notes = _write(result, request, output, output_dir, fmt, origin, text, messages_out, sessions_out, rejects,
                       state_out)
    if text is None:
        _table(result.invoices, make_console())
    elif not output and not output_dir:
        click.echo(text, nl=False)
    warn([w for inv in result.invoices for w in _labelled(inv, selection.several)] + notes, quiet)


def _provenance(kw, sources, fast, state_in, digests=None):
    from ..provenance import generated_by

    from .options import reading_provenance

    return {**generated_by(" ".join(["viber-sessions", *state["args"]]), kw["tz"], kw["tariff_path"],
                           list(sources), fast, state_in, digests), **reading_provenance()}


def _table(invoices, console):
    from .. import render

    render.invoices_table(invoices, console)


def _render(invoices, several, fmt, origin, to_file):
    """The invoice text (None: a table straight to the terminal)."""
    from .. import render

    if fmt == "table":
        if not to_file:
            return None
        buf = io.StringIO()
        _table(invoices, make_console(buf))
        return buf.getvalue()
    if fmt == "csv":
        return render.invoices_csv(invoices)
    if several:
        return render.invoices_json(invoices, origin)
    return render.invoice_json(invoices[0], origin)


def _labelled(inv, several):
    return [f"{inv.period}: {w}" if several else w for w in inv.warnings]


def _write(result, request, output, output_dir, fmt, origin, text, messages_out, sessions_out, rejects, state_out):
    """Stage every output and commit them as one set; the --output-dir folders are swapped in
    after the files are committed (and not at all when an output fails). Returns the notes of
    account files that are gone."""
    from .. import core, outdir, render, writing
    from ..state import write_state

    kind = "csv" if fmt == "csv" else "json"

    def one(inv, whole):
        if kind == "csv":
            return render.invoice_csv(inv)
        doc = render.invoice_dict(inv, origin)
        if not whole:
            doc.pop("rows")
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    # the files are committed first, then the folders: an output that fails leaves every old folder
    # ... both commits with signals held across them: a signal never leaves the files new and the folders old
    with outdir.Folders(output_dir) as folders, writing.OutputSet() as out:
        out.commit_with(folders)
        core.write_outputs(result, request.tz, out, messages_out=messages_out, sessions_out=sessions_out,
                           rejects=rejects)
        if state_out:
            write_state(result.state, out.stage(state_out), result.tariff, request.load_options())
        if output:
            writing.write_text(out.stage(output), text, output)
        if output_dir:
            folders.stage({inv.period: outdir.period_files(inv, kind, one) for inv in result.invoices})
    return folders.notes
