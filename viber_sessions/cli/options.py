"""What the commands share: option bundles, the request they build, the engine they choose,
consoles, progress bars and the checks made before anything is read. No billing rules here."""

from __future__ import annotations

import json
import os
import sys

import click

from .. import __version__, entry

state = {"verbose": False, "args": [], "defaults": None, "profile": None}


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


def input_options(tariff: str = "required", inputs: bool = True):
    """The options every command that reads a log shares: files, column names, time zones, the
    tariff (``required``, ``optional`` or ``multiple``), how the export is written (a
    ``--source`` profile and its keys as options) and ``--config`` (the defaults file)."""
    if tariff == "multiple":
        tariff_opt = click.option("--tariff", "tariff_path", required=True, multiple=True,
                                  type=click.Path(dir_okay=False),
                                  help="A tariff TOML file (repeat to compare several).")
    else:
        tariff_opt = click.option("--tariff", "tariff_path", required=tariff == "required",
                                  type=click.Path(dir_okay=False), help="The tariff TOML file.")
    first = [click.argument("inputs", nargs=-1, required=True, metavar="LOG...")] if inputs else []
    return lambda func: apply_options(func, first + [
        config_option,
        click.option("--map", "column_map", multiple=True, callback=parse_map, metavar="CANONICAL=SOURCE",
                     help="Read column SOURCE as CANONICAL (repeatable), e.g. --map subscriber_id=phone."),
        click.option("--input-tz", default="UTC", show_default=True,
                     help="Time zone of timestamps written without an offset (IANA name)."),
        click.option("--epoch-unit", type=click.Choice(["s", "ms", "us", "ns"]), default=None,
                     help="Unit of integer timestamps (default: seconds below 1e11, else milliseconds)."),
        *reading_options,
        tariff_opt,
        click.option("--tz", default="UTC", show_default=True, help="Billing time zone (IANA name)."),
        verbose_option,
        quiet_option,
    ])


#: How an export is written: a profile, and each of its keys as an option (they win over it).
reading_options = [
    click.option("--source", type=click.Path(dir_okay=False), default=None, metavar="PROFILE",
                 help="A source profile (TOML) describing the export: encoding, delimiter, formats, columns, "
                      "values (README: Reading other exports)."),
    click.option("--encoding", default=None, help="Text encoding of CSV/JSON Lines (default utf-8; a BOM wins)."),
    click.option("--delimiter", default=None, help="CSV field delimiter (default: .tsv is TAB, else detected "
                                                    "among , ; TAB |; write TAB as '\\t')."),
    click.option("--timestamp-format", multiple=True, metavar="FORMAT",
                 help="strptime format of the timestamps, e.g. '%d.%m.%Y %H:%M:%S' (repeatable: tried in order)."),
    click.option("--skip-rows", type=click.IntRange(min=0), default=None, help="Lines before the header."),
    click.option("--subscriber-format", type=click.Choice(["as_is", "e164"]), default=None,
                 help="e164: read subscriber ids as phone numbers (+7 (900) 000-68-85 = +79000006885)."),
    click.option("--default-region", default=None, metavar="CC",
                 help="With e164: the region of numbers written without a country code (e.g. RU)."),
    click.option("--sheet", default=None, help=".xlsx: the sheet to read (default: the first)."),
]

#: LoadOptions field -> the parameter that sets it on the command line.
LOAD_SETTINGS = {"input_tz": "input_tz", "epoch_unit": "epoch_unit", "encoding": "encoding",
                 "delimiter": "delimiter", "timestamp_format": "timestamp_format", "skip_rows": "skip_rows",
                 "subscriber_format": "subscriber_format", "default_region": "default_region", "sheet": "sheet"}


def _option_keys(command) -> dict[str, str]:
    """Defaults-file key -> parameter name, for every long option of ``command``."""
    out = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in param.opts + param.secondary_opts:
                if opt.startswith("--") and param.name not in ("config",):
                    out[opt[2:].replace("-", "_")] = param.name
    return out


def _all_option_keys(ctx) -> dict[str, set[str]]:
    root = ctx.find_root().command
    commands = getattr(root, "commands", {}) or {ctx.info_name: ctx.command}
    return {name: set(_option_keys(cmd)) for name, cmd in commands.items()}


def _apply_defaults(ctx, param, value):
    """Find and read the defaults file (--config, VIBER_SESSIONS_CONFIG, ./viber-sessions.toml)
    and make its values this command's defaults (click's default_map: the command line wins)."""
    from .. import config

    state["defaults"] = state["profile"] = state["e164"] = None
    found = config.find_defaults(value)
    if found is None:
        return value
    from .config import checked_defaults

    defaults = config.load_defaults(found[0], found[1], _all_option_keys(ctx))
    keys = _option_keys(ctx.command)
    mapped = checked_defaults(ctx, defaults.path, {k: v for k, v in defaults.for_command(ctx.info_name).items()
                                                  if k in keys}, keys, set(defaults.commands.get(ctx.info_name, {})))
    ctx.default_map = {**(ctx.default_map or {}), **mapped}
    state["defaults"] = defaults
    return value


config_option = click.option("--config", type=click.Path(dir_okay=False), default=None, is_eager=True,
                             callback=_apply_defaults, metavar="FILE",
                             help="The defaults file (default: $VIBER_SESSIONS_CONFIG, else ./viber-sessions.toml).")


