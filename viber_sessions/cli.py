"""The command line: parses options, calls the core, turns domain errors into exit codes.

Nothing here knows the billing rules; every command is a few lines over the core modules.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import traceback

import click

from . import __version__, entry
from .errors import ViberSessionsError
from .generate import SHAPES

_state = {"verbose": False, "args": []}


def _set_verbose(ctx, param, value):
    if value:
        _state["verbose"] = entry.VERBOSE["on"] = True
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


def _options(func, options):
    for option in reversed(options):
        func = option(func)
    return func


def input_options(tariff: str = "required"):
    """The options every command that reads a log shares: files, column names, time zones, the
    tariff (``required``, ``optional`` or ``multiple``)."""
    if tariff == "multiple":
        tariff_opt = click.option("--tariff", "tariff_path", required=True, multiple=True,
                                  type=click.Path(dir_okay=False),
                                  help="A tariff TOML file (repeat to compare several).")
    else:
        tariff_opt = click.option("--tariff", "tariff_path", required=tariff == "required",
                                  type=click.Path(dir_okay=False), help="The tariff TOML file.")
    return lambda func: _options(func, [
        click.argument("inputs", nargs=-1, required=True, metavar="LOG..."),
        click.option("--map", "column_map", multiple=True, callback=_parse_map, metavar="CANONICAL=SOURCE",
                     help="Read column SOURCE as CANONICAL (repeatable), e.g. --map subscriber_id=phone."),
        click.option("--input-tz", default="UTC", show_default=True,
                     help="Time zone of timestamps written without an offset (IANA name)."),
        click.option("--epoch-unit", type=click.Choice(["s", "ms", "us", "ns"]), default=None,
                     help="Unit of integer timestamps (default: seconds below 1e11, else milliseconds)."),
        tariff_opt,
        click.option("--tz", default="UTC", show_default=True, help="Billing time zone (IANA name)."),
        verbose_option,
        quiet_option,
    ])


invalid_options = lambda func: _options(func, [  # noqa: E731
    click.option("--on-invalid", type=click.Choice(["error", "skip"]), default="error", show_default=True,
                 help="Stop at an invalid row, or set invalid rows aside (see --rejects)."),
    click.option("--rejects", type=click.Path(dir_okay=False), default=None,
                 help="With --on-invalid skip: write the rejected rows and their errors here (.csv/.parquet)."),
])


def _request(kw, tariff=None, period="2000-01"):
    from . import core

    return core.Request(inputs=list(kw["inputs"]), tariff=tariff if tariff is not None else kw["tariff_path"],
                        period=kw.get("period") or period, tz=kw["tz"], input_tz=kw["input_tz"],
                        column_map=kw["column_map"], epoch_unit=kw["epoch_unit"],
                        on_invalid=kw.get("on_invalid", "error"), accounts=list(kw.get("accounts", ())))


def _period(kw):
    from .timeutil import Period

    return Period.parse(kw["period"], kw["tz"]) if kw.get("period") else None


class _Group(click.Group):
    """Translates domain errors into one line on stderr and an exit code; no traceback unless -v."""

    def main(self, args=None, *a, **kw):
        _state["args"] = list(sys.argv[1:] if args is None else args)
        _state["verbose"] = entry.VERBOSE["on"] = False
        return super().main(args, *a, **kw)

    def make_context(self, *a, **kw):
        try:
            return super().make_context(*a, **kw)
        except KeyboardInterrupt as exc:          # a signal while the options are parsed
            sys.exit(entry.interrupted(exc))

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
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:            # a bug: still one line (the traceback with -v), never a wrong exit 0
            if _state["verbose"]:
                traceback.print_exc()
            text = " ".join(str(exc).split())[:300]
            click.echo(f"error: internal error ({type(exc).__name__}: {text}); this is a bug of viber-sessions: please "
                       "report it with the command (-v shows the traceback)", err=True)
            ctx.exit(3)
        except KeyboardInterrupt as exc:
            # SIGINT, or SIGTERM (Terminated, see entry.py): the context managers on the way out
            # have removed every temporary file and folder; the old outputs are untouched
            if _state["verbose"]:
                traceback.print_exc()
            ctx.exit(entry.interrupted(exc))
        finally:
            entry.finished()      # the command is over: a signal from now on ends the process at once


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="viber-sessions")
@verbose_option
def cli():
    """Turn Viber business message logs into exact session-based invoices.

    A subscriber's message opens a 24 h session that holds up to 60 business messages and
    closes after 10 unanswered ones; the README's "The rules" section states every rule.
    """


def _provenance(paths, tariff_path):
    return {"tool": "viber-sessions", "version": __version__,
            "command": " ".join(["viber-sessions", *_state["args"]]),
            "inputs": list(paths), "tariff": tariff_path}


def _console(output=None):
    """A rich console on stdout (the terminal's width, or COLUMNS), or plain text 120 wide into
    ``output``."""
    from rich.console import Console

    if output is None:
        return Console(highlight=False)
    return Console(file=output, width=120, highlight=False, no_color=True)


def _warn(lines, quiet):
    if not quiet:
        for line in lines:
            click.echo(f"warning: {line}", err=True)


def _engine(name, scheduler, memory_limit, workdir, request, quiet):
    """The engine the options ask for (the core never learns about options)."""
    from . import core

    if name == "dask":
        if not _state["verbose"]:      # the workers' own log lines (they inherit the environment)
            os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")
        return core.Dask(scheduler or "local")
    limit = _memory_limit(memory_limit, name, request, quiet)
    return core.OutOfCore(limit, workdir) if limit is not None else core.Local()


def _memory_limit(text, engine, request, quiet):
    """The memory limit asked for, or chosen because the input is clearly larger than memory."""
    from . import chunked
    from .load import expand_inputs

    if engine == "dask":
        return None
    if text is not None:
        return chunked.parse_memory(text)
    files = [f for f in expand_inputs(list(request.inputs)) if f != "-"]
    limit = chunked.automatic_limit(files) if files else None
    if limit is not None and not quiet:
        click.echo(f"note: the input looks larger than the available memory; billing it in buckets within "
                   f"{limit / 2**30:.1f} GiB (set --memory-limit to choose)", err=True)
    return limit


class _progress:
    """Rich progress bars on stderr, only when stderr is a terminal and not --quiet."""

    def __init__(self, quiet):
        self.enabled = not quiet and sys.stderr.isatty()
        self.bars = None
        self.tasks = {}

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             console=Console(stderr=True), transient=True)
        self.bars.start()
        return self.update

    def update(self, what, done, total):
        if what not in self.tasks:
            self.tasks[what] = self.bars.add_task(what, total=total)
        self.bars.update(self.tasks[what], completed=done, total=total)

    def __exit__(self, *exc):
        if self.bars is not None:
            self.bars.stop()
        return False


def _default_format(terminal: str, other: str) -> str:
    return terminal if sys.stdout.isatty() else other


# ---------------------------------------------------------------------------------------------
# invoice


def _one_period(values):
    """The one month of a command that bills one (a repeated --period is refused, not reduced)."""
    from .errors import UsageError

    values = [v for v in values or () if v]
    if len(values) > 1:
        raise UsageError(f"--period was given {len(values)} times ({', '.join(values)}); one run bills one month")
    return values[0] if values else None


def _check_outputs(kw, outputs: dict) -> None:
    """Refuse, before reading anything, an output that is an input or the tariff, or another output."""
    from . import writing
    from .load import expand_inputs

    if not any(outputs.values()):
        return
    tariffs = kw.get("tariff_path") or ()
    tariffs = [tariffs] if isinstance(tariffs, str) else list(tariffs)
    files = [f for f in expand_inputs(list(kw["inputs"])) if f != "-"]
    folders = [f for f in kw["inputs"] if os.path.isdir(f)]
    writing.check_outputs(outputs, files + tariffs + [kw.get(k) for k in ("statement",) if kw.get(k)], folders)


def _table_outputs(**paths) -> None:
    """Refuse an unknown suffix of a CSV-or-Parquet output before any work."""
    from . import writing

    for option, path in paths.items():
        if path:
            writing.output_format(path, ("csv", "parquet"), option)


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
    from . import core, render, writing

    kw["period"] = _one_period(periods)
    if output:
        fmt = fmt or writing.output_format(output, ("json", "csv", "table"))
        writing.output_format(output, ("json", "csv", "table"))
    fmt = fmt or _default_format("table", "json")
    _table_outputs(**{"--messages-out": messages_out, "--sessions-out": sessions_out, "--rejects": rejects})
    _check_outputs(kw, {"--output": output, "--messages-out": messages_out, "--sessions-out": sessions_out,
                        "--rejects": rejects})
    request = _request(kw)
    chosen = _engine(engine, scheduler, memory_limit, workdir, request, quiet)
    core.check_engine(chosen, messages_out, sessions_out)
    with _progress(quiet) as progress:
        result = core.run(request, chosen, progress)
    text = None
    if fmt == "table" and output:
        buf = io.StringIO()
        render.invoice_table(result.invoice, _console(buf))
        text = buf.getvalue()
    elif fmt != "table":
        provenance = _provenance(result.sources, kw["tariff_path"])
        text = (render.invoice_json(result.invoice, provenance) if fmt == "json"
                else render.invoice_csv(result.invoice))
    with writing.OutputSet() as out:
        core.write_outputs(result, kw["tz"], out, messages_out=messages_out, sessions_out=sessions_out,
                           rejects=rejects)
        if output:
            writing.write_text(out.stage(output), text, output)
    if text is None:
        render.invoice_table(result.invoice, _console())
    elif not output:
        click.echo(text, nl=False)
    _warn(result.invoice.warnings, quiet)


# ---------------------------------------------------------------------------------------------
# validate


def _instant(text, tz, option):
    """An ISO date or date-time in ``tz`` (or with its own offset) as UTC nanoseconds."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from .errors import UsageError
    from .timeutil import to_ns

    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} must be an ISO date or date-time such as 2026-10-01, not {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz))
    return to_ns(dt)


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
def validate(fmt, since, until, now, quiet, **kw):
    """Check LOG... without billing it and report every problem found, not only the first.

    Each finding has a severity. error: the log cannot be billed as it is (unreadable
    files, missing columns, missing or unparseable values, unknown directions, malformed
    CSV lines, message types the tariff does not price with --tariff, no data row).
    warning: billable, but probably not meant (ids with spaces at an end or invisible
    characters, duplicate message ids with different contents, timestamps in the future
    or outside --since/--until, a last line without a line end). note: a billing
    condition (business messages of a type not allowed in a session, with --tariff).
    The table summarises by code, then lists errors and warnings; --format json lists
    every finding. Exit 0 without errors (warnings and notes allowed), 1 with errors,
    2 on usage errors.

    \b
    Example:
      viber-sessions validate logs/ --tariff sample_data/tariff.toml --since 2026-09-30
    """
    from . import validate as v
    from .load import LoadOptions
    from .tariff import load_tariff
    from .timeutil import check_timezone

    check_timezone(kw["tz"], "--tz")
    tariff = load_tariff(kw["tariff_path"]) if kw["tariff_path"] else None
    options = LoadOptions(column_map=kw["column_map"], input_tz=kw["input_tz"], epoch_unit=kw["epoch_unit"])
    now_ns = _instant(now, kw["tz"], "--now") if now else time.time_ns()
    report = v.validate(kw["inputs"], options, tariff, now_ns=now_ns, since_ns=_instant(since, kw["tz"], "--since"),
                        until_ns=_instant(until, kw["tz"], "--until"))
    fmt = fmt or _default_format("table", "json")
    if fmt == "json":
        click.echo(json.dumps(v.report_dict(report), indent=2, ensure_ascii=False))
    else:
        v.render_table(report, _console())
    sys.exit(report.exit_code)


