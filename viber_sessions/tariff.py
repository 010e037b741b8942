"""The tariff file (RULES.md section 8): a frozen, validated object with Decimal prices.

Nothing in a tariff is read silently wrong: keys (field names, message types, list items) that
differ only by case or surrounding spaces would override each other, so they are refused with
both names; a key with leading or trailing spaces, or with an invisible (control or format)
character, is refused too (it is never normalised). Prices follow :func:`money.parse`; limits
have bounds (:data:`MAX_WINDOW_HOURS`, :data:`MAX_COUNT`) and every message says them.
"""

from __future__ import annotations

import math
import numbers
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from . import money
from .errors import TariffError

DEFAULT_UNBILLED_STATUSES = ("failed", "rejected", "expired", "undelivered")
AFTER_MESSAGE_LIMIT = ("new_session", "close")

MAX_WINDOW_HOURS = 87_600                  # 10 years of 365 days: window_ns stays far below 2**63
MAX_COUNT = 1_000_000_000                  # max_business_messages, max_unanswered
MAX_TARIFF_BYTES = 16 * 1024 * 1024        # a tariff is a small text; /dev/zero is not one
_NS_PER_HOUR = 3_600_000_000_000
_LIMITS_SOURCE = "<limits>"


def _window_problem(value, in_file: bool) -> str | None:
    """Why ``value`` cannot be a window in hours (``None``: it can). Any positive size up to the
    bound works for the engine; a tariff file needs at least 1 (RULES.md section 8)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"must be a number of hours from 1 to {MAX_WINDOW_HOURS} (10 years), not {money.show(value)}"
    if not isinstance(value, numbers.Integral) and not math.isfinite(value):
        return f"must be a finite number of hours from 1 to {MAX_WINDOW_HOURS} (10 years), not {value!r}"
    if value > MAX_WINDOW_HOURS:
        return f"must be at most {MAX_WINDOW_HOURS} hours (10 years), not {money.show(value)}"
    if in_file and value < 1:
        return f"must be at least 1, not {value!r}"
    if value <= 0:
        return f"must be more than 0 hours, not {value!r}"
    return None


def _count_problem(value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return f"must be a whole number from 1 to {MAX_COUNT}, not {money.show(value)}"
    if value < 1:
        return f"must be at least 1, not {money.show(value)}"
    if value > MAX_COUNT:
        return f"must be at most {MAX_COUNT} (10^9), not {money.show(value)}"
    return None


@dataclass(frozen=True)
class Limits:
    """Parameters of the session state machine (RULES.md section 4).

    Constructing one checks the numbers the engine depends on (window in (0, 87600] hours,
    counts in [1, 10^9]); a tariff file is stricter (window of at least 1 hour)."""

    window_hours: float = 24
    max_business_messages: int = 60
    max_unanswered: int = 10
    non_opening_types: frozenset[str] = frozenset({"image"})
    session_types: frozenset[str] = frozenset({"text", "image"})
    after_message_limit: str = "new_session"
    unbilled_statuses: frozenset[str] = frozenset(DEFAULT_UNBILLED_STATUSES)

    def __post_init__(self):
        problem = _window_problem(self.window_hours, in_file=False)
        if problem:
            raise TariffError(_LIMITS_SOURCE, "window_hours", problem)
        for name in ("max_business_messages", "max_unanswered"):
            problem = _count_problem(getattr(self, name))
            if problem:
                raise TariffError(_LIMITS_SOURCE, name, problem)
        if self.after_message_limit not in AFTER_MESSAGE_LIMIT:
            raise TariffError(_LIMITS_SOURCE, "after_message_limit",
                              f"must be \"new_session\" or \"close\", not {money.show(self.after_message_limit)}")

    @property
    def window_ns(self) -> int:
        """The window in nanoseconds, exactly as written (a float counts as its shortest decimal
        spelling, ``1.1`` -> 3,960,000,000,000), rounded half-even to a nanosecond; at most
        87600 h = 3.1536e17 ns, so ``timestamp + window_ns`` fits int64 for any valid instant."""
        hours = self.window_hours
        if isinstance(hours, numbers.Integral):
            return int(hours) * _NS_PER_HOUR
        return round(Fraction(repr(float(hours))) * _NS_PER_HOUR)

    def replace(self, **changes) -> "Limits":
        return replace(self, **changes)


@dataclass(frozen=True)
class Tariff:
    currency: str
    monthly_fee: Decimal
    session_price: Decimal
    outbound_prices: Mapping[str, Decimal]
    inbound_price: Decimal = Decimal(0)
    default_outbound_price: Decimal | None = None
    limits: Limits = field(default_factory=Limits)
    source: str = "<tariff>"

    def outbound_price(self, message_type: str) -> Decimal | None:
        """Unit price of an out-of-session outbound message of this type (None: not priced)."""
        price = self.outbound_prices.get(message_type)
        return price if price is not None else self.default_outbound_price

    def unit_price(self, direction: str, message_type: str) -> Decimal | None:
        if direction == "inbound":
            return self.inbound_price
        return self.outbound_price(message_type)

    def replace(self, **changes) -> "Tariff":
        return replace(self, **changes)

    @property
    def places(self) -> int:
        """Decimal places to show amounts with: the most any price of the tariff uses (at least 2)."""
        prices = [self.monthly_fee, self.session_price, self.inbound_price, *self.outbound_prices.values()]
        if self.default_outbound_price is not None:
            prices.append(self.default_outbound_price)
        return max([2] + [-p.as_tuple().exponent for p in prices if isinstance(p.as_tuple().exponent, int)])


_TOP_KEYS = {"currency", "monthly_fee", "session_price", "inbound_price", "outbound_prices", "limits"}
_LIMIT_KEYS = {"window_hours", "max_business_messages", "max_unanswered", "non_opening_types",
               "session_types", "after_message_limit", "unbilled_statuses"}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


def _key_path(table: str, key) -> str:
    """``table.key`` as TOML spells it (quoted when the key is not a bare key)."""
    if isinstance(key, str) and _BARE_KEY.fullmatch(key):
        text = key
    else:
        text = '"' + str(key).replace("\\", "\\\\").replace('"', '\\"') + '"'   # control characters: repr shows them
    return f"{table}.{text}" if table else text


def _invisible(text: str) -> str | None:
    """The first control or format character (zero-width space, BOM, ...) in ``text``, if any."""
    return next((c for c in text if unicodedata.category(c) in ("Cc", "Cf")), None)


def _name_problem(name, what: str) -> str | None:
    if not isinstance(name, str):
        return f"{money.show(name)} is not a {what} (a string)"
    if not name.strip():
        return f"an empty {what} is not allowed" if not name else f"a {what} of spaces only is not allowed"
    if name != name.strip():
        return f"{money.show(name)} has leading or trailing spaces; remove them"
    c = _invisible(name)
    if c is not None:
        return f"{money.show(name)} holds the invisible character U+{ord(c):04X}; remove it"
    return None


def _check_keys(path: str, table: str, data: Mapping) -> None:
    """Refuse keys that differ only by case or surrounding spaces (the first pair, named both),
    then keys with surrounding spaces or invisible characters."""
    seen: dict[str, object] = {}
    for key in data:
        norm = key.strip().lower() if isinstance(key, str) else key
        if norm in seen:
            raise TariffError(path, _key_path(table, key),
                              f"is the same key as {_key_path(table, seen[norm])!r} up to case and surrounding "
                              "spaces (one would silently override the other); keep one")
        seen[norm] = key
    for key in data:
        problem = _name_problem(key, "key")
        if problem:
            raise TariffError(path, _key_path(table, key), problem)


def _price(path: str, name: str, value) -> Decimal:
    try:
        return money.parse(value)
    except money.MoneyError as exc:
        raise TariffError(path, name, str(exc)) from None


def _type_list(path: str, name: str, value) -> frozenset[str]:
    """A list of message type (or status) names: non-empty strings, no surrounding spaces, no
    invisible characters, no two that differ only by case; stored lowercase."""
    if not isinstance(value, list):
        raise TariffError(path, name, f"must be a list of names such as [\"image\"], not {money.show(value)}")
    seen: dict[str, str] = {}
    for item in value:
        problem = _name_problem(item, "name")
        if problem:
            raise TariffError(path, name, f"must be a list of names such as [\"image\"]: {problem}")
        norm = item.lower()
        if norm in seen:
            twice = (f"{item!r} is listed twice" if seen[norm] == item else
                     f"{seen[norm]!r} and {item!r} differ only by case (names ignore case)")
            raise TariffError(path, name, f"{twice}; list each name once")
        seen[norm] = item
    return frozenset(seen)


def _positive_int(path: str, name: str, value) -> int:
    problem = _count_problem(value)
    if problem:
        raise TariffError(path, name, problem)
    return value


def parse_limits(data: Mapping, path: str = "<tariff>", base: Limits | None = None) -> Limits:
    """Limits from a ``[limits]`` table (unknown keys are refused, missing ones keep ``base``)."""
    base = base or Limits()
    if not isinstance(data, Mapping):
        raise TariffError(path, "limits", f"must be a table, not {money.show(data)}")
    _check_keys(path, "limits", data)
    unknown = sorted(set(data) - _LIMIT_KEYS)
    if unknown:
        raise TariffError(path, _key_path("limits", unknown[0]), "is not a known limit "
                          f"(known: {', '.join(sorted(_LIMIT_KEYS))})")
    changes: dict = {}
    if "window_hours" in data:
        value = data["window_hours"]
        problem = _window_problem(value, in_file=True)
        if problem:
            raise TariffError(path, "limits.window_hours", problem)
        changes["window_hours"] = value
    for name in ("max_business_messages", "max_unanswered"):
        if name in data:
            changes[name] = _positive_int(path, f"limits.{name}", data[name])
    for name in ("non_opening_types", "session_types", "unbilled_statuses"):
        if name in data:
            changes[name] = _type_list(path, f"limits.{name}", data[name])
    if "after_message_limit" in data:
        value = data["after_message_limit"]
        if value not in AFTER_MESSAGE_LIMIT:
            raise TariffError(path, "limits.after_message_limit",
                              f"must be \"new_session\" or \"close\", not {money.show(value)}")
        changes["after_message_limit"] = value
    return replace(base, **changes)


def parse_tariff(data: Mapping, path: str = "<tariff>") -> Tariff:
    """A :class:`Tariff` from the parsed TOML document; every error names the field."""
    if not isinstance(data, Mapping):
        raise TariffError(path, None, f"a tariff must be a table of fields, not {type(data).__name__}")
    _check_keys(path, "", data)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise TariffError(path, _key_path("", unknown[0]),
                          f"is not a known tariff field (known: {', '.join(sorted(_TOP_KEYS))})")
    for name in ("currency", "monthly_fee", "session_price", "outbound_prices"):
        if name not in data:
            raise TariffError(path, name, "is required")
    currency = data["currency"]
    if not isinstance(currency, str) or not currency.strip():
        raise TariffError(path, "currency", f"must be a currency code such as \"RUB\", not {money.show(currency)}")
    prices = data["outbound_prices"]
    if not isinstance(prices, Mapping) or not prices:
        raise TariffError(path, "outbound_prices", "must be a table of message type = \"price\"")
    _check_keys(path, "outbound_prices", prices)
    outbound: dict[str, Decimal] = {}
    default = None
    for name, value in prices.items():
        price = _price(path, _key_path("outbound_prices", name), value)
        if name.lower() == "default":
            default = price
        else:
            outbound[name.lower()] = price
    return Tariff(
        currency=currency.strip(),
        monthly_fee=_price(path, "monthly_fee", data["monthly_fee"]),
        session_price=_price(path, "session_price", data["session_price"]),
        inbound_price=_price(path, "inbound_price", data.get("inbound_price", "0")),
        outbound_prices=MappingProxyType(dict(sorted(outbound.items()))),
        default_outbound_price=default,
        limits=parse_limits(data.get("limits", {}), path),
        source=path,
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _display(path: str | Path) -> str:
    """The file name for messages: as given, or its ``repr`` when it holds a line break or
    another unprintable character (a message is one line)."""
    name = str(path)
    return name if name.isprintable() else repr(name)


def read_tariff_text(path: str | Path) -> str:
    """The text of a tariff file; every failure is a one-line :class:`TariffError` naming it."""
    name = _display(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_TARIFF_BYTES + 1)
    except FileNotFoundError:
        raise TariffError(name, None, "no such tariff file") from None
    except IsADirectoryError:
        raise TariffError(name, None, "is a directory, not a tariff file") from None
    except PermissionError:
        raise TariffError(name, None, "cannot read the tariff file (permission denied)") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _one_line(exc)
        raise TariffError(name, None, f"cannot read the tariff file ({reason})") from None
    if len(raw) > MAX_TARIFF_BYTES:
        size = (f"{MAX_TARIFF_BYTES // 2**20} MiB" if MAX_TARIFF_BYTES % 2**20 == 0 else f"{MAX_TARIFF_BYTES} bytes")
        raise TariffError(name, None, f"is larger than {size}: not a tariff file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TariffError(name, None, f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          "save it as UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text   # a byte order mark is not content


def load_tariff(path: str | Path) -> Tariff:
    """Read and validate a tariff TOML file."""
    name = _display(path)
    text = read_tariff_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TariffError(name, None, f"not valid TOML ({_one_line(exc)})") from None
    except RecursionError:
        raise TariffError(name, None, "not valid TOML (arrays or tables nested too deeply)") from None
    except ValueError as exc:     # e.g. an integer of more than 4300 digits
        reason = "a number with too many digits" if "digits" in str(exc) else _one_line(exc)
        raise TariffError(name, None, f"not valid TOML ({reason})") from None
    return parse_tariff(data, name)
