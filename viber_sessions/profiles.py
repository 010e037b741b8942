"""Source profiles: one provider's export described once, in TOML (``--source FILE``).

::

    [source]
    encoding = "cp1251"                       # a Python codec name; default utf-8; a BOM always wins
    delimiter = ";"                           # default: detected from the header line among , ; TAB |
    timestamp_format = "%d.%m.%Y %H:%M:%S"    # strptime formats (a list is tried in order)
    input_tz = "Europe/Moscow"
    skip_rows = 0                             # lines before the header
    subscriber_format = "e164"                # or "as_is" (default)
    default_region = "RU"                     # for numbers written without a country code
    sheet = "Messages"                        # .xlsx: the sheet (default: the first)
    epoch_unit = "ms"                         # unit of integer timestamps

    [source.columns]                          # canonical name = the file's header
    message_id = "ИД сообщения"

    [source.values.direction]                 # the file's value = canonical value (case-insensitive)
    "Входящее" = "inbound"

Unknown keys are errors naming the key. Command-line options win over the profile (the CLI
decides); the profile is plain data here: :class:`Profile` holds the keys it sets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from .config import read_toml
from .errors import UsageError
from .load.options import CANONICAL, DIRECTIONS, VALUE_COLUMNS

#: The settings a profile may set (LoadOptions fields), with the type each value must have.
SETTINGS: Mapping[str, tuple[type, ...]] = {
    "encoding": (str,), "delimiter": (str,), "timestamp_format": (str, list), "input_tz": (str,),
    "skip_rows": (int,), "subscriber_format": (str,), "default_region": (str,), "sheet": (str,),
    "epoch_unit": (str,),
}
TABLES = ("columns", "values")


@dataclass(frozen=True)
class Profile:
    """A parsed profile: the settings it sets (LoadOptions field -> value), its column map
    (canonical -> the file's header), its value mappings, and where it came from."""

    path: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    columns: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    sha256: str = ""


def delimiter_text(value: str) -> str:
    """A delimiter as typed: ``\\t``, ``tab`` or ``TAB`` mean a tab."""
    return "\t" if value in ("\\t", "tab", "TAB") else value


def _bad(path: str, key: str, message: str) -> UsageError:
    return UsageError(f"{path}: {key}: {message}")


def load_profile(path: str) -> Profile:
    """Read and check a profile; every problem is one UsageError line naming the file and key."""
    doc, raw = read_toml(path, f"--source {path}", f"{path}: not a valid TOML profile")
    for key in doc:
        if key != "source":
            raise _bad(path, key, "unknown key (a profile holds one [source] table)")
    source = doc.get("source", {})
    if not isinstance(source, dict):
        raise _bad(path, "source", "must be a table ([source])")
    settings: dict[str, Any] = {}
    for key, value in source.items():
        if key in TABLES:
            continue
        if key not in SETTINGS:
            raise _bad(path, f"source.{key}", "unknown key (known: " + ", ".join([*SETTINGS, *TABLES]) + ")")
        if not isinstance(value, SETTINGS[key]) or isinstance(value, bool):
            raise _bad(path, f"source.{key}", f"must be {' or '.join(t.__name__ for t in SETTINGS[key])}, "
                                              f"not {value!r}")
        if key == "timestamp_format":
            value = (value,) if isinstance(value, str) else tuple(value)
            if not value or not all(isinstance(v, str) for v in value):
                raise _bad(path, f"source.{key}", "must be a format or a list of formats")
        if key == "delimiter":
            value = delimiter_text(value)
        settings[key] = value
    columns = _columns(path, source.get("columns", {}))
    values = _values(path, source.get("values", {}))
    return Profile(path=path, settings=settings, columns=columns, values=values,
                   sha256=hashlib.sha256(raw).hexdigest())


def _columns(path: str, table) -> dict[str, str]:
    if not isinstance(table, dict):
        raise _bad(path, "source.columns", "must be a table of canonical name = the file's header")
    for key, value in table.items():
        if key not in CANONICAL:
            raise _bad(path, f"source.columns.{key}", f"unknown key (columns: {', '.join(CANONICAL)})")
        if not isinstance(value, str):
            raise _bad(path, f"source.columns.{key}", f"must be the file's header text, not {value!r}")
    return dict(table)


def _values(path: str, table) -> dict[str, dict[str, str]]:
    if not isinstance(table, dict):
        raise _bad(path, "source.values", "must hold tables such as [source.values.direction]")
    out: dict[str, dict[str, str]] = {}
    for column, mapping in table.items():
        if column not in VALUE_COLUMNS:
            raise _bad(path, f"source.values.{column}", f"unknown key (mappable: {', '.join(VALUE_COLUMNS)})")
        if not isinstance(mapping, dict):
            raise _bad(path, f"source.values.{column}", "must be a table of the file's value = canonical value")
        seen: dict[str, str] = {}
        for key, value in mapping.items():
            where = f"source.values.{column}.{key!r}"
            if not isinstance(value, str) or not value.strip():
                raise _bad(path, where, f"must be a canonical value (text), not {value!r}")
            if column == "direction" and value.strip().lower() not in DIRECTIONS:
                raise _bad(path, where, f"{value!r} is not a direction (use inbound or outbound)")
            low = key.strip().lower()
            if low in seen and seen[low] != value.strip().lower():
                raise _bad(path, where, f"the same value as {seen[low]!r} apart from case, mapped differently")
            seen[low] = value.strip().lower()
        out[column] = dict(mapping)
    return out