# ---------------------------------------------------------------------------------------------
# sessions


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
    from . import core, sessionlist, tables, writing
    from .errors import UsageError
    from .segment import segment

    if output:
        kind = writing.output_format(output, ("csv", "parquet", "json"))
        fmt = fmt or kind
        if fmt == "table":
            raise UsageError("--format table writes to the terminal; give --output a .csv, .parquet or .json name")
    fmt = fmt or _default_format("table", "csv")
    if fmt == "parquet" and not output:
        raise UsageError("--format parquet needs --output FILE.parquet")
    _table_outputs(**{"--rejects": rejects})
    _check_outputs(kw, {"--output": output, "--rejects": rejects})
    request = _request(kw)
    period = _period(kw)
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
            writing.write_text(out.stage(output), _json_rows(table), output)
    if fmt == "table":
        sessionlist.render_table(table, line, limit, _console())
        return
    if fmt == "json" and not output:
        click.echo(_json_rows(table), nl=False)
    elif not output:
        sys.stdout.buffer.write(writing.csv_bytes(table))
        sys.stdout.flush()
    if not quiet:
        click.echo(line, err=True)


def _json_rows(table) -> str:
    return json.dumps(table.to_pylist(), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------
# explain


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
    from . import explain as ex
    from . import pushdown
    from .tariff import load_tariff
    from .timeutil import check_timezone

    # only the rows the explanation needs are read (see pushdown.py): a log of any size
    check_timezone(kw["tz"], "--tz")
    request = _request(kw)
    facts = pushdown.explain(request.inputs, load_tariff(kw["tariff_path"]), business, subscriber, kw["tz"],
                             _period(kw), session_id, request.load_options())
    if fmt == "json":
        click.echo(json.dumps(facts, indent=2, ensure_ascii=False))
    else:
        ex.render(facts, _console())


# ---------------------------------------------------------------------------------------------
# reconcile


def _finite(ctx, param, value):
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, not {value}")
    return value


def _money_option(ctx, param, value):
    from . import money

    try:
        return money.parse(value)
    except money.MoneyError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@input_options()
@invalid_options
@click.option("--statement", required=True, type=click.Path(dir_okay=False),
              help="The provider's statement (CSV or Parquet), per session or per account and day/month.")
@click.option("--statement-map", multiple=True, callback=_parse_map, metavar="CANONICAL=SOURCE",
              help="Read the statement's column SOURCE as CANONICAL (repeatable).")
@click.option("--period", default=None, metavar="YYYY-MM", help="Only this month (in --tz), on both sides.")
@click.option("--time-tolerance", type=click.FloatRange(min=0, max=366 * 86400), callback=_finite, default=60.0,
              show_default=True,
              help="Seconds by which matching session starts may differ.")
@click.option("--tolerance", default="0", callback=_money_option, show_default=True,
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
    from . import core, render, writing
    from . import reconcile as rc
    from .segment import segment

    _table_outputs(**{"--details": details, "--rejects": rejects})
    _check_outputs({**kw, "statement": statement}, {"--details": details, "--rejects": rejects})
    request = _request(kw)
    period = _period(kw)
    log, tariff = core.prepare(request)
    seg = segment(log, tariff)
    result = rc.reconcile(seg, tariff, statement, kw["tz"], period, time_tolerance, statement_map, kw["input_tz"])
    with writing.OutputSet() as out:
        if details:
            writing.write_table(rc.details_table(result, tariff.places), out.stage(details), details)
        if rejects:
            writing.write_table(log.rejected, out.stage(rejects), rejects)
    doc = rc.as_dict(result, tariff.places, tolerance)
    fmt = fmt or _default_format("table", "json")
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        console = _console()
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


# ---------------------------------------------------------------------------------------------
# compare


@cli.command()
@input_options(tariff="multiple")
@invalid_options
@click.option("--period", required=True, metavar="YYYY-MM", help="The billing month, in --tz.")
@click.option("--account", "accounts", multiple=True, metavar="ID", help="Only this business account (repeatable).")
@click.option("--per-message", is_flag=True,
              help="Add a variant without sessions: every message billed at its type price, no monthly fee.")
@click.option("--window-hours", type=click.FloatRange(min=1, max=87600), callback=_finite, default=None,
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
    from . import compare as cmp
    from . import core, render, writing
    from .tariff import load_tariff
    from .timeutil import Period

    _table_outputs(**{"--rejects": rejects})
    _check_outputs(kw, {"--rejects": rejects})
    paths = list(kw["tariff_path"])
    tariffs = [(p, load_tariff(p)) for p in paths]
    period = Period.parse(kw["period"], kw["tz"])
    log, _ = core.prepare(_request(kw, tariff=tariffs[0][1]))
    if rejects:
        with writing.OutputSet() as out:
            writing.write_table(log.rejected, out.stage(rejects), rejects)
    variants = cmp.what_if_variants(tariffs, per_message, window_hours, max_unanswered, max_business_messages,
                                    after_message_limit)
    results = cmp.compare(log, variants, period, kw.get("accounts"))
    doc = cmp.comparison_dict(results, render.invoice_dict)
    fmt = fmt or _default_format("table", "json")
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    cmp.render_table(doc, _console())


# ---------------------------------------------------------------------------------------------
# generate


@cli.command()
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--rows", type=click.IntRange(min=1), default=50_000, show_default=True, help="How many rows.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed (same seed, same file).")
@click.option("--start", default="2026-10-01", show_default=True, help="First day of the month to fill (UTC).")
@click.option("--days", type=click.IntRange(min=1), default=31, show_default=True, help="How many days.")
@click.option("--accounts", type=click.IntRange(min=1, max=1000), default=6, show_default=True,
              help="How many business accounts.")
@click.option("--shape", type=click.Choice(SHAPES),
              default="realistic", show_default=True,
              help="realistic traffic, or a benchmark worst case: one huge conversation of 11-message sessions, "
                   "or every row its own conversation.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@verbose_option
def generate(out, rows, seed, start, days, accounts, shape, force):
    """Write a realistic synthetic message log to OUT (.csv, .csv.gz or .parquet).

    The log has several accounts, short chats, broadcasts, unanswered bursts, long
    conversations, images and other types, delivery statuses, duplicate rows and rows out of
    order, so that every rule is exercised.

    \b
    Example:
      viber-sessions generate /tmp/messages.parquet --rows 50000 --seed 7
    """
    from .errors import UsageError
    from .generate import GeneratorOptions, write_log

    if os.path.lexists(out) and not force:
        raise UsageError(f"{out} exists; give --force to replace it")
    write_log(out, GeneratorOptions(rows=rows, seed=seed, start=start, days=days, accounts=accounts, shape=shape))


def main():
    import importlib

    import pyarrow

    segment = importlib.import_module(".segment", __package__)   # the module: the package's `segment` is the function

    segment.SKIP_BLAS_PROBE = True
    # pyarrow's own signal juggling (a handler swapped in around each read, the signal re-sent
    # afterwards) can lose a SIGINT or kill the process with it; our handlers act between reads
    pyarrow.enable_signal_handlers(False)
    entry.install()
    cli(prog_name="viber-sessions")


if __name__ == "__main__":  # pragma: no cover
    main()
