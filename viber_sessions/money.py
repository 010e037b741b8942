"""Decimal discipline in one place: parsing, arithmetic and formatting of money.

Prices come from the tariff as decimal strings and stay :class:`decimal.Decimal` up to the
output, where they are written as strings. No binary float ever holds an amount.

Bounds (DECISIONS "Price plans"): a price is ASCII ``^[0-9]+(\\.[0-9]+)?$`` with at most
:data:`MAX_INTEGER_DIGITS` digits before the point and :data:`MAX_DECIMALS` after it, so it has
at most 25 significant digits. Amounts are sums of count x price; every count is below 2**63
(a row count), so an amount stays below 2**63 x 10**15 < 10**35 with at most 10 decimals:
45 significant digits, 46 for the difference of two amounts. :data:`CONTEXT` computes with
:data:`PRECISION` digits and *traps* ``Inexact`` and ``Overflow``: arithmetic that would have
to round raises instead of rounding silently; with the bounds above it never does.
Deliberate rounding (minor units, tax) goes through :func:`round_half_up`, never through
``CONTEXT``.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

from .errors import BillingError

MAX_INTEGER_DIGITS = 15
MAX_DECIMALS = 10
PRECISION = 60

CONTEXT = decimal.Context(prec=PRECISION, rounding=decimal.ROUND_HALF_EVEN,
                          traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow,
                                 decimal.Inexact])

# Rounding on purpose (to a currency's minor unit, tax): same precision, no Inexact trap.
_ROUNDING = decimal.Context(prec=PRECISION, rounding=decimal.ROUND_HALF_UP,
                            traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])

_PRICE = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?", re.ASCII)
_SYNTAX = (f"must be a decimal string of ASCII digits such as \"1.20\" (at most {MAX_INTEGER_DIGITS} digits "
           f"before the point and {MAX_DECIMALS} after it)")


class MoneyError(ValueError):
    pass


def show(value: object, limit: int = 40) -> str:
    """``repr`` of a value for a one-line message, cut to about ``limit`` characters."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit // 2]!r}... ({len(value)} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 3 * limit:
        return f"a number of about {int(value.bit_length() * 0.30103)} digits"
    try:
        text = repr(value)
    except RecursionError:                      # pragma: no cover - deeply nested containers
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[:limit]}... ({type(value).__name__})"


def parse(value: object) -> Decimal:
    """A price: an ASCII decimal string ``^[0-9]+(\\.[0-9]+)?$``, at most 15 digits before the
    point and 10 after. ``"-0"`` (``"-0.00"``) is zero; other negative values, exponents, signs,
    spaces, underscores, non-ASCII digits, ``NaN`` and ``Infinity`` are refused. An ``int`` is
    read as its decimal string (with the same bounds); a ``float`` never is."""
    if isinstance(value, bool) or isinstance(value, float):
        raise MoneyError(f"must be a decimal string such as \"1.20\", not the number {show(value)}")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise MoneyError(f"must be a decimal string, not {type(value).__name__}")
    match = _PRICE.fullmatch(value)
    if match is None:
        raise MoneyError(f"{_SYNTAX}, not {show(value)}")
    sign, whole, fraction = match.groups()
    if len(whole) > MAX_INTEGER_DIGITS:
        raise MoneyError(f"has more than {MAX_INTEGER_DIGITS} digits before the decimal point: {show(value)}")
    if fraction is not None and len(fraction) > MAX_DECIMALS:
        raise MoneyError(f"has more than {MAX_DECIMALS} digits after the decimal point: {show(value)}")
    amount = Decimal(value[len(sign):])
    if sign and amount != 0:
        raise MoneyError(f"must not be negative: {show(value)}")
    return amount                               # "-0.00" is Decimal("0.00"): no sign is kept


def _exact(operation, *args) -> Decimal:
    try:
        return operation(*args)
    except (decimal.Inexact, decimal.Overflow):
        raise BillingError("an amount is too large to compute exactly (prices have at most "
                           f"{MAX_INTEGER_DIGITS} digits before the point and {MAX_DECIMALS} after it)") from None


def times(count: int, unit: Decimal) -> Decimal:
    """``count`` messages or sessions at ``unit`` each, exactly."""
    return _exact(CONTEXT.multiply, Decimal(int(count)), unit)


def total(amounts) -> Decimal:
    """Exact sum of Decimal amounts."""
    result = Decimal(0)
    for amount in amounts:
        result = _exact(CONTEXT.add, result, amount)
    return result


def product(a: Decimal, b: Decimal) -> Decimal:
    """``a x b``, exactly (a net amount times a tax rate: at most 37 + 10 significant digits)."""
    return _exact(CONTEXT.multiply, a, b)


def diff(a: Decimal, b: Decimal) -> Decimal:
    """``a - b``, exactly (the ``-`` operator uses the thread's context: 28 digits, rounding)."""
    return _exact(CONTEXT.subtract, a, b)


def round_half_up(amount: Decimal, places: int) -> Decimal:
    """``amount`` rounded half-up to ``places`` decimals, on purpose (README, "The tariff file")."""
    return _ROUNDING.quantize(amount, Decimal(1).scaleb(-int(places)))


def fmt(amount: Decimal, places: int) -> str:
    """An amount as a string with at least ``places`` decimals (never fewer digits than exact).

    Only pads with zeros, never rounds, and never raises, whatever the size of ``amount``."""
    if amount.is_zero() and amount.is_signed():
        amount = amount.copy_abs()              # never "-0.00"
    places = max(0, int(places))
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent < places:
        return format(amount, f".{places}f")    # padding only: the value has fewer decimals
    return format(amount, "f")
