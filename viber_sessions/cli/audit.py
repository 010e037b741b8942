"""sessions and explain: list the sessions of a log, explain one conversation."""

from __future__ import annotations

import contextlib
import json
import sys

import click

from ..errors import UsageError
from ..timeutil import check_timezone
from .app import cli
from .engines import choose_engine, engine_options
from .options import (check_outputs_before, default_format, input_options, invalid_options, json_rows,
                      load_options, make_console, make_request, period_of, table_outputs)


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
@engine_options
def sessions(accounts, subscribers, close_reasons, billable, fmt, output, limit, rejects, quiet, memory_limit, workdir,
             engine, scheduler, **kw):
    """List the sessions of LOG... with their origin, close reason and billing.

    Prints a summary line: sessions by close reason and origin, the billable share and the
    median number of messages per session. With --account or --subscriber (and no --rejects)
    only the rows of those conversations are read (and the rows sharing their message ids), so
    a log of any size is listed in little memory.

    \b
    Example:
      viber-sessions sessions sample_data/messages.parquet --tariff sample_data/tariff.toml \\
          --account shop --close-reason unanswered_limit
    """
    from .. import core, sessionlist, writing

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
    where = sessionlist.Filter(tuple(accounts), tuple(subscribers), period_of(kw), tuple(close_reasons), billable)
    summary = sessionlist.Summary()
    with session_parts(request, where, rejects, memory_limit, workdir, engine, scheduler, quiet) as (parts, result):
        parts = summary.tee(parts)
        with writing.OutputSet() as out:
            if rejects:
                writing.write_table(result.rejected, out.stage(rejects), rejects)
            if output and fmt in ("csv", "parquet"):
                core.write_parts(parts, out.stage(output), output)
            elif output or fmt == "json":
                text = json_rows(concat(parts))
                if output:
                    writing.write_text(out.stage(output), text, output)
            elif fmt == "table":
                shown = first_rows(parts, limit)
            else:
                for k, part in enumerate(parts):
                    data = writing.csv_bytes(part)
                    sys.stdout.buffer.write(data if k == 0 else data.split(b"\n", 1)[1])   # one header
                sys.stdout.flush()
    line = sessionlist.summary_line(summary.as_dict())
    if fmt == "table":
        sessionlist.render_table(shown, line, limit, make_console(), summary.sessions)
        return
    if fmt == "json" and not output:
        click.echo(text, nl=False)
    if not quiet:
        click.echo(line, err=True)


@contextlib.contextmanager
def session_parts(request, where, rejects, memory_limit, workdir, engine, scheduler, quiet):
    """(the session table part by part, the result whose ``rejected`` rows --rejects writes):
    by pushdown when only some accounts or subscribers are asked for and no --rejects, else on
    the engine the options choose."""
    from .. import core, pushdown
    from ..tariff import load_tariff

    if (where.accounts or where.subscribers) and not rejects:
        check_timezone(request.tz, "--tz")
        yield iter([pushdown.sessions(request.inputs, load_tariff(request.tariff), request.tz, where,
                                      request.load_options())]), None
        return
    if where.accounts:      # a typo'd --account must not list nothing (an invoice refuses it too)
        pushdown.check_accounts(request.inputs, list(where.accounts), request.load_options(), rescan=True)
    chosen = choose_engine(engine, scheduler, memory_limit, workdir, request, quiet)
    core.check_engine(chosen)
    with core.run(request, chosen) as result:
        yield result.sessions(request.tz, where), result


def concat(parts):
    import pyarrow as pa

    parts = list(parts)
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


def first_rows(parts, limit: int):
    """The first ``limit`` rows of the parts (all parts are read: the summary needs them)."""
    kept, count = [], 0
    for part in parts:
        if count < limit or not kept:
            kept.append(part.slice(0, max(0, limit - count)))
            count += kept[-1].num_rows
    return concat(kept)


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

    # only the rows the explanation needs are read (see the pushdown package): a log of any size;
    # the tariff is read once the log's reading has started
    check_timezone(kw["tz"], "--tz")
    facts = pushdown.explain(list(kw["inputs"]), kw["tariff_path"], business, subscriber, kw["tz"], period_of(kw),
                             session_id, load_options(kw))
    if fmt == "json":
        click.echo(json.dumps(facts, indent=2, ensure_ascii=False))
    else:
        ex.render(facts, make_console())

