"""The tariff file: Decimal prices, defaults, and errors that name the field."""

from decimal import Decimal

import pytest

from viber_sessions import Limits, TariffError, load_tariff, parse_tariff
from viber_sessions import money

BASE = {"currency": "RUB", "monthly_fee": "5000.00", "session_price": "1.20", "outbound_prices": {"text": "0.85"}}


def test_minimal_tariff_has_rules_defaults():
    t = parse_tariff(BASE)
    assert t.monthly_fee == Decimal("5000.00") and isinstance(t.session_price, Decimal)
    assert t.inbound_price == Decimal(0)
    assert t.limits == Limits()
    assert t.limits.window_ns == 24 * 3600 * 10**9
    assert t.outbound_price("video") is None


def test_full_tariff(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text('currency = "EUR"\nmonthly_fee = "10"\nsession_price = "0.0125"\ninbound_price = "0.01"\n'
                 '[outbound_prices]\nText = "0.85"\ndefault = "1.50"\n'
                 '[limits]\nwindow_hours = 12\nmax_business_messages = 30\nmax_unanswered = 5\n'
                 'non_opening_types = ["image", "video"]\nsession_types = ["text"]\n'
                 'after_message_limit = "close"\nunbilled_statuses = ["failed"]\n')
    t = load_tariff(p)
    assert t.outbound_price("text") == Decimal("0.85")          # type names are case-insensitive
    assert t.outbound_price("sticker") == Decimal("1.50")       # the default price
    assert t.places == 4
    assert t.limits == Limits(window_hours=12, max_business_messages=30, max_unanswered=5,
                              non_opening_types=frozenset({"image", "video"}), session_types=frozenset({"text"}),
                              after_message_limit="close", unbilled_statuses=frozenset({"failed"}))


@pytest.mark.parametrize("change, field", [
    ({"monthly_fee": None}, "monthly_fee"),
    ({"currency": None}, "currency"),
    ({"outbound_prices": None}, "outbound_prices"),
    ({"session_price": 1.2}, "session_price"),
    ({"session_price": "-1"}, "session_price"),
    ({"session_price": "abc"}, "session_price"),
    ({"outbound_prices": {"text": "x"}}, "outbound_prices.text"),
    ({"limits": {"max_unanswered": 0}}, "limits.max_unanswered"),
    ({"limits": {"window_hours": 0}}, "limits.window_hours"),
    ({"limits": {"after_message_limit": "stop"}}, "limits.after_message_limit"),
    ({"limits": {"session_types": "text"}}, "limits.session_types"),
    ({"limits": {"max_unanswred": 3}}, "limits.max_unanswred"),
    ({"session_prise": "1"}, "session_prise"),
])
def test_errors_name_the_field(change, field):
    data = {**BASE, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(TariffError) as info:
        parse_tariff(data, "t.toml")
    assert f"t.toml: field {field!r}" in str(info.value)


def test_unreadable_tariff_files(tmp_path):
    with pytest.raises(TariffError, match="no such tariff file"):
        load_tariff(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("currency = \n")
    with pytest.raises(TariffError, match="not valid TOML"):
        load_tariff(bad)


def test_money_is_exact():
    assert money.times(3, Decimal("0.1")) == Decimal("0.3")
    assert money.total([Decimal("0.1")] * 10) == Decimal("1.0")
    assert money.fmt(Decimal("5"), 2) == "5.00"
    assert money.fmt(Decimal("0.0125"), 2) == "0.0125"
    with pytest.raises(money.MoneyError):
        money.parse(0.1)
