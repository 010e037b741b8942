"""config: the settings in force and where each came from (command line, --source profile,
defaults file, built-in)."""

from __future__ import annotations

import json

import click

from .app import cli
from .options import input_options, origin_of, reading_settings, state


@cli.command("config")
@input_options(tariff="optional", inputs=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: one line per setting; json: every setting with its value and origin.")
def config_command(fmt, quiet, **kw):
    """Show the options in force for reading and billing, and where each value came from.

    Precedence: command line > --source profile > defaults file (--config FILE, else
    $VIBER_SESSIONS_CONFIG, else ./viber-sessions.toml) > built-in defaults. Give the same
    options as to another command to see what that command would use.

    \b
    Example:
      viber-sessions config --source tests/corpus/exports/cp1251_semicolon.toml --tz Europe/Moscow
    """
    ctx = click.get_current_context()
    rows = settings_in_force(kw, ctx)
    defaults, profile = state["defaults"], state["profile"]
    if fmt == "json":
        doc = {"defaults_file": None if defaults is None else {"path": defaults.path, "found_by": defaults.origin,
                                                               "sha256": defaults.sha256},
               "source": None if profile is None else {"path": profile.path, "sha256": profile.sha256},
               "settings": [{"name": n, "value": v, "from": o} for n, v, o in rows]}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    click.echo("defaults file: " + ("none" if defaults is None else
                                    f"{defaults.path} (found by {defaults.origin}; sha256 {defaults.sha256})"))
    click.echo("source profile: " + ("none" if profile is None else f"{profile.path} (sha256 {profile.sha256})"))
    width = min(20, max(len(n) for n, _, _ in rows))          # a longer name or value pushes its line only
    shown = [(n, _show(v)) for n, v, _ in rows]
    vwidth = min(20, max(len(v) for _, v in shown))
    for (name, value), (_, _, where) in zip(shown, rows):
        click.echo(f"{name:<{width}}  {value:<{vwidth}}  {where}".rstrip())


#: How a built-in default that is "not set" reads.
BUILT_IN = {"encoding": "utf-8", "delimiter": "detected (.tsv: tab)", "timestamp_format": "ISO-8601 or epoch",
            "epoch_unit": "detected", "skip_rows": 0, "subscriber_format": "as_is", "sheet": "the first",
            "default_region": "none"}


def _show(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show(v) if isinstance(v, dict) else v}" for k, v in value.items()) or "-"
    if value == "\t":
        return "\\t (tab)"
    return str(value)


def settings_in_force(kw, ctx) -> list[tuple[str, object, str]]:
    """(name, value, origin) of the billing options, every reading setting, and the defaults
    file's keys of other commands."""
    from ..config import key_name

    rows = [("tz", kw.get("tz"), origin_of(ctx, "tz")),
            ("tariff", kw.get("tariff_path"), origin_of(ctx, "tariff_path"))]
    for name, (value, where) in reading_settings(kw, ctx).items():
        if name == "column_map":
            rows.extend((f"map.{k}", v, where) for k, v in value.items())
        elif name == "values":
            rows.extend((f"values.{c}.{k}", v, where) for c, m in value.items() for k, v in m.items())
        else:
            rows.append((name, BUILT_IN.get(name, value) if where == "built-in" and not value else value, where))
    rows.append(("source", kw.get("source"), origin_of(ctx, "source")))
    defaults = state["defaults"]
    if defaults is not None:
        seen = {n for n, _, _ in rows} | {"column_map", "tariff_path"}
        for command in sorted({"", *defaults.commands}):
            values = defaults.common if not command else defaults.commands[command]
            for key, value in values.items():
                if key_name(key) not in seen:
                    rows.append((f"{command}.{key}" if command else key, value,
                                 f"defaults file ([{command}])" if command else "defaults file"))
    return rows


def _kind(param) -> tuple[type, ...]:
    """The TOML types a defaults-file value of ``param`` may have."""
    if param.is_flag:
        return (bool,)
    if isinstance(param.type, (click.types.IntParamType, click.IntRange)):
        return (int,)
    if isinstance(param.type, (click.types.FloatParamType, click.FloatRange)):
        return (int, float)
    return (str,)


_KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def checked_defaults(ctx, path: str, values: dict[str, object], keys: dict[str, str], table: set[str]) -> dict:
    """The defaults file's ``values`` for this command (defaults-file key -> value) as click
    parameter values, each checked as the command line would check it; a value of the wrong
    type is one line naming the file and the key (a usage error). A single string for a
    repeatable option is a list of one. ``table``: the keys given in the command's own table."""
    from ..errors import UsageError

    params = {p.name: p for p in ctx.command.params}
    out = {}
    for key, value in values.items():
        param = params[keys[key]]
        shown = f"[{ctx.info_name}] {key}" if key in table else key
        if param.multiple and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        items = value if param.multiple else [value]
        kinds = _kind(param)
        wanted = " or ".join(_KIND_NAMES[k] for k in kinds[-1:])
        if param.multiple and not isinstance(value, list):
            raise UsageError(f"defaults file {path}: {shown}: must be {wanted} or a list of them (--"
                             f"{key.replace('_', '-')} is repeatable), not {value!r}")
        for item in items:
            if not isinstance(item, kinds) or (isinstance(item, bool) and bool not in kinds):
                raise UsageError(f"defaults file {path}: {shown}: must be {wanted}, not {item!r}")
        try:
            param.type_cast_value(ctx, value)
        except click.BadParameter as exc:
            raise UsageError(f"defaults file {path}: {shown}: {exc.message}") from None
        out[param.name] = value
    return out
