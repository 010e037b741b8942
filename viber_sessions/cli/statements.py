"""reconcile and compare: our bill against a statement, and against other tariffs."""

from __future__ import annotations

import json
import sys

import click

from .app import cli
from .engines import engine_of, engine_options, Progress
from .options import (
    check_outputs_before, default_format, finite, input_options,
    invalid_options, make_console, make_request, money_option, parse_map, period_of, table_outputs)

@cli.command()
@input_options()
@invalid_options
@click.option("--statement", required=True, type=click.Path(dir_okay=False),
              help="The provider's statement (CSV or Parquet), per session or per account and day/month.")
@click.option("--statement-map", multiple=True, callback=parse_map, metavar="CANONICAL=SOURCE",
              help="Read the statement's column SOURCE as CANONICAL (repeatable).")
@click.option("--period", default=None, metavar="YYYY-MM", help="Only this month (in --tz), on both sides.")
@click.option("--time-tolerance", type=click.FloatRange(min=0, max=366 * 86400), callback=finite, default=60.0,
              show_default=True,
              help="Seconds by which matching session starts may differ.")
@click.option("--tolerance", default="0", callback=money_option, show_default=True,
              help="Money difference per account that still counts as agreement.")
@click.option("--details", type=click.Path(dir_okay=False), default=None,
              help="Write every difference with its reason here (.csv or .parquet).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None,
              help="Report format (default: table on a terminal, else json).")
@engine_options
def reconcile(statement, statement_map, time_tolerance, tolerance, details, fmt, rejects, quiet, **kw):
    """Compare our sessions and charges for LOG... with a provider's statement.

    Exit 0 when every account's money difference is within --tolerance, 1 otherwise.

    \b
    Example:
      viber-sessions reconcile sample_data/messages.parquet --tariff sample_data/tariff.toml \\
          --statement provider.csv --period 2026-10 --details differences.csv
    """
    from .. import core, writing
    from .. import reconcile as rc

    table_outputs(**{"--details": details, "--rejects": rejects})
    check_outputs_before({**kw, "statement": statement}, {"--details": details, "--rejects": rejects})
    request = make_request(kw)
    engine = engine_of(kw, request, quiet)
    period = period_of(kw)
    with Progress(quiet) as progress:
        result = core.run(request, engine, progress)
    tariff = result.tariff
    rec = rc.reconcile(result, tariff, statement, kw["tz"], period, time_tolerance, statement_map, kw["input_tz"])
    with writing.OutputSet() as out:
        if details:
            writing.write_table(rc.details_table(rec, tariff.places), out.stage(details), details)
        if rejects:
            writing.write_table(result.rejected, out.stage(rejects), rejects)
    doc = rc.as_dict(rec, tariff.places, tolerance)
    fmt = fmt or default_format("table", "json")
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        rc.render_table(doc, make_console())
    sys.exit(0 if doc["within_tolerance"] else 1)




@cli.command()
@input_options(tariff="multiple")
@invalid_options
@click.option("--period", required=True, metavar="YYYY-MM", help="The billing month, in --tz.")
@click.option("--account", "accounts", multiple=True, metavar="ID", help="Only this business account (repeatable).")
@click.option("--per-message", is_flag=True,
              help="Add a variant without sessions: every message billed at its type price, no monthly fee.")
@click.option("--window-hours", type=click.FloatRange(min=1, max=87600), callback=finite, default=None,
              help="Add a variant of the first tariff with this session window.")
@click.option("--max-unanswered", type=click.IntRange(min=1, max=10**9), default=None,
              help="... with this unanswered limit (combines with the other what-if limits).")
@click.option("--max-business-messages", type=click.IntRange(min=1, max=10**9), default=None,
              help="... with this business-message limit per session.")
@click.option("--after-message-limit", type=click.Choice(["new_session", "close"]), default=None,
              help="... with this behaviour at the business-message limit.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None,
              help="Report format (default: table on a terminal, else json).")
@engine_options
def compare(per_message, window_hours, max_unanswered, max_business_messages, after_message_limit, fmt, rejects,
            quiet, **kw):
    """Price LOG... under several tariffs or limits side by side, per account and in total.

    \b
    Example:
      viber-sessions compare sample_data/messages.parquet --tariff sample_data/tariff.toml \\
          --period 2026-10 --window-hours 12 --max-unanswered 5 --per-message
    """
    from .. import compare as cmp
    from .. import render, writing
    from ..tariff import load_tariff

    table_outputs(**{"--rejects": rejects})
    check_outputs_before(kw, {"--rejects": rejects})
    tariffs = [(p, load_tariff(p)) for p in kw["tariff_path"]]
    request = make_request(kw, tariff=tariffs[0][1])
    engine = engine_of(kw, request, quiet)
    variants = cmp.what_if_variants(tariffs, per_message, window_hours, max_unanswered, max_business_messages,
                                    after_message_limit)
    with Progress(quiet) as progress:
        results, first = cmp.compare_runs(request, variants, engine, progress)
    if rejects:
        with writing.OutputSet() as out:
            writing.write_table(first.rejected, out.stage(rejects), rejects)
    doc = cmp.comparison_dict(results, render.invoice_dict)
    fmt = fmt or default_format("table", "json")
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    cmp.render_table(doc, make_console())
