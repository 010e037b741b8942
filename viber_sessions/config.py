"""The defaults file: option values a team keeps instead of repeating them on every run.

Found as ``--config FILE``, else the file named by ``VIBER_SESSIONS_CONFIG``, else
``viber-sessions.toml`` in the working directory. Its keys are option names (``tz``,
``input_tz``, ``tariff``, ``source``, ``memory_limit``, ...; ``-`` or ``_``), at the top level
for every command that has the option, or in a table named after a command (``[invoice]``)
for that command only, which wins. The command line wins over everything (the CLI applies it
through click's ``default_map``); the Python API reads no defaults file.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import UsageError

FILE_NAME = "viber-sessions.toml"
ENV = "VIBER_SESSIONS_CONFIG"


@dataclass(frozen=True)
class Defaults:
    """A parsed defaults file: top-level values, per-command tables, where it was found
    (``--config``, the variable, or the working directory) and its sha256."""

    path: str
    origin: str
    common: Mapping[str, Any] = field(default_factory=dict)
    commands: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sha256: str = ""

    def for_command(self, command: str) -> dict[str, Any]:
        """The values for ``command`` (its own table over the common ones)."""
        return {**self.common, **self.commands.get(command, {})}


def key_name(key: str) -> str:
    return key.strip().replace("-", "_")


def find_defaults(explicit: str | None = None, environ: Mapping[str, str] | None = None,
                  cwd: str = ".") -> tuple[str, str] | None:
    """(path, origin) of the defaults file in force, or None."""
    environ = os.environ if environ is None else environ
    if explicit:
        return explicit, "--config"
    if environ.get(ENV):
        return environ[ENV], ENV
    here = os.path.join(cwd, FILE_NAME)
    if os.path.isfile(here):
        return FILE_NAME if cwd == "." else here, "the working directory"
    return None


def read_toml(path: str, name: str, invalid: str) -> tuple[dict, bytes]:
    """The TOML document at ``path`` and its bytes; a file that cannot be read is one UsageError line starting
    with ``name``, a document that is not TOML (or not UTF-8) one starting with ``invalid``."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise UsageError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    try:
        return tomllib.loads(raw.decode("utf-8")), raw
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{invalid} ({exc})") from None


def load_defaults(path: str, origin: str, commands: Mapping[str, set[str]]) -> Defaults:
    """Read the defaults file; ``commands`` maps each command to its option names, and a key
    that is no option of any command (or of the command its table names) is an error."""
    doc, raw = read_toml(path, f"defaults file {path} (from {origin})", f"defaults file {path}: not valid TOML")
    every = set().union(*commands.values()) if commands else set()
    common: dict[str, Any] = {}
    per: dict[str, dict[str, Any]] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            if key not in commands:
                raise UsageError(f"defaults file {path}: [{key}]: not a command (commands: {', '.join(sorted(commands))})")
            table = per.setdefault(key, {})
            for k, v in value.items():
                if key_name(k) not in commands[key]:
                    raise UsageError(f"defaults file {path}: {key}.{k}: unknown key ({key} has no option --"
                                     f"{key_name(k).replace('_', '-')})")
                table[key_name(k)] = v
            continue
        if key_name(key) not in every:
            raise UsageError(f"defaults file {path}: {key}: unknown key (no command has an option --"
                             f"{key_name(key).replace('_', '-')})")
        common[key_name(key)] = value
    return Defaults(path=path, origin=origin, common=common, commands=per, sha256=hashlib.sha256(raw).hexdigest())
