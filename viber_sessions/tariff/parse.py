"""Reading a tariff's TOML data into a :class:`Tariff`: keys checked (no case or space twins,
no invisible characters), prices, limits, zones and account overrides validated, every
message naming the key."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from decimal import Decimal
from types import MappingProxyType
from typing import Mapping

from .. import money
from ..errors import TariffError
from .model import (AFTER_MESSAGE_LIMIT, Limits, Tariff, Zone, count_problem,
                    iso_codes, window_problem)

_PLAN_KEYS = {"monthly_fee", "session_price", "inbound_price", "outbound_prices", "limits", "minimum_monthly_charge",
              "tax_rate", "minor_unit", "sessions", "zones"}
_TOP_KEYS = _PLAN_KEYS | {"currency", "accounts"}
_LIMIT_KEYS = {"window_hours", "max_business_messages", "max_unanswered", "non_opening_types",
               "session_types", "after_message_limit", "unbilled_statuses"}
_ZONE_KEYS = {"name", "countries", "inbound_price", "outbound_prices"}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
MAX_MINOR_UNIT = money.MAX_DECIMALS


def _key_path(table: str, key) -> str:
    """``table.key`` as TOML spells it (quoted when the key is not a bare key)."""
    if isinstance(key, str) and _BARE_KEY.fullmatch(key):
        text = key
    else:
        text = '"' + str(key).replace("\\", "\\\\").replace('"', '\\"') + '"'   # control characters: repr shows them
    return f"{table}.{text}" if table else text


def _did_you_mean(key, known) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known`` (case first), or an empty string."""
    import difflib

    if not isinstance(key, str):
        return ""
    known = sorted(known)
    same_case = [k for k in known if k.lower() == key.strip().lower()]
    close = same_case or difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _refuse_unknown(path: str, table: str, data: Mapping, known: set, what: str) -> None:
    unknown = sorted((k for k in data if k not in known), key=str)
    if unknown:
        key = unknown[0]
        raise TariffError(path, _key_path(table, key),
                          f"is not a known {what}{_did_you_mean(key, known)} (known: {', '.join(sorted(known))})")


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
    """A price of the tariff file: a decimal string, never a TOML number (a float is binary, and
    an integer is refused too, so that every price is written one way)."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise TariffError(path, name, f"must be a decimal string such as \"{value}.00\", not the number {value}")
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
    problem = count_problem(value)
    if problem:
        raise TariffError(path, name, problem)
    return value


def parse_limits(data: Mapping, path: str = "<tariff>", base: Limits | None = None, table: str = "limits") -> Limits:
    """Limits from a ``[limits]`` table (unknown keys are refused, missing ones keep ``base``);
    ``table`` is its path in the file (``accounts."shop".limits`` for an override)."""
    base = base or Limits()
    if not isinstance(data, Mapping):
        raise TariffError(path, table, f"must be a table, not {money.show(data)}")
    _check_keys(path, table, data)
    _refuse_unknown(path, table, data, _LIMIT_KEYS, "limit")
    at = lambda name: f"{table}.{name}"  # noqa: E731
    changes: dict = {}
    if "window_hours" in data:
        value = data["window_hours"]
        problem = window_problem(value, in_file=True)
        if problem:
            raise TariffError(path, at("window_hours"), problem)
        changes["window_hours"] = value
    for name in ("max_business_messages", "max_unanswered"):
        if name in data:
            changes[name] = _positive_int(path, at(name), data[name])
    for name in ("non_opening_types", "session_types", "unbilled_statuses"):
        if name in data:
            changes[name] = _type_list(path, at(name), data[name])
    if "after_message_limit" in data:
        value = data["after_message_limit"]
        if value not in AFTER_MESSAGE_LIMIT:
            raise TariffError(path, at("after_message_limit"),
                              f"must be \"new_session\" or \"close\", not {money.show(value)}")
        changes["after_message_limit"] = value
    return replace(base, **changes)


def _outbound(path: str, table: str, prices, known: set[str] | None, required: bool,
              ) -> tuple[dict[str, Decimal], Decimal | None]:
    """An ``outbound_prices`` table: type = "price" (types lowercase) and the optional default.
    ``known``: the types the plan's top-level table prices (a key outside them is a typo)."""
    if not isinstance(prices, Mapping) or (required and not prices):
        raise TariffError(path, table, "must be a table of message type = \"price\"")
    _check_keys(path, table, prices)
    outbound: dict[str, Decimal] = {}
    default = None
    for name, value in prices.items():
        norm = name.lower()
        if known is not None and norm != "default" and norm not in known:
            raise TariffError(path, _key_path(table, name),
                              f"is not a message type of the top-level [outbound_prices]"
                              f"{_did_you_mean(norm, known | {'default'})}; a type is priced here only when the "
                              "top-level table lists it (add it there first)")
        price = _price(path, _key_path(table, name), value)
        if norm == "default":
            default = price
        else:
            outbound[norm] = price
    return outbound, default


