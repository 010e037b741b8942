"""The command line: parses options, calls the core, turns domain errors into exit codes.

Nothing here knows the billing rules; every command is a few lines over ``viber_sessions.core``.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback

import click

from . import __version__
from .errors import ViberSessionsError

_state = {"verbose": False, "args": []}


def _set_verbose(ctx, param, value):
    if value:
        _state["verbose"] = True
    return value


verbose_option = click.option("-v", "--verbose", is_flag=True, expose_value=False, is_eager=True,
                              callback=_set_verbose, help="On an error, show the full traceback too.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No warnings or progress on stderr.")


def _parse_map(ctx, param, values):
    mapping = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} must look like CANONICAL=SOURCE (e.g. subscriber_id=phone)")
        canonical, source = item.split("=", 1)
        mapping[canonical.strip()] = source.strip()
    return mapping


def input_options(func):
    """The options every command that reads a log shares: files, column names, time zones."""
    options = [
        click.argument("inputs", nargs=-1, required=True, metavar="LOG..."),
        click.option("--map", "column_map", multiple=True, callback=_parse_map, metavar="CANONICAL=SOURCE",
                     help="Read column SOURCE as CANONICAL (repeatable), e.g. --map subscriber_id=phone."),
        click.option("--input-tz", default="UTC", show_default=True,
                     help="Time zone of timestamps written without an offset (IANA name)."),
        click.option("--epoch-unit", type=click.Choice(["s", "ms", "us", "ns"]), default=None,
                     help="Unit of integer timestamps (default: seconds below 1e11, else milliseconds)."),
        click.option("--on-invalid", type=click.Choice(["error", "skip"]), default="error", show_default=True,
                     help="Stop at an invalid row, or set invalid rows aside (see --rejects)."),
        click.option("--rejects", type=click.Path(dir_okay=False), default=None,
                     help="With --on-invalid skip: write the rejected rows and their errors here (.csv/.parquet)."),
        click.option("--tariff", "tariff_path", required=True, type=click.Path(dir_okay=False),
                     help="The tariff TOML file."),
        click.option("--tz", default="UTC", show_default=True, help="Billing time zone (IANA name)."),
        verbose_option,
        quiet_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


class _Group(click.Group):
    """Translates domain errors into one line on stderr and an exit code; no traceback unless -v."""

    def main(self, args=None, *a, **kw):
        _state["args"] = list(sys.argv[1:] if args is None else args)
        _state["verbose"] = False
        return super().main(args, *a, **kw)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ViberSessionsError as exc:
            if _state["verbose"]:
                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            # `| head` closed the pipe: stop quietly (csvkit style)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="viber-sessions")
@verbose_option
def cli():
    """Turn Viber business message logs into exact session-based invoices.

    Sessions follow RULES: a subscriber's message opens a 24 h session that holds up to 60
    business messages and closes after 10 unanswered ones; see the README for every rule.
    """


def _provenance(paths, tariff_path):
    return {"tool": "viber-sessions", "version": __version__,
            "command": " ".join(["viber-sessions", *_state["args"]]),
            "inputs": list(paths), "tariff": tariff_path}


def _stderr_console():
    from rich.console import Console
    return Console(stderr=True, highlight=False)


@cli.command()
@input_options
@click.option("--period", required=True, metavar="YYYY-MM", help="The billing month, in --tz.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default=None,
              help="Invoice format (default: table on a terminal, else json; or from --output's suffix).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the invoice to this file (atomically) instead of standard output.")
@click.option("--account", "accounts", multiple=True, metavar="ID", help="Only this business account (repeatable).")
@click.option("--messages-out", type=click.Path(dir_okay=False), default=None,
              help="Write one row per input row (.csv or .parquet): session, billing and reason.")
@click.option("--sessions-out", type=click.Path(dir_okay=False), default=None,
              help="Write one row per session (.csv or .parquet).")
def invoice(inputs, column_map, input_tz, epoch_unit, on_invalid, rejects, tariff_path, tz, quiet, period,
            fmt, output, accounts, messages_out, sessions_out):
    """Bill LOG... (CSV, CSV.gz, Parquet, directories, globs; - for stdin) for one month.

    \b
    Example:
      viber-sessions invoice sample_data/messages.parquet \\
          --tariff sample_data/tariff.toml --period 2026-10 --tz Europe/Moscow
    """
    from . import core

    request = core.Request(inputs=list(inputs), tariff=tariff_path, period=period, tz=tz, input_tz=input_tz,
                           column_map=column_map, epoch_unit=epoch_unit, on_invalid=on_invalid,
                           accounts=list(accounts))
    result = core.run_invoice(request)
    fmt = fmt or _format_for(output)
    core.write_outputs(result, tz=tz, messages_out=messages_out, sessions_out=sessions_out, rejects=rejects)
    from . import render

    provenance = _provenance(result.log.sources, tariff_path)
    if fmt == "table":
        from rich.console import Console
        if output:
            with render.atomic_path(output) as tmp, open(tmp, "w", encoding="utf-8") as fh:
                render.invoice_table(result.invoice, Console(file=fh, width=100, highlight=False))
        else:
            render.invoice_table(result.invoice, Console(highlight=False))
    else:
        text = render.invoice_json(result.invoice, provenance) if fmt == "json" else render.invoice_csv(result.invoice)
        if output:
            render.write_text(output, text)
        else:
            click.echo(text, nl=False)
    if not quiet and (fmt != "table" or output):
        for w in result.invoice.warnings:
            click.echo(f"warning: {w}", err=True)


def _format_for(output):
    if output:
        low = output.lower()
        if low.endswith(".csv"):
            return "csv"
        if low.endswith((".txt", ".table")):
            return "table"
        return "json"
    return "table" if sys.stdout.isatty() else "json"


@cli.command()
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--rows", type=click.IntRange(min=1), default=50_000, show_default=True, help="How many rows.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed (same seed, same file).")
@click.option("--start", default="2026-10-01", show_default=True, help="First day of the month to fill (UTC).")
@click.option("--days", type=click.IntRange(min=1), default=31, show_default=True, help="How many days.")
@click.option("--accounts", type=click.IntRange(min=1, max=1000), default=6, show_default=True,
              help="How many business accounts.")
@verbose_option
def generate(out, rows, seed, start, days, accounts):
    """Write a realistic synthetic message log to OUT (.csv, .csv.gz or .parquet).

    The log has several accounts, short chats, broadcasts, unanswered bursts, long
    conversations, images and other types, delivery statuses, duplicate rows and rows out of
    order, so that every rule is exercised.

    \b
    Example:
      viber-sessions generate sample_data/messages.parquet --rows 50000 --seed 7
    """
    from .generate import GeneratorOptions, write_log

    write_log(out, GeneratorOptions(rows=rows, seed=seed, start=start, days=days, accounts=accounts))


def main():
    cli(prog_name="viber-sessions")


if __name__ == "__main__":  # pragma: no cover
    main()
