"""money: strict price syntax, exact arithmetic that traps instead of rounding, formatting that
never raises."""

import decimal
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from viber_sessions import BillingError, money

MAX_PRICE = "9" * 15 + "." + "9" * 10
SYNTAX = ('must be a decimal string of ASCII digits such as "1.20" (at most 15 digits before the point and '
          '10 after it), not ')


@pytest.mark.parametrize("text", ["0", "-0", "-0.00", "1", "1.20", "007.5", "0.0000000001", MAX_PRICE])
def test_parse_accepts_ascii_decimal_strings(text):
    value = money.parse(text)
    assert value == Decimal(text) and not value.is_signed()
    assert value.as_tuple().exponent == Decimal(text).as_tuple().exponent   # decimals as written


@pytest.mark.parametrize("value, message", [
    ("1_000", SYNTAX + "'1_000'"),
    ("\u0661\u0662\u0663", SYNTAX + "'\u0661\u0662\u0663'"),
    ("\uff11\uff12\uff13", SYNTAX + "'\uff11\uff12\uff13'"),
    ("1e999", SYNTAX + "'1e999'"),
    ("1e49", SYNTAX + "'1e49'"),
    ("1e-60", SYNTAX + "'1e-60'"),
    ("NaN", SYNTAX + "'NaN'"),
    ("Infinity", SYNTAX + "'Infinity'"),
    (" 1", SYNTAX + "' 1'"),
    ("1\n", SYNTAX + "'1\\n'"),
    ("5" * 50, "has more than 15 digits before the decimal point: '55555555555555555555'... (50 characters)"),
    ("1." + "0" * 11, "has more than 10 digits after the decimal point: '1.00000000000'"),
    ("-1", "must not be negative: '-1'"),
    ("-0.5", "must not be negative: '-0.5'"),
    (0.1, 'must be a decimal string such as "1.20", not the number 0.1'),
    (False, 'must be a decimal string such as "1.20", not the number False'),
    (None, "must be a decimal string, not NoneType"),
    (Decimal("1"), "must be a decimal string, not Decimal"),
])
def test_parse_refuses(value, message):
    with pytest.raises(money.MoneyError) as info:
        money.parse(value)
    assert str(info.value) == message


def test_context_traps_inexact_and_overflow():
    assert money.CONTEXT.prec == money.PRECISION == 60
    with pytest.raises(decimal.Inexact):
        money.CONTEXT.divide(Decimal(1), Decimal(3))
    with pytest.raises(decimal.Inexact):
        money.CONTEXT.add(Decimal("1" * 60), Decimal("0.1"))
    with pytest.raises(decimal.Overflow):
        money.CONTEXT.multiply(Decimal("1e999999"), Decimal(10))
    with pytest.raises(decimal.Inexact):                 # rounding on purpose does not use CONTEXT
        Decimal("0.125").quantize(Decimal("0.01"), context=money.CONTEXT)


def test_arithmetic_beyond_the_bounds_is_an_error_not_a_rounding():
    with pytest.raises(BillingError) as info:
        money.times(10**40 + 1, Decimal(MAX_PRICE))
    assert str(info.value) == ("an amount is too large to compute exactly (prices have at most 15 digits before "
                               "the point and 10 after it)")
    with pytest.raises(BillingError):
        money.total([Decimal("1" * 60), Decimal("0.1")])
    with pytest.raises(BillingError):
        money.diff(Decimal("1" * 60), Decimal("0.1"))


def tenth(units: int) -> Decimal:
    """``units`` x 10^-10, built from text (``scaleb`` would round to the thread context's 28 digits)."""
    return Decimal(f"{units // 10**10}.{units % 10**10:010d}")