def _region_codes() -> frozenset[str]:
    import phonenumbers

    return frozenset(phonenumbers.SUPPORTED_REGIONS)


def _zones(path: str, table: str, value, types: set[str]) -> tuple[Zone, ...]:
    """``[[zones]]``: names unique, countries ISO 3166 alpha-2 codes that phonenumbers knows, no
    country in two zones; zone prices only for the plan's types."""
    if not isinstance(value, list) or not all(isinstance(z, Mapping) for z in value):
        raise TariffError(path, table, "must be an array of tables ([[zones]] with name, countries and prices), "
                          f"not {money.show(value)}")
    if not value:                   # (phonenumbers, which knows the countries, is not imported)
        return ()
    regions = _region_codes()
    zones: list[Zone] = []
    names: dict[str, str] = {}
    owner: dict[str, tuple[str, str]] = {}
    for k, data in enumerate(value):
        at = f"{table}[{k}]"
        _check_keys(path, at, data)
        _refuse_unknown(path, at, data, _ZONE_KEYS, "zone field")
        for name in ("name", "countries"):
            if name not in data:
                raise TariffError(path, f"{at}.{name}", "is required")
        name = data["name"]
        problem = _name_problem(name, "zone name")
        if problem:
            raise TariffError(path, f"{at}.name", problem)
        if name.lower() in names:
            raise TariffError(path, f"{at}.name", f"zone {name!r} is already the name of {names[name.lower()]}; "
                              "give each zone its own name")
        names[name.lower()] = at
        countries = data["countries"]
        if not isinstance(countries, list) or not countries:
            raise TariffError(path, f"{at}.countries", "must be a non-empty list of ISO 3166 alpha-2 country codes "
                              f"such as [\"KZ\", \"UZ\"], not {money.show(countries)}")
        listed: set[str] = set()
        for c in countries:
            if not isinstance(c, str) or c not in regions:
                hint = _did_you_mean(c.upper() if isinstance(c, str) else c, regions) if isinstance(c, str) else ""
                raise TariffError(path, f"{at}.countries", f"{money.show(c)} is not an ISO 3166 alpha-2 country code "
                                  f"that phonenumbers knows{hint}")
            if c in listed:
                raise TariffError(path, f"{at}.countries", f"{c!r} is listed twice; list each country once")
            if c in owner:
                other_at, other = owner[c]
                raise TariffError(path, f"{at}.countries", f"{c!r} is already in zone {other!r} ({other_at}); "
                                  "a country belongs to one zone at most")
            listed.add(c)
            owner[c] = (at, name)
        outbound, default = _outbound(path, f"{at}.outbound_prices", data.get("outbound_prices", {}), types, False)
        inbound = _price(path, f"{at}.inbound_price", data["inbound_price"]) if "inbound_price" in data else None
        zones.append(Zone(name=name, countries=frozenset(listed), outbound_prices=MappingProxyType(dict(sorted(
            outbound.items()))), default_outbound_price=default, inbound_price=inbound))
    return tuple(zones)


