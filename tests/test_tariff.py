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


# --- issue 12: no silent harm in the tariff ------------------------------------------------------

import json                                 # noqa: E402
from pathlib import Path                    # noqa: E402

from click.testing import CliRunner         # noqa: E402

from viber_sessions import tariff as tariff_module   # noqa: E402
from viber_sessions.cli import cli          # noqa: E402

SYNTAX = ('must be a decimal string of ASCII digits such as "1.20" (at most 15 digits before the point and '
          '10 after it), not ')
TWIN = " up to case and surrounding spaces (one would silently override the other); keep one"
OK_TOML = 'currency = "RUB"\nmonthly_fee = "1"\nsession_price = "1"\n[outbound_prices]\ntext = "1"\n'
CASES = Path(__file__).parent / "cases"


def error_of(data, path="t.toml"):
    with pytest.raises(TariffError) as info:
        parse_tariff(data, path)
    return str(info.value)


@pytest.mark.parametrize("change, message", [
    ({"outbound_prices": {"text": "1", "TEXT": "2"}},
     "t.toml: field 'outbound_prices.TEXT': is the same key as 'outbound_prices.text'" + TWIN),
    ({"outbound_prices": {"text": "1", " text": "2"}},
     "t.toml: field 'outbound_prices.\" text\"': is the same key as 'outbound_prices.text'" + TWIN),
    ({"outbound_prices": {"Image ": "1", "image": "2"}},
     "t.toml: field 'outbound_prices.image': is the same key as 'outbound_prices.\"Image \"'" + TWIN),
    ({"outbound_prices": {"text": "1", "default": "1", "Default": "2"}},
     "t.toml: field 'outbound_prices.Default': is the same key as 'outbound_prices.default'" + TWIN),
    ({"CURRENCY": "EUR"}, "t.toml: field 'CURRENCY': is the same key as 'currency'" + TWIN),
    ({"limits": {"max_unanswered": 5, "Max_Unanswered": 3}},
     "t.toml: field 'limits.Max_Unanswered': is the same key as 'limits.max_unanswered'" + TWIN),
])
def test_keys_differing_by_case_or_spaces_are_refused_naming_both(change, message):
    assert error_of({**BASE, **change}) == message


@pytest.mark.parametrize("change, message", [
    # refused, not normalised: a key with surrounding spaces is a typo, and it would shadow its twin
    ({"outbound_prices": {" text": "1"}},
     "t.toml: field 'outbound_prices.\" text\"': ' text' has leading or trailing spaces; remove them"),
    ({"outbound_prices": {"text\t": "1"}},
     "t.toml: field 'outbound_prices.\"text\\t\"': 'text\\t' has leading or trailing spaces; remove them"),
    ({"outbound_prices": {"te\u200bxt": "1"}},
     "t.toml: field 'outbound_prices.\"te\\u200bxt\"': 'te\\u200bxt' holds the invisible character U+200B; "
     "remove it"),
    ({"outbound_prices": {"": "1"}}, "t.toml: field 'outbound_prices.\"\"': an empty key is not allowed"),
    ({"outbound_prices": {"  ": "1"}}, "t.toml: field 'outbound_prices.\"  \"': a key of spaces only is not allowed"),
    ({" limits": {}}, "t.toml: field '\" limits\"': ' limits' has leading or trailing spaces; remove them"),
    ({"limits": {"window_hours ": 3}},
     "t.toml: field 'limits.\"window_hours \"': 'window_hours ' has leading or trailing spaces; remove them"),
])
def test_keys_with_spaces_or_invisible_characters_are_refused(change, message):
    assert error_of({**BASE, **change}) == message


