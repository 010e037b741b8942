"""What the commands share: option bundles, the request they build, the engine they choose,
consoles, progress bars and the checks made before anything is read. No billing rules here."""

from __future__ import annotations

import json
import os
import sys

import click

from .. import __version__, entry

state = {"verbose": False, "args": []}


def _set_verbose(ctx, param, value):
    if value:
        state["verbose"] = entry.VERBOSE["on"] = True
    return value


verbose_option = click.option("-v", "--verbose", is_flag=True, expose_value=False, is_eager=True,
                              callback=_set_verbose, help="On an error, show the full traceback too.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No warnings or progress on stderr.")


def parse_map(ctx, param, values):
    mapping = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} must look like CANONICAL=SOURCE (e.g. subscriber_id=phone)")
        canonical, source = item.split("=", 1)
        mapping[canonical.strip()] = source.strip()
    return mapping


def apply_options(func, options):
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
    return lambda func: apply_options(func, [
        click.argument("inputs", nargs=-1, required=True, metavar="LOG..."),
        click.option("--map", "column_map", multiple=True, callback=parse_map, metavar="CANONICAL=SOURCE",
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


invalid_options = lambda func: apply_options(func, [  # noqa: E731
    click.option("--on-invalid", type=click.Choice(["error", "skip"]), default="error", show_default=True,
                 help="Stop at an invalid row, or set invalid rows aside (see --rejects)."),
    click.option("--rejects", type=click.Path(dir_okay=False), default=None,
                 help="With --on-invalid skip: write the rejected rows and their errors here (.csv/.parquet)."),
])


def make_request(kw, tariff=None, period="2000-01"):
    from .. import core

    return core.Request(inputs=list(kw["inputs"]), tariff=tariff if tariff is not None else kw["tariff_path"],
                        period=kw.get("period") or period, tz=kw["tz"], input_tz=kw["input_tz"],
                        column_map=kw["column_map"], epoch_unit=kw["epoch_unit"],
                        on_invalid=kw.get("on_invalid", "error"), accounts=list(kw.get("accounts", ())))


def period_of(kw):
    from ..timeutil import Period

    return Period.parse(kw["period"], kw["tz"]) if kw.get("period") else None



def provenance(paths, tariff_path):
    return {"tool": "viber-sessions", "version": __version__,
            "command": " ".join(["viber-sessions", *state["args"]]),
            "inputs": list(paths), "tariff": tariff_path}


def make_console(output=None):
    """A rich console on stdout (the terminal's width, or COLUMNS), or plain text 120 wide into
    ``output``."""
    from rich.console import Console

    if output is None:
        return Console(highlight=False)
    return Console(file=output, width=120, highlight=False, no_color=True)


def warn(lines, quiet):
    if not quiet:
        for line in lines:
            click.echo(f"warning: {line}", err=True)


def choose_engine(name, scheduler, memory_limit, workdir, request, quiet):
    """The engine the options ask for (the core never learns about options)."""
    from .. import core

    if name == "dask":
        if not state["verbose"]:      # the workers' own log lines (they inherit the environment)
            os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")
        return core.Dask(scheduler or "local")
    limit = memory_limit_for(memory_limit, name, request, quiet)
    return core.OutOfCore(limit, workdir) if limit is not None else core.Local()


def memory_limit_for(text, engine, request, quiet):
    """The memory limit asked for, or chosen because the input is clearly larger than memory."""
    from .. import chunked
    from ..load import expand_inputs

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


class Progress:
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


def default_format(terminal: str, other: str) -> str:
    return terminal if sys.stdout.isatty() else other



def one_period(values):
    """The one month of a command that bills one (a repeated --period is refused, not reduced)."""
    from ..errors import UsageError

    values = [v for v in values or () if v]
    if len(values) > 1:
        raise UsageError(f"--period was given {len(values)} times ({', '.join(values)}); one run bills one month")
    return values[0] if values else None


def check_outputs_before(kw, outputs: dict) -> None:
    """Refuse, before reading anything, an output that is an input or the tariff, or another output."""
    from .. import writing
    from ..load import expand_inputs

    if not any(outputs.values()):
        return
    tariffs = kw.get("tariff_path") or ()
    tariffs = [tariffs] if isinstance(tariffs, str) else list(tariffs)
    files = [f for f in expand_inputs(list(kw["inputs"])) if f != "-"]
    folders = [f for f in kw["inputs"] if os.path.isdir(f)]
    writing.check_outputs(outputs, files + tariffs + [kw.get(k) for k in ("statement",) if kw.get(k)], folders)


def table_outputs(**paths) -> None:
    """Refuse an unknown suffix of a CSV-or-Parquet output before any work."""
    from .. import writing

    for option, path in paths.items():
        if path:
            writing.output_format(path, ("csv", "parquet"), option)


def instant(text, tz, option):
    """An ISO date or date-time in ``tz`` (or with its own offset) as UTC nanoseconds."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ..errors import UsageError
    from ..timeutil import to_ns

    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} must be an ISO date or date-time such as 2026-10-01, not {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz))
    return to_ns(dt)



def finite(ctx, param, value):
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, not {value}")
    return value


def money_option(ctx, param, value):
    from .. import money

    try:
        return money.parse(value)
    except money.MoneyError as exc:
        raise click.BadParameter(str(exc)) from None



def json_rows(table) -> str:
    return json.dumps(table.to_pylist(), indent=2, ensure_ascii=False) + "\n"

