"""The tariff file (README, "The tariff file"): a frozen, validated object with Decimal prices.

Nothing in a tariff is read silently wrong: keys (field names, message types, list items) that
differ only by case or surrounding spaces would override each other, so they are refused with
both names; a key with leading or trailing spaces, or with an invisible (control or format)
character, is refused too (it is never normalised). Prices follow :func:`money.parse`; limits
have bounds (:data:`MAX_WINDOW_HOURS`, :data:`MAX_COUNT`) and every message says them.

The package: :mod:`.model` (Limits, Zone, Tariff), :mod:`.parse` (TOML data to a Tariff),
:mod:`.files` (reading the file). Every name is importable from ``viber_sessions.tariff``.
"""

from .files import MAX_TARIFF_BYTES, load_tariff, read_tariff_text
from .model import (AFTER_MESSAGE_LIMIT, DEFAULT_UNBILLED_STATUSES, MAX_COUNT, MAX_WINDOW_HOURS, Limits, Tariff,
                    Zone, count_problem, iso_codes, iso_minor_unit, window_problem)
from .parse import MAX_MINOR_UNIT, parse_limits, parse_tariff

__all__ = ["AFTER_MESSAGE_LIMIT", "DEFAULT_UNBILLED_STATUSES", "MAX_COUNT", "MAX_MINOR_UNIT", "MAX_TARIFF_BYTES",
           "MAX_WINDOW_HOURS", "Limits", "Tariff", "Zone", "count_problem", "iso_codes", "iso_minor_unit",
           "load_tariff", "parse_limits", "parse_tariff", "read_tariff_text", "window_problem"]
