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