def test_worst_case_amounts_stay_exact():
    price = Decimal(MAX_PRICE)
    units = 999999999999999_9999999999               # MAX_PRICE in 10^-10
    # ~10^12 messages at the largest price: 38 significant digits
    assert money.times(10**12, price) == tenth(units * 10**12)
    # a count no row counter can exceed (2**63 - 1), summed with others, and a difference
    big = money.times(2**63 - 1, price)
    assert big == tenth(units * (2**63 - 1))
    s = money.total([big, big, Decimal("0.0000000001")])
    assert s == tenth(units * (2**63 - 1) * 2 + 1)
    assert money.diff(s, big) == tenth(units * (2**63 - 1) + 1)
    with decimal.localcontext() as ctx:              # what the `-` operator would have done: rounded
        ctx.prec = 28
        assert s - big != money.diff(s, big)


def test_round_half_up_is_explicit():
    assert money.round_half_up(Decimal("0.125"), 2) == Decimal("0.13")
    assert money.round_half_up(Decimal("2.5"), 0) == Decimal("3")
    assert str(money.round_half_up(Decimal("5"), 2)) == "5.00"


@pytest.mark.parametrize("amount, places, text", [
    (Decimal("5"), 2, "5.00"),
    (Decimal("0.0125"), 2, "0.0125"),
    (Decimal("1" * 50), 2, "1" * 50 + ".00"),             # was decimal.InvalidOperation
    (Decimal("1" * 70), 10, "1" * 70 + "." + "0" * 10),
    (Decimal("1E+60"), 2, "1" + "0" * 60 + ".00"),
    (Decimal("-0.00"), 2, "0.00"),                        # never "-0.00"
    (Decimal("-0"), 0, "0"),
    (Decimal("-1.5"), 2, "-1.50"),
    (Decimal("1.23456789"), 2, "1.23456789"),             # never rounds
])
def test_fmt_pads_never_rounds_never_raises(amount, places, text):
    assert money.fmt(amount, places) == text


def _exact_text(units: int, decimals: int, places: int) -> str:
    """``units`` x 10^-decimals written with max(decimals, places) decimals, by integer arithmetic."""
    shown = max(decimals, places)
    scaled = units * 10 ** (shown - decimals)
    whole, frac = divmod(scaled, 10**shown)
    return f"{whole}.{frac:0{shown}d}" if shown else str(whole)


prices = st.tuples(st.text("0123456789", min_size=1, max_size=15),
                   st.one_of(st.none(), st.text("0123456789", min_size=1, max_size=10)))


@settings(max_examples=300, deadline=None)
@given(price=prices, count=st.integers(0, 2**63 - 1), places=st.integers(0, 10))
def test_fmt_of_any_accepted_price_times_any_count_is_exact(price, count, places):
    whole, frac = price
    text = whole if frac is None else f"{whole}.{frac}"
    unit = money.parse(text)
    decimals = 0 if frac is None else len(frac)
    units = int(whole + (frac or ""))
    amount = money.times(count, unit)
    assert money.fmt(amount, places) == _exact_text(units * count, decimals, places)
    assert money.fmt(money.total([amount, amount, unit]), places) == _exact_text(units * (2 * count + 1), decimals,
                                                                                   places)


# --- price plans: tax and the amount due (RULES.md section 10) --------------------------------------

def test_product_is_exact_for_the_largest_net_and_rate():
    net = money.round_half_up(money.times(2 ** 63 - 1, Decimal(MAX_PRICE)), 2)     # the largest possible net
    rate = Decimal("0.9999999999")
    units = int(net.scaleb(2, money.CONTEXT)) * 9999999999                         # in 10^-12, exactly
    assert money.product(net, rate) == Decimal(f"{units // 10 ** 12}.{units % 10 ** 12:012d}")
    assert money.product(Decimal("5004.81"), Decimal("0.22")) == Decimal("1101.0582")


def test_round_half_up_of_net_and_tax_on_half_a_minor_unit():
    assert money.round_half_up(Decimal("5004.805"), 2) == Decimal("5004.81")    # half-even would give .80
    assert money.round_half_up(Decimal("5004.8049999999"), 2) == Decimal("5004.80")
    assert money.round_half_up(Decimal("1007.5"), 0) == Decimal("1008")          # JPY
    assert money.round_half_up(Decimal("100.8"), 0) == Decimal("101")
    assert str(money.round_half_up(Decimal("3010"), 2)) == "3010.00"
