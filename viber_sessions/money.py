"""Decimal discipline in one place: parsing, arithmetic and formatting of money.

Prices come from the tariff as decimal strings and stay :class:`decimal.Decimal` up to the
output, where they are written as strings. No binary float ever holds an amount.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

# Plenty of digits: amounts are sums of (count x unit price) and never need rounding.
CONTEXT = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN,
                          traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])


class MoneyError(ValueError):
    pass


def parse(value: object) -> Decimal:
    """A price from a tariff: a decimal *string* (an int is accepted; a float never is)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise MoneyError(f"must be a decimal string such as \"1.20\", not the number {value!r}")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise MoneyError(f"must be a decimal string, not {type(value).__name__}")
    text = value.strip()
    try:
        amount = Decimal(text)
    except decimal.InvalidOperation:
        raise MoneyError(f"is not a decimal number: {value!r}") from None
    if not amount.is_finite():
        raise MoneyError(f"is not a finite decimal number: {value!r}")
    if amount < 0:
        raise MoneyError(f"must not be negative: {value!r}")
    return amount


def times(count: int, unit: Decimal) -> Decimal:
    """``count`` messages or sessions at ``unit`` each, exactly."""
    return CONTEXT.multiply(Decimal(int(count)), unit)


def total(amounts) -> Decimal:
    """Exact sum of Decimal amounts."""
    result = Decimal(0)
    for amount in amounts:
        result = CONTEXT.add(result, amount)
    return result


def fmt(amount: Decimal, places: int) -> str:
    """An amount as a string with at least ``places`` decimals (never fewer digits than exact)."""
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent < places:
        amount = amount.quantize(Decimal(1).scaleb(-places), context=CONTEXT)
    return f"{amount:f}"
