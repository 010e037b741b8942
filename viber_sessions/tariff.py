"""The tariff file (RULES.md section 8): a frozen, validated object with Decimal prices."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from . import money
from .errors import TariffError

DEFAULT_UNBILLED_STATUSES = ("failed", "rejected", "expired", "undelivered")
AFTER_MESSAGE_LIMIT = ("new_session", "close")


@dataclass(frozen=True)
class Limits:
    """Parameters of the session state machine (RULES.md section 4)."""

    window_hours: float = 24
    max_business_messages: int = 60
    max_unanswered: int = 10
    non_opening_types: frozenset[str] = frozenset({"image"})
    session_types: frozenset[str] = frozenset({"text", "image"})
    after_message_limit: str = "new_session"
    unbilled_statuses: frozenset[str] = frozenset(DEFAULT_UNBILLED_STATUSES)

    @property
    def window_ns(self) -> int:
        return int(round(self.window_hours * 3600 * 1_000_000_000))

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


def _price(path: str, name: str, value) -> Decimal:
    try:
        return money.parse(value)
    except money.MoneyError as exc:
        raise TariffError(path, name, str(exc)) from None


def _type_list(path: str, name: str, value) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise TariffError(path, name, "must be a list of message type names, e.g. [\"image\"]")
    return frozenset(v.strip().lower() for v in value)


def _positive_int(path: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TariffError(path, name, f"must be a whole number, not {value!r}")
    if value < 1:
        raise TariffError(path, name, f"must be at least 1, not {value!r}")
    return value


def parse_limits(data: Mapping, path: str = "<tariff>", base: Limits | None = None) -> Limits:
    """Limits from a ``[limits]`` table (unknown keys are refused, missing ones keep ``base``)."""
    base = base or Limits()
    if not isinstance(data, Mapping):
        raise TariffError(path, "limits", "must be a table")
    unknown = sorted(set(data) - _LIMIT_KEYS)
    if unknown:
        raise TariffError(path, f"limits.{unknown[0]}", "is not a known limit "
                          f"(known: {', '.join(sorted(_LIMIT_KEYS))})")
    changes: dict = {}
    if "window_hours" in data:
        value = data["window_hours"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TariffError(path, "limits.window_hours", f"must be a number of hours, not {value!r}")
        if value < 1:
            raise TariffError(path, "limits.window_hours", f"must be at least 1, not {value!r}")
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
                              f"must be \"new_session\" or \"close\", not {value!r}")
        changes["after_message_limit"] = value
    return replace(base, **changes)


def parse_tariff(data: Mapping, path: str = "<tariff>") -> Tariff:
    """A :class:`Tariff` from the parsed TOML document; every error names the field."""
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise TariffError(path, unknown[0], f"is not a known tariff field (known: {', '.join(sorted(_TOP_KEYS))})")
    for name in ("currency", "monthly_fee", "session_price", "outbound_prices"):
        if name not in data:
            raise TariffError(path, name, "is required")
    currency = data["currency"]
    if not isinstance(currency, str) or not currency.strip():
        raise TariffError(path, "currency", f"must be a currency code such as \"RUB\", not {currency!r}")
    prices = data["outbound_prices"]
    if not isinstance(prices, Mapping) or not prices:
        raise TariffError(path, "outbound_prices", "must be a table of message type = \"price\"")
    outbound: dict[str, Decimal] = {}
    default = None
    for name, value in prices.items():
        price = _price(path, f"outbound_prices.{name}", value)
        if name.strip().lower() == "default":
            default = price
        else:
            outbound[name.strip().lower()] = price
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


def load_tariff(path: str | Path) -> Tariff:
    """Read and validate a tariff TOML file."""
    name = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise TariffError(name, None, "no such tariff file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TariffError(name, None, f"cannot read the tariff file ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TariffError(name, None, f"not valid TOML ({exc})") from None
    return parse_tariff(data, name)