def origin_of(ctx, name: str) -> str:
    """Where a parameter's value came from: command line, defaults file or built-in."""
    from click.core import ParameterSource

    source = ctx.get_parameter_source(name) if ctx is not None else None
    if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT):
        return "command line"
    if source == ParameterSource.DEFAULT_MAP:
        return "defaults file"
    return "built-in"


def reading_settings(kw, ctx=None) -> dict[str, tuple[object, str]]:
    """Every reading setting in force: LoadOptions field -> (value, where it came from), by the
    precedence command line > --source profile > defaults file > built-in defaults."""
    from ..profiles import delimiter_text, load_profile

    ctx = ctx or click.get_current_context(silent=True)
    profile = load_profile(kw["source"]) if kw.get("source") else None
    state["profile"] = profile
    out: dict[str, tuple[object, str]] = {}
    for field, name in LOAD_SETTINGS.items():
        value, origin = kw.get(name), origin_of(ctx, name)
        if origin != "command line" and profile is not None and field in profile.settings:
            value, origin = profile.settings[field], "profile"
        if field == "timestamp_format":
            value = tuple(value or ())
        if field == "delimiter" and value is not None:
            value = delimiter_text(value)
        out[field] = (value, origin)
    columns: dict[str, str] = {}
    map_origin = origin_of(ctx, "column_map")
    if map_origin == "defaults file":
        columns.update(kw.get("column_map") or {})
    if profile is not None:
        columns.update(profile.columns)
    if map_origin == "command line":
        columns.update(kw.get("column_map") or {})
    origins = [o for o, present in (("command line", map_origin == "command line"),
                                    ("profile", profile is not None and profile.columns),
                                    ("defaults file", map_origin == "defaults file")) if present]
    out["column_map"] = (columns, " > ".join(origins) or "built-in")
    out["values"] = (dict(profile.values) if profile is not None else {}, "profile" if profile and profile.values
                     else "built-in")
    return out


def load_options(kw, ctx=None, on_invalid: str | None = None):
    """The LoadOptions of a command's options (with its --source profile and defaults file):
    what every command passes to the core, e.g. ``core.Request(..., load=load_options(kw))``."""
    from ..load import LoadOptions

    found = reading_settings(kw, ctx)
    settings = {k: v for k, (v, _) in found.items()}
    input_tz_chosen = found["input_tz"][1] != "built-in"
    tz = kw.get("tz") or "UTC"
    settings["skip_rows"] = settings["skip_rows"] or 0
    settings["subscriber_format"] = settings["subscriber_format"] or "as_is"
    state["e164"] = settings["subscriber_format"] == "e164"
    return LoadOptions(on_invalid=on_invalid or kw.get("on_invalid") or "error",
                       naive_warning_tz=None if input_tz_chosen or tz == settings["input_tz"] else tz,
                       **settings)


invalid_options = lambda func: apply_options(func, [  # noqa: E731
    click.option("--on-invalid", type=click.Choice(["error", "skip"]), default="error", show_default=True,
                 help="Stop at an invalid row, or set invalid rows aside (see --rejects)."),
    click.option("--rejects", type=click.Path(dir_okay=False), default=None,
                 help="With --on-invalid skip: write the rejected rows and their errors here (.csv/.parquet)."),
])


def make_request(kw, tariff=None, period="2000-01"):
    from .. import core

    load = load_options(kw)
    return core.Request(inputs=list(kw["inputs"]), tariff=tariff if tariff is not None else kw["tariff_path"],
                        period=kw.get("period") or period, tz=kw["tz"], input_tz=load.input_tz,
                        column_map=dict(load.column_map), epoch_unit=load.epoch_unit,
                        on_invalid=load.on_invalid, accounts=list(kw.get("accounts", ())), load=load)


def period_of(kw):
    from ..timeutil import Period

    return Period.parse(kw["period"], kw["tz"]) if kw.get("period") else None


def provenance(paths, tariff_path):
    """Where an output came from; a --source profile and a defaults file are named with their
    sha256 (and the phonenumbers version when subscribers were read as phone numbers)."""
    out = {"tool": "viber-sessions", "version": __version__,
           "command": " ".join(["viber-sessions", *state["args"]]),
           "inputs": list(paths), "tariff": tariff_path}
    out.update(reading_provenance())
    return out


def reading_provenance() -> dict:
    """``source`` and ``defaults`` (path and sha256) when in force, ``phonenumbers`` (its
    version) when subscribers were read as E.164 numbers."""
    out: dict = {}
    profile, defaults = state.get("profile"), state.get("defaults")
    if profile is not None:
        out["source"] = {"path": profile.path, "sha256": profile.sha256}
    if defaults is not None:
        out["defaults"] = {"path": defaults.path, "sha256": defaults.sha256}
    if state.get("e164"):
        from ..phones import phonenumbers_version

        out["phonenumbers"] = phonenumbers_version()
    return out


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
    """Rows as JSON, with timestamps as the ISO text of the CSV (see ``writing.as_text``)."""
    from .. import writing

    return json.dumps(writing.as_text(table).to_pylist(), indent=2, ensure_ascii=False) + "\n"

