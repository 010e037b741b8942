"""sessions and explain: list the sessions of a log, explain one conversation."""

from __future__ import annotations

import json
import sys

import click

from .app import cli
from .options import (check_outputs_before, default_format, input_options, invalid_options, json_rows, make_console,
                      make_request, period_of, table_outputs)


@cli.command()
@input_options()
@invalid_options
@click.option("--account", "accounts", multiple=True, metavar="ID", help="Only this business account (repeatable).")
@click.option("--subscriber", "subscribers", multiple=True, metavar="ID", help="Only this subscriber (repeatable).")
@click.option("--period", default=None, metavar="YYYY-MM", help="Only sessions that start in this month (in --tz).")
@click.option("--close-reason", "close_reasons", multiple=True,
              type=click.Choice(["expired", "message_limit", "unanswered_limit", "open"]),
              help="Only sessions closed for this reason (repeatable).")
@click.option("--billable/--not-billable", default=None, help="Only billable, or only not billable, sessions.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default=None,
              help="Output format (default: table on a terminal, else csv; or from --output's suffix).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the sessions to this file (.csv or .parquet, atomically).")
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True,
              help="At most this many rows in the terminal table (files get every row).")
def sessions(accounts, subscribers, close_reasons, billable, fmt, output, limit, rejects, quiet, **kw):
    """List the sessions of LOG... with their origin, close reason and billing.

    Prints a summary line: sessions by close reason and origin, the billable share and the
    median number of messages per session.

    \b
    Example:
      viber-sessions sessions sample_data/messages.parquet --tariff sample_data/tariff.toml \\
          --account shop --close-reason unanswered_limit
    """
    from .. import core, sessionlist, tables, writing
    from ..errors import UsageError
    from ..segment import segment

    if output:
        kind = writing.output_format(output, ("csv", "parquet", "json"))
        fmt = fmt or kind
        if fmt == "table":
            raise UsageError("--format table writes to the terminal; give --output a .csv, .parquet or .json name")
    fmt = fmt or default_format("table", "csv")
    if fmt == "parquet" and not output:
        raise UsageError("--format parquet needs --output FILE.parquet")
    table_outputs(**{"--rejects": rejects})
    check_outputs_before(kw, {"--output": output, "--rejects": rejects})
    request = make_request(kw)
    period = period_of(kw)
    log, tariff = core.prepare(request)
    seg = segment(log, tariff)
    mask = sessionlist.select(seg, accounts, subscribers, period, close_reasons, billable)
    table = tables.sessions_table(seg, kw["tz"], mask)
    line = sessionlist.summary_line(sessionlist.summary(seg, mask))
    with writing.OutputSet() as out:
        if rejects:
            writing.write_table(log.rejected, out.stage(rejects), rejects)
        if output and fmt in ("csv", "parquet"):
            writing.write_table(table, out.stage(output), output, fmt)
        elif output:
            writing.write_text(out.stage(output), json_rows(table), output)
    if fmt == "table":
        sessionlist.render_table(table, line, limit, make_console())
        return
    if fmt == "json" and not output:
        click.echo(json_rows(table), nl=False)
    elif not output:
        sys.stdout.buffer.write(writing.csv_bytes(table))
        sys.stdout.flush()
    if not quiet:
        click.echo(line, err=True)




@cli.command()
@input_options()
@invalid_options
@click.option("--business", required=True, metavar="ID", help="The business account of the conversation.")
@click.option("--subscriber", required=True, metavar="ID", help="The subscriber of the conversation.")
@click.option("--period", default=None, metavar="YYYY-MM", help="Only messages timestamped in this month (in --tz).")
@click.option("--session", "session_id", default=None, metavar="ID", help="Only this session (an id of --sessions-out).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="A timeline on the terminal, or the same facts as JSON.")
def explain(business, subscriber, session_id, fmt, rejects, quiet, **kw):
    """Explain one conversation: every message, what it cost and why, and why each session
    opened and closed.

    \b
    Example:
      viber-sessions explain tests/cases/04_unanswered_limit.csv --tariff sample_data/tariff.toml \\
          --business shop --subscriber +79001234567
    """
    from .. import explain as ex
    from .. import pushdown
    from ..tariff import load_tariff
    from ..timeutil import check_timezone

    # only the rows the explanation needs are read (see pushdown.py): a log of any size
    check_timezone(kw["tz"], "--tz")
    request = make_request(kw)
    facts = pushdown.explain(request.inputs, load_tariff(kw["tariff_path"]), business, subscriber, kw["tz"],
                             period_of(kw), session_id, request.load_options())
    if fmt == "json":
        click.echo(json.dumps(facts, indent=2, ensure_ascii=False))
    else:
        ex.render(facts, make_console())

