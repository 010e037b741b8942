"""validate: check a log without billing it."""

from __future__ import annotations

import json
import sys
import time

import click

from .app import cli
from .engines import choose_engine, engine_options
from .options import default_format, input_options, instant, make_console


@cli.command()
@input_options(tariff="optional")
@click.option("--since", default=None, metavar="DATE",
              help="The data's stated range starts here (ISO date or date-time, in --tz): earlier rows are findings.")
@click.option("--until", default=None, metavar="DATE",
              help="The data's stated range ends here (exclusive): later rows are findings.")
@click.option("--now", default=None, metavar="DATE",
              help="Rows after this instant are 'in the future' (default: the current time).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None,
              help="Report format (default: table on a terminal, else json).")
@engine_options
def validate(fmt, since, until, now, quiet, memory_limit, workdir, engine, scheduler, **kw):
    """Check LOG... without billing it and report every problem found, not only the first.

    Each finding has a severity. error: the log cannot be billed as it is (unreadable
    files, missing columns, missing or unparseable values, unknown directions, malformed
    CSV lines, message types the tariff does not price with --tariff, no data row).
    warning: billable, but probably not meant (ids with spaces at an end or invisible
    characters, duplicate message ids with different contents, timestamps in the future
    or outside --since/--until, a last line without a line end). note: a billing
    condition (business messages of a type not allowed in a session, with --tariff).
    The table summarises by code, then lists errors and warnings; --format json lists
    every finding. The same report in memory, with --memory-limit and with --engine dask
    (inputs must then be paths every worker can read). Exit 0 without errors (warnings and notes allowed), 1 with errors,
    2 on usage errors.

    \b
    Example:
      viber-sessions validate logs/ --tariff sample_data/tariff.toml --since 2026-09-30
    """
    from .. import validate as v
    from .options import load_options, make_request
    from ..tariff import load_tariff
    from ..timeutil import check_timezone

    check_timezone(kw["tz"], "--tz")
    tariff = load_tariff(kw["tariff_path"]) if kw["tariff_path"] else None
    options = load_options(kw)
    now_ns = instant(now, kw["tz"], "--now") if now else time.time_ns()
    where = choose_engine(engine, scheduler, memory_limit, workdir, make_request(kw, tariff=tariff), quiet)
    report = v.validate(kw["inputs"], options, tariff, now_ns=now_ns, since_ns=instant(since, kw["tz"], "--since"),
                        until_ns=instant(until, kw["tz"], "--until"), engine=where)
    fmt = fmt or default_format("table", "json")
    if fmt == "json":
        click.echo(json.dumps(v.report_dict(report), indent=2, ensure_ascii=False))
    else:
        v.render_table(report, make_console())
    sys.exit(report.exit_code)
