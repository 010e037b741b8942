"""reconcile and compare: our bill against a statement, and against other tariffs."""

from __future__ import annotations

import json
import sys

import click

from .app import cli
from .options import (
    check_outputs_before, default_format, finite, input_options, invalid_options, make_console, make_request,
    money_option, parse_map, period_of, table_outputs)

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
def reconcile(statement, statement_map, time_tolerance, tolerance, details, fmt, rejects, quiet, **kw):
    """Compare our sessions and charges for LOG... with a provider's statement.

    Exit 0 when every account's money difference is within --tolerance, 1 otherwise.

    \b
    Example:
      viber-sessions reconcile sample_data/messages.parquet --tariff sample_data/tariff.toml \\
          --statement provider.csv --period 2026-10 --details differences.csv
    """
    from .. import core, render, writing
    from .. import reconcile as rc
    from ..segment import segment

    table_outputs(**{"--details": details, "--rejects": rejects})
    check_outputs_before({**kw, "statement": statement}, {"--details": details, "--rejects": rejects})
    request = make_request(kw)
    period = period_of(kw)
    log, tariff = core.prepare(request)
    seg = segment(log, tariff)
    result = rc.reconcile(seg, tariff, statement, kw["tz"], period, time_tolerance, statement_map, kw["input_tz"])
    with writing.OutputSet() as out:
        if details:
            writing.write_table(rc.details_table(result, tariff.places), out.stage(details), details)
        if rejects:
            writing.write_table(log.rejected, out.stage(rejects), rejects)
    doc = rc.as_dict(result, tariff.places, tolerance)
    fmt = fmt or default_format("table", "json")
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        console = make_console()
        console.print(f"Statement grain: {doc['grain']}; " + ", ".join(f"{k} {v}" for k, v in doc["counts"].items()),
                      markup=False)
        cols = ["business_id", "our sessions", "statement sessions", "difference", "our amount", "statement amount",
                "net difference", "gross difference"]
        render.fit_table(console, cols, [[a["business_id"], str(a["our_sessions"]), str(a["statement_sessions"]),
                                          f"{a['session_difference']:+d}", a["our_amount"], a["statement_amount"],
                                          a["amount_difference"], a["gross_difference"]] for a in doc["accounts"]],
                         set(cols[1:]))
        for d in doc["details"][:50]:
            console.print(f"{d['status']}: {d['business_id']} {d['subscriber_id'] or d['key']} "
                          f"{d['our_start'] or d['statement_start']}: {d['reason']}", markup=False, soft_wrap=True)
        if len(doc["details"]) > 50:
            console.print(f"... {len(doc['details']) - 50} more differences (use --details FILE)", markup=False)
        console.print(("within" if doc["within_tolerance"] else "NOT within") + f" tolerance {doc['tolerance']} "
                      "(per account, gross)", markup=False)
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
def compare(per_message, window_hours, max_unanswered, max_business_messages, after_message_limit, fmt, rejects,
            quiet, **kw):
    """Price LOG... under several tariffs or limits side by side, per account and in total.

    \b
    Example:
      viber-sessions compare sample_data/messages.parquet --tariff sample_data/tariff.toml \\
          --period 2026-10 --window-hours 12 --max-unanswered 5 --per-message
    """
    from .. import compare as cmp
    from .. import core, render, writing
    from ..tariff import load_tariff
    from ..timeutil import Period

    table_outputs(**{"--rejects": rejects})
    check_outputs_before(kw, {"--rejects": rejects})
    paths = list(kw["tariff_path"])
    tariffs = [(p, load_tariff(p)) for p in paths]
    period = Period.parse(kw["period"], kw["tz"])
    log, _ = core.prepare(make_request(kw, tariff=tariffs[0][1]))
    if rejects:
        with writing.OutputSet() as out:
            writing.write_table(log.rejected, out.stage(rejects), rejects)
    variants = cmp.what_if_variants(tariffs, per_message, window_hours, max_unanswered, max_business_messages,
                                    after_message_limit)
    results = cmp.compare(log, variants, period, kw.get("accounts"))
    doc = cmp.comparison_dict(results, render.invoice_dict)
    fmt = fmt or default_format("table", "json")
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    cmp.render_table(doc, make_console())