def _plan(data: Mapping, path: str, prefix: str, currency: str, known_types: set[str] | None) -> Tariff:
    """One plan from a complete table of plan fields (the top level, or an override merged over
    it); every path is written under ``prefix``."""
    at = lambda name: _key_path(prefix, name)  # noqa: E731
    outbound, default = _outbound(path, at("outbound_prices"), data["outbound_prices"], known_types, True)
    types = set(outbound)
    tax_rate = Decimal(0)
    if "tax_rate" in data:
        tax_rate = _price(path, at("tax_rate"), data["tax_rate"])
        if tax_rate >= 1:
            raise TariffError(path, at("tax_rate"), f"must be less than 1 (a rate such as \"0.22\" for 22 %), "
                              f"not {money.show(data['tax_rate'])}")
    minor_unit = None
    if "minor_unit" in data:
        value = data["minor_unit"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MINOR_UNIT:
            raise TariffError(path, at("minor_unit"), f"must be a whole number of decimals from 0 to "
                              f"{MAX_MINOR_UNIT}, not {money.show(value)}")
        minor_unit = value
    sessions = data.get("sessions", True)
    if not isinstance(sessions, bool):
        raise TariffError(path, at("sessions"), f"must be true or false, not {money.show(sessions)}")
    return Tariff(
        currency=currency,
        monthly_fee=_price(path, at("monthly_fee"), data["monthly_fee"]),
        session_price=_price(path, at("session_price"), data["session_price"]),
        inbound_price=_price(path, at("inbound_price"), data.get("inbound_price", "0")),
        outbound_prices=MappingProxyType(dict(sorted(outbound.items()))),
        default_outbound_price=default,
        limits=parse_limits(data.get("limits", {}), path, table=at("limits")),
        source=path,
        minimum_monthly_charge=_price(path, at("minimum_monthly_charge"), data.get("minimum_monthly_charge", "0")),
        tax_rate=tax_rate,
        minor_unit=minor_unit,
        sessions=sessions,
        zones=_zones(path, at("zones"), data.get("zones", []), types),
    )


def _merge(top: Mapping, override: Mapping) -> dict:
    """The override merged over the top level: tables (``outbound_prices`` by message type, which
    ignores case; ``limits``) key by key, other values replaced."""
    merged = {k: v for k, v in top.items() if k != "accounts"}
    for key, value in override.items():
        base = merged.get(key)
        if key in ("outbound_prices", "limits") and isinstance(value, Mapping) and isinstance(base, Mapping):
            if key == "outbound_prices":
                replaced = {k.lower() for k in value}
                merged[key] = {**{k: v for k, v in base.items() if k.lower() not in replaced}, **value}
            else:
                merged[key] = {**base, **value}
        else:
            merged[key] = value
    return merged


def _currency(path: str, data: Mapping) -> str:
    currency = data["currency"]
    if not isinstance(currency, str) or not currency.strip():
        raise TariffError(path, "currency", f"must be a currency code such as \"RUB\", not {money.show(currency)}")
    currency = currency.strip()
    if "minor_unit" in data:
        return currency                         # any code, with its minor unit given
    import iso4217

    try:
        known = iso4217.Currency(currency)
    except ValueError:
        raise TariffError(path, "currency", f"{money.show(currency)} is not an ISO 4217 currency code"
                          f"{_did_you_mean(currency.upper(), iso_codes())}; to use it anyway, give its decimals "
                          "as minor_unit") from None
    if known.exponent is None:
        raise TariffError(path, "currency", f"{currency!r} has no minor unit in ISO 4217; give its decimals as "
                          "minor_unit")
    return currency


def parse_tariff(data: Mapping, path: str = "<tariff>") -> Tariff:
    """A :class:`Tariff` from the parsed TOML document; every error names the field by its full
    path (``accounts."shop".outbound_prices.txet``)."""
    if not isinstance(data, Mapping):
        raise TariffError(path, None, f"a tariff must be a table of fields, not {type(data).__name__}")
    _check_keys(path, "", data)
    _refuse_unknown(path, "", data, _TOP_KEYS, "tariff field")
    for name in ("currency", "monthly_fee", "session_price", "outbound_prices"):
        if name not in data:
            raise TariffError(path, name, "is required")
    currency = _currency(path, data)
    top = _plan(data, path, "", currency, None)
    overrides = data.get("accounts", {})
    if not isinstance(overrides, Mapping) or not all(isinstance(v, Mapping) for v in overrides.values()):
        raise TariffError(path, "accounts", "must be a table of account overrides ([accounts.\"ID\"] tables), "
                          f"not {money.show(overrides)}")
    types = set(top.outbound_prices)
    plans: dict[str, Tariff] = {}
    for account, override in overrides.items():          # account ids are exact: no case or space folding
        prefix = _key_path("accounts", account)
        _check_keys(path, prefix, override)
        for name in ("currency", "accounts"):
            if name in override:
                raise TariffError(path, _key_path(prefix, name), "cannot be set in an account override "
                                  "(one currency per tariff; overrides do not nest)")
        _refuse_unknown(path, prefix, override, _PLAN_KEYS, "field of an account override")
        plans[account] = _plan(_merge(data, override), path, prefix, currency, types)
    return replace(top, accounts=MappingProxyType(plans))
