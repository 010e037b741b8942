"""The tariff's data model: :class:`Limits`, :class:`Zone` and :class:`Tariff` (a plan; the
top level holds the account overrides), their bounds and the ISO 4217 minor units."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Mapping

from .. import money
from ..errors import TariffError

DEFAULT_UNBILLED_STATUSES = ("failed", "rejected", "expired", "undelivered")
AFTER_MESSAGE_LIMIT = ("new_session", "close")

MAX_WINDOW_HOURS = 87_600                  # 10 years of 365 days: window_ns stays far below 2**63
MAX_COUNT = 1_000_000_000                  # max_business_messages, max_unanswered
_NS_PER_HOUR = 3_600_000_000_000
_LIMITS_SOURCE = "<limits>"


def window_problem(value, in_file: bool) -> str | None:
    """Why ``value`` cannot be a window in hours (``None``: it can). Any positive size up to the
    bound works for the engine; a tariff file needs at least 1 (README, "The tariff file")."""
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


def count_problem(value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return f"must be a whole number from 1 to {MAX_COUNT}, not {money.show(value)}"
    if value < 1:
        return f"must be at least 1, not {money.show(value)}"
    if value > MAX_COUNT:
        return f"must be at most {MAX_COUNT} (10^9), not {money.show(value)}"
    return None


@dataclass(frozen=True)
class Limits:
    """Parameters of the session state machine (README, "The rules").

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
        problem = window_problem(self.window_hours, in_file=False)
        if problem:
            raise TariffError(_LIMITS_SOURCE, "window_hours", problem)
        for name in ("max_business_messages", "max_unanswered"):
            problem = count_problem(getattr(self, name))
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
class Zone:
    """Out-of-session prices for subscribers of some countries (``[[zones]]``)."""

    name: str
    countries: frozenset[str]
    outbound_prices: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    default_outbound_price: Decimal | None = None
    inbound_price: Decimal | None = None

    def prices(self) -> list[Decimal]:
        out = list(self.outbound_prices.values())
        out += [p for p in (self.default_outbound_price, self.inbound_price) if p is not None]
        return out


_NO_ACCOUNTS: Mapping[str, "Tariff"] = MappingProxyType({})


@dataclass(frozen=True)
class Tariff:
    """A price plan (README, "The tariff file"). The top-level tariff is the plan of every
    account without an override; ``accounts`` holds the merged plans of the accounts that have
    one (each a :class:`Tariff` without ``accounts`` of its own)."""

    currency: str
    monthly_fee: Decimal
    session_price: Decimal
    outbound_prices: Mapping[str, Decimal]
    inbound_price: Decimal = Decimal(0)
    default_outbound_price: Decimal | None = None
    limits: Limits = field(default_factory=Limits)
    source: str = "<tariff>"
    minimum_monthly_charge: Decimal = Decimal(0)
    tax_rate: Decimal = Decimal(0)
    minor_unit: int | None = None          # None: the currency's ISO 4217 minor unit (2 when unknown)
    sessions: bool = True                  # False: no sessions for the account, every message billed per message
    zones: tuple[Zone, ...] = ()
    accounts: Mapping[str, "Tariff"] = field(default_factory=lambda: _NO_ACCOUNTS)

    def outbound_price(self, message_type: str, zone: Zone | None = None) -> Decimal | None:
        """Unit price of an out-of-session outbound message of this type (None: not priced):
        zone[type] -> zone.default -> plan[type] -> plan.default."""
        if zone is not None:
            price = zone.outbound_prices.get(message_type)
            if price is None:
                price = zone.default_outbound_price
            if price is not None:
                return price
        price = self.outbound_prices.get(message_type)
        return price if price is not None else self.default_outbound_price

    def unit_price(self, direction: str, message_type: str, zone: Zone | None = None) -> Decimal | None:
        if direction == "inbound":
            if zone is not None and zone.inbound_price is not None:
                return zone.inbound_price
            return self.inbound_price
        return self.outbound_price(message_type, zone)

    def lookup(self, direction: str, message_type: str, zone: Zone | None = None) -> tuple[Decimal | None, str]:
        """The unit price and the name of the zone it comes from (``""``: the plan's top-level
        prices, also for a zone member whose zone does not price this message)."""
        if zone is not None:
            if direction == "inbound":
                if zone.inbound_price is not None:
                    return zone.inbound_price, zone.name
            else:
                price = zone.outbound_prices.get(message_type)
                if price is None:
                    price = zone.default_outbound_price
                if price is not None:
                    return price, zone.name
        return self.unit_price(direction, message_type), ""

    def zone_of(self, country: str | None) -> Zone | None:
        """The zone that lists ``country`` (an ISO 3166 alpha-2 code), or None."""
        if not country:
            return None
        for zone in self.zones:
            if country in zone.countries:
                return zone
        return None

    def plan(self, account: str) -> "Tariff":
        """The plan of ``account``: its merged override, or the top-level tariff."""
        return self.accounts.get(account, self)

    def plans(self) -> list["Tariff"]:
        """The top-level plan, then each account's plan (in account order)."""
        return [self, *self.accounts.values()]

    def map_plans(self, change) -> "Tariff":
        """This tariff with ``change(plan)`` applied to the top-level plan and to every account's plan."""
        accounts = MappingProxyType({a: change(p) for a, p in self.accounts.items()})
        return replace(change(self), accounts=accounts)

    @property
    def has_zones(self) -> bool:
        return any(p.zones for p in self.plans())

    @property
    def decimals(self) -> int:
        """Decimals of ``net``, ``tax`` and ``amount_due``: ``minor_unit``, else the currency's ISO
        4217 minor unit (2 for a code ISO 4217 does not know, when built in code)."""
        if self.minor_unit is not None:
            return self.minor_unit
        unit = iso_minor_unit(self.currency)
        return 2 if unit is None else unit

    def replace(self, **changes) -> "Tariff":
        return replace(self, **changes)

    def _prices(self) -> list[Decimal]:
        prices = [self.monthly_fee, self.session_price, self.inbound_price, self.minimum_monthly_charge,
                  *self.outbound_prices.values()]
        if self.default_outbound_price is not None:
            prices.append(self.default_outbound_price)
        for zone in self.zones:
            prices += zone.prices()
        return prices

    @property
    def places(self) -> int:
        """Decimal places of line amounts, one value per invoice: the most any price of any plan
        or zone uses, and at least the minor unit (of any plan)."""
        prices = [p for plan in self.plans() for p in plan._prices()]
        least = max(plan.decimals for plan in self.plans())
        return max([least] + [-p.as_tuple().exponent for p in prices if isinstance(p.as_tuple().exponent, int)])


def iso_minor_unit(code: str) -> int | None:
    """The ISO 4217 minor unit of a currency code (the ``iso4217`` package), None when the code
    is not an ISO 4217 currency or has no minor unit (``XXX``, ``XAU``)."""
    import iso4217

    try:
        return iso4217.Currency(code).exponent
    except ValueError:
        return None


def iso_codes() -> list[str]:
    import iso4217

    return sorted(c.value for c in iso4217.Currency)