def test_key_checks_apply_to_toml_files(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text(OK_TOML + 'TEXT = "2"\n')
    with pytest.raises(TariffError) as info:
        load_tariff(p)
    assert str(info.value) == f"{p}: field 'outbound_prices.TEXT': is the same key as 'outbound_prices.text'" + TWIN
    p.write_text(OK_TOML + '" video" = "2"\n')
    with pytest.raises(TariffError, match="^" + f"{p}: field 'outbound_prices.\" video\"': ' video' has leading"):
        load_tariff(p)


LIST = 'must be a list of names such as ["image"]'


@pytest.mark.parametrize("name", ["non_opening_types", "session_types", "unbilled_statuses"])
@pytest.mark.parametrize("value, message", [
    (["text", "TEXT"], "'text' and 'TEXT' differ only by case (names ignore case); list each name once"),
    (["image", "Image"], "'image' and 'Image' differ only by case (names ignore case); list each name once"),
    (["text", "text"], "'text' is listed twice; list each name once"),
    (["text", " text"], LIST + ": ' text' has leading or trailing spaces; remove them"),
    ([" text"], LIST + ": ' text' has leading or trailing spaces; remove them"),
    ([""], LIST + ": an empty name is not allowed"),
    (["   "], LIST + ": a name of spaces only is not allowed"),
    (["text", 3], LIST + ": 3 is not a name (a string)"),
    (["text", ["image"]], LIST + ": ['image'] is not a name (a string)"),
    (["fa\u200biled"], LIST + ": 'fa\\u200biled' holds the invisible character U+200B; remove it"),
    ("text", LIST + ", not 'text'"),
    ({"text": 1}, LIST + ", not {'text': 1}"),
])
def test_type_lists_are_lists_of_distinct_non_empty_names(name, value, message):
    assert error_of({**BASE, "limits": {name: value}}) == f"t.toml: field 'limits.{name}': {message}"


def test_type_lists_are_lowercased_and_may_be_empty():
    limits = parse_tariff({**BASE, "limits": {"session_types": ["Text", "IMAGE"], "non_opening_types": [],
                                              "unbilled_statuses": ["Failed"]}}).limits
    assert limits.session_types == frozenset({"text", "image"})
    assert limits.non_opening_types == frozenset()
    assert limits.unbilled_statuses == frozenset({"failed"})


@pytest.mark.parametrize("value, message", [
    ("1_000", SYNTAX + "'1_000'"),
    ("\u0661\u0662\u0663", SYNTAX + "'\u0661\u0662\u0663'"),          # Arabic-Indic digits
    ("\uff11\uff12\uff13", SYNTAX + "'\uff11\uff12\uff13'"),          # full-width digits
    ("1e999", SYNTAX + "'1e999'"),
    ("1e49", SYNTAX + "'1e49'"),
    ("1e-60", SYNTAX + "'1e-60'"),
    ("1E3", SYNTAX + "'1E3'"),
    ("NaN", SYNTAX + "'NaN'"),
    ("sNaN", SYNTAX + "'sNaN'"),
    ("Infinity", SYNTAX + "'Infinity'"),
    ("-Infinity", SYNTAX + "'-Infinity'"),
    (" 1", SYNTAX + "' 1'"),
    ("1 ", SYNTAX + "'1 '"),
    ("1\n", SYNTAX + "'1\\n'"),
    ("+1", SYNTAX + "'+1'"),
    ("1.", SYNTAX + "'1.'"),
    (".5", SYNTAX + "'.5'"),
    ("1,50", SYNTAX + "'1,50'"),
    ("", SYNTAX + "''"),
    ("1" * 50, "has more than 15 digits before the decimal point: '11111111111111111111'... (50 characters)"),
    ("1" * 16, "has more than 15 digits before the decimal point: '1111111111111111'"),
    ("0.12345678901", "has more than 10 digits after the decimal point: '0.12345678901'"),
    ("-1", "must not be negative: '-1'"),
    ("-0.01", "must not be negative: '-0.01'"),
    ("-1e3", SYNTAX + "'-1e3'"),
    (1.2, 'must be a decimal string such as "1.20", not the number 1.2'),
    (float("nan"), 'must be a decimal string such as "1.20", not the number nan'),
    (True, 'must be a decimal string such as "1.20", not the number True'),
    (-3, 'must be a decimal string such as "-3.00", not the number -3'),
    (10**20, 'must be a decimal string such as "100000000000000000000.00", not the number 100000000000000000000'),
    (5, 'must be a decimal string such as "5.00", not the number 5'),  # every price is written one way
    (["1"], "must be a decimal string, not list"),
])
def test_prices_are_bounded_ascii_decimal_strings(value, message):
    assert error_of({**BASE, "session_price": value}) == f"t.toml: field 'session_price': {message}"
    assert error_of({**BASE, "outbound_prices": {"Text": value}}) == f"t.toml: field 'outbound_prices.Text': {message}"


@pytest.mark.parametrize("value, expected", [
    ("-0", "0"), ("-0.00", "0.00"), ("-000", "0"), ("0", "0"), ("007.50", "7.50"),
    ("9" * 15 + "." + "9" * 10, "9" * 15 + "." + "9" * 10),
    ("0.0000000001", "0.0000000001"),
])
def test_accepted_prices(value, expected):
    price = parse_tariff({**BASE, "monthly_fee": value}).monthly_fee
    assert f"{price:f}" == expected and not price.is_signed()


def test_toml_floats_stay_refused(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text(OK_TOML.replace('session_price = "1"', "session_price = 1.5"))
    with pytest.raises(TariffError) as info:
        load_tariff(p)
    assert str(info.value) == f'{p}: field \'session_price\': must be a decimal string such as "1.20", not the number 1.5'
    p.write_text(OK_TOML.replace('session_price = "1"', "session_price = inf"))
    with pytest.raises(TariffError, match="not the number inf$"):
        load_tariff(p)


def test_largest_prices_are_billed_and_formatted_exactly():
    big = "9" * 15 + "." + "9" * 10
    t = parse_tariff({**BASE, "monthly_fee": big, "session_price": big, "outbound_prices": {"text": big}})
    assert t.places == 10
    amount = money.total([t.monthly_fee, money.times(10**12, t.session_price), money.times(10**12, t.session_price)])
    want = 999999999999999_9999999999 * (2 * 10**12 + 1)             # in units of 10^-10, exactly
    assert money.fmt(amount, t.places) == f"{want // 10**10}.{want % 10**10:010d}"


HOURS = "must be at most 87600 hours (10 years), not "
FINITE = "must be a finite number of hours from 1 to 87600 (10 years), not "


@pytest.mark.parametrize("toml_value, message", [
    ("nan", FINITE + "nan"),
    ("inf", FINITE + "inf"),
    ("-inf", FINITE + "-inf"),
    ("1e308", HOURS + "1e+308"),
    ("3000000", HOURS + "3000000"),
    ("87600.5", HOURS + "87600.5"),
    ("9" * 400, HOURS + "a number of about 400 digits"),
    ("0", "must be at least 1, not 0"),
    ("0.5", "must be at least 1, not 0.5"),
    ("-24", "must be at least 1, not -24"),
    ("true", "must be a number of hours from 1 to 87600 (10 years), not True"),
    ('"24"', "must be a number of hours from 1 to 87600 (10 years), not '24'"),
])
def test_window_hours_bounds(tmp_path, toml_value, message):
    p = tmp_path / "t.toml"
    p.write_text(OK_TOML + f"[limits]\nwindow_hours = {toml_value}\n")
    with pytest.raises(TariffError) as info:
        load_tariff(p)
    assert str(info.value) == f"{p}: field 'limits.window_hours': {message}"


@pytest.mark.parametrize("toml_value, hours, ns", [
    ("1", 1, 3_600_000_000_000),
    ("1.5", 1.5, 5_400_000_000_000),            # fractional hours stay accepted
    ("1.1", 1.1, 3_960_000_000_000),            # exactly as written, not 3960000000000.0005
    ("24.0", 24.0, 86_400_000_000_000),
    ("87600", 87600, 315_360_000_000_000_000),
    ("87600.0", 87600.0, 315_360_000_000_000_000),
])
def test_window_hours_accepted_as_int_or_float(tmp_path, toml_value, hours, ns):
    p = tmp_path / "t.toml"
    p.write_text(OK_TOML + f"[limits]\nwindow_hours = {toml_value}\n")
    limits = load_tariff(p).limits
    assert limits.window_hours == hours and type(limits.window_hours) is type(hours)
    assert limits.window_ns == ns and type(limits.window_ns) is int


def test_window_ns_cannot_overflow_int64():
    last_valid_instant = 4_102_444_800 * 10**9          # 2100-01-01T00:00:00Z, the end of valid instants
    assert last_valid_instant + Limits(window_hours=87600).window_ns < 2**63 - 1


@pytest.mark.parametrize("name", ["max_business_messages", "max_unanswered"])
@pytest.mark.parametrize("toml_value, message", [
    ("100000000000000000000", "must be at most 1000000000 (10^9), not 100000000000000000000"),
    ("1000000001", "must be at most 1000000000 (10^9), not 1000000001"),
    ("0", "must be at least 1, not 0"),
    ("-5", "must be at least 1, not -5"),
    ("2.0", "must be a whole number from 1 to 1000000000, not 2.0"),
    ("nan", "must be a whole number from 1 to 1000000000, not nan"),
    ("true", "must be a whole number from 1 to 1000000000, not True"),
    ('"5"', "must be a whole number from 1 to 1000000000, not '5'"),
])
def test_count_limits_bounds(tmp_path, name, toml_value, message):
    p = tmp_path / "t.toml"
    p.write_text(OK_TOML + f"[limits]\n{name} = {toml_value}\n")
    with pytest.raises(TariffError) as info:
        load_tariff(p)
    assert str(info.value) == f"{p}: field 'limits.{name}': {message}"


def test_count_limits_at_the_bounds_are_accepted():
    limits = parse_tariff({**BASE, "limits": {"max_business_messages": 10**9, "max_unanswered": 1}}).limits
    assert (limits.max_business_messages, limits.max_unanswered) == (10**9, 1)


@pytest.mark.parametrize("change, message", [
    ({"window_hours": float("inf")}, "<limits>: field 'window_hours': " + FINITE + "inf"),
    ({"window_hours": 1e308}, "<limits>: field 'window_hours': " + HOURS + "1e+308"),
    ({"window_hours": 0}, "<limits>: field 'window_hours': must be more than 0 hours, not 0"),
    ({"max_unanswered": 10**20},
     "<limits>: field 'max_unanswered': must be at most 1000000000 (10^9), not 100000000000000000000"),
    ({"max_business_messages": 0}, "<limits>: field 'max_business_messages': must be at least 1, not 0"),
    ({"after_message_limit": "stop"}, "<limits>: field 'after_message_limit': must be \"new_session\" or \"close\", "
                                      "not 'stop'"),
])
def test_limits_built_in_code_are_checked_too(change, message):
    """What-if limits (``compare --window-hours``) and the Python API cannot reach the engine with
    values that overflow it."""
    with pytest.raises(TariffError) as info:
        Limits().replace(**change)
    assert str(info.value) == message
    assert Limits(window_hours=0.5).window_ns == 1_800_000_000_000     # the engine itself takes any positive size


def test_unreadable_tariff_files_give_one_line(tmp_path, monkeypatch):
    def message(path):
        with pytest.raises(TariffError) as info:
            load_tariff(path)
        assert len(str(info.value).splitlines()) == 1
        return str(info.value)

    deep = tmp_path / "deep.toml"
    deep.write_text(OK_TOML + "[limits]\nsession_types = " + "[" * 5000 + "]" * 5000 + "\n")
    assert message(deep) == f"{deep}: not valid TOML (arrays or tables nested too deeply)"
    deep.write_text("a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\n")
    assert message(deep) == f"{deep}: not valid TOML (arrays or tables nested too deeply)"
    big_int = tmp_path / "big_int.toml"
    big_int.write_text(OK_TOML + "[limits]\nmax_unanswered = " + "9" * 5000 + "\n")
    assert message(big_int) == f"{big_int}: not valid TOML (a number with too many digits)"
    bad = tmp_path / "bad.toml"
    bad.write_text("currency = \n")
    assert message(bad) == f"{bad}: not valid TOML (Invalid value (at line 1, column 12))"
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(OK_TOML.replace("RUB", "R\xe9B").encode("latin-1"))
    assert message(latin1) == f"{latin1}: is not UTF-8 text (byte 0xe9 at offset 13); save it as UTF-8"
    assert message(tmp_path) == f"{tmp_path}: is a directory, not a tariff file"
    assert message(tmp_path / "missing.toml") == f"{tmp_path / 'missing.toml'}: no such tariff file"
    assert message(bad / "x.toml") == f"{bad / 'x.toml'}: cannot read the tariff file (Not a directory)"
    assert message(tmp_path / "a\nb.toml") == repr(str(tmp_path / "a\nb.toml")) + ": no such tariff file"
    huge = tmp_path / "huge.toml"
    huge.write_text(OK_TOML + "#" + "x" * 2000 + "\n")
    monkeypatch.setattr(tariff_module.files, "MAX_TARIFF_BYTES", 1024)   # read where the file is read
    assert message(huge) == f"{huge}: is larger than 1024 bytes: not a tariff file"
    monkeypatch.undo()
    huge.write_text(OK_TOML + "#" + "x" * (16 * 1024 * 1024) + "\n")
    assert message(huge) == f"{huge}: is larger than 16 MiB: not a tariff file"
    if Path("/dev/zero").exists():                      # endless: read no further than the bound
        assert message("/dev/zero") == "/dev/zero: is larger than 16 MiB: not a tariff file"


def test_a_byte_order_mark_is_not_content(tmp_path):
    p = tmp_path / "t.toml"
    p.write_bytes(b"\xef\xbb\xbf" + OK_TOML.encode())
    assert load_tariff(p).currency == "RUB"


@pytest.mark.parametrize("tariff_text, message", [
    (OK_TOML + 'TEXT = "2"\n', "field 'outbound_prices.TEXT': is the same key as 'outbound_prices.text'" + TWIN),
    (OK_TOML.replace('session_price = "1"', 'session_price = "1e999"'), "field 'session_price': " + SYNTAX + "'1e999'"),
    (OK_TOML + "[limits]\nwindow_hours = nan\n", "field 'limits.window_hours': " + FINITE + "nan"),
    (OK_TOML + "[limits]\nmax_unanswered = 100000000000000000000\n",
     "field 'limits.max_unanswered': must be at most 1000000000 (10^9), not 100000000000000000000"),
    (OK_TOML + "x = " + "[" * 5000 + "]" * 5000 + "\n", "not valid TOML (arrays or tables nested too deeply)"),
])
def test_cli_reports_a_bad_tariff_in_one_line(tmp_path, tariff_text, message):
    p = tmp_path / "t.toml"
    p.write_text(tariff_text)
    r = CliRunner().invoke(cli, ["invoice", str(CASES / "invoice" / "messages.csv"), "--tariff", str(p),
                                 "--period", "2026-10"])
    assert r.exit_code == 1 and r.stderr == f"error: {p}: {message}\n" and "Traceback" not in r.output


def test_cli_bills_the_largest_prices_without_a_traceback(tmp_path):
    big = "9" * 15 + "." + "9" * 10
    p = tmp_path / "t.toml"
    p.write_text(f'currency = "RUB"\nmonthly_fee = "{big}"\nsession_price = "{big}"\n[outbound_prices]\n'
                 f'default = "{big}"\n')
    r = CliRunner().invoke(cli, ["invoice", str(CASES / "invoice" / "messages.csv"), "--tariff", str(p),
                                 "--period", "2026-10", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    units = lambda text: int(text.replace(".", ""))           # noqa: E731 - amounts in 10^-10, exactly
    for account in doc["accounts"]:
        count = 1 + account["sessions"]["count"] + sum(
            line["count"] for line in account["out_of_session"] if line["direction"] == "outbound")
        assert units(account["total"]) == count * units(big)
    assert units(doc["total"]) == sum(units(a["total"]) for a in doc["accounts"])


# --- price plans (README "The tariff file": Price plans) ------------------------------------------------

def test_a_tariff_without_plan_keys_keeps_its_meaning():
    t = parse_tariff(BASE)
    assert (t.minimum_monthly_charge, t.tax_rate, t.minor_unit, t.decimals, t.sessions) == (0, 0, None, 2, True)
    assert (t.zones, dict(t.accounts), t.has_zones, t.plan("anyone")) == ((), {}, False, t)
    assert t.places == 2 and t.unit_price("outbound", "text") == Decimal("0.85")


def test_places_cover_every_plan_and_zone_and_the_minor_unit():
    zones = [{"name": "Z", "countries": ["KZ"], "outbound_prices": {"text": "0.1234"}}]
    assert parse_tariff({**BASE, "zones": zones}).places == 4
    assert parse_tariff({**BASE, "accounts": {"a": {"session_price": "0.001"}}}).places == 3
    assert parse_tariff({**BASE, "minimum_monthly_charge": "0.00001"}).places == 5
    assert parse_tariff({**BASE, "currency": "KWD"}).places == 3
    assert parse_tariff({**BASE, "currency": "JPY", "monthly_fee": "5000", "session_price": "1",
                         "outbound_prices": {"text": "2"}}).places == 0


def test_a_tariff_without_zones_is_read_without_phonenumbers():
    """phonenumbers (which knows the zones' countries) is imported only for a tariff with zones:
    its import is a hundredth of a second of every run's start otherwise."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    code = ("import sys; from viber_sessions.tariff import load_tariff; load_tariff({!r}); "
            "print('phonenumbers' in sys.modules)")
    shown = [subprocess.run([sys.executable, "-c", code.format(path)], capture_output=True, text=True, check=True,
                            cwd=root).stdout.strip()
             for path in ("sample_data/tariff.toml", "tests/cases/invoice/tariff-plans.toml")]
    assert shown == ["False", "True"]
