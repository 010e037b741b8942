"""Price plans (README, "The tariff file"): account overrides, zones by the subscriber's country,
per-account limits and sessions switch, minimum charge, tax and rounding, on every engine."""

from __future__ import annotations

import csv
import io
import json
import random
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import viber_sessions as vs
from viber_sessions import billing
from viber_sessions import countries, render, tables
from viber_sessions.billing import Tally, price, tally
from viber_sessions.cli import cli
from viber_sessions.compare import Variant, compare, comparison_dict
from viber_sessions.errors import BillingError, TariffError
from viber_sessions.tariff import Limits, iso_minor_unit, parse_tariff

HERE = Path(__file__).parent
CASES = HERE / "cases" / "invoice"
PLANS = CASES / "tariff-plans.toml"
OCT = vs.Period.parse("2026-10", "UTC")
BASE = {"currency": "RUB", "monthly_fee": "5000.00", "session_price": "1.20", "outbound_prices": {"text": "0.85"}}



def readme_example() -> str:
    """The worked example of the README, section "The tariff file" (Price plans)."""
    text = (HERE.parent / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Price plans"):]
    return section[section.index("```toml\n") + 8:section.index("```\n", section.index("```toml\n") + 8)]


README_TARIFF = readme_example()


def tariff_of(text: str, name: str = "t.toml"):
    import tomllib
    return parse_tariff(tomllib.loads(text), name)


def log_of(rows: list[tuple]) -> vs.MessageLog:
    """rows: (message_id, minute of 2026-10-05, business, subscriber, direction, type)."""
    table = pa.table({
        "message_id": [r[0] for r in rows],
        "timestamp": [f"2026-10-05T{9 + r[1] // 60:02d}:{r[1] % 60:02d}:00Z" for r in rows],
        "business_id": [r[2] for r in rows], "subscriber_id": [r[3] for r in rows],
        "direction": [r[4] for r in rows], "message_type": [r[5] for r in rows]})
    return vs.from_table(table)


def bill(log, tariff, period=OCT, accounts=None):
    return billing.bill(vs.segment(log, tariff), tariff, period, accounts)


def lines(inv, account):
    a = next(a for a in inv.accounts if a.business_id == account)
    return [(l.direction, l.message_type, l.zone, l.count, f"{l.unit_price}") for l in a.out_of_session]


# --- the tariff file ---------------------------------------------------------------------------

def test_readme_example_parses_and_overrides_merge_key_by_key():
    t = tariff_of(README_TARIFF)
    shop = t.plan("shop")
    assert t.plan("bank") is t
    assert (shop.session_price, shop.monthly_fee, shop.minimum_monthly_charge, shop.tax_rate) == (
        Decimal("0.95"), Decimal("5000.00"), Decimal("0"), Decimal("0.22"))
    assert dict(shop.outbound_prices) == {"image": Decimal("1.10"), "text": Decimal("0.70")}   # merged by type
    assert shop.limits == Limits(max_unanswered=5)                                             # merged by key
    assert shop.zones == t.zones and t.zones[0].countries == {"KZ", "UZ", "KG"}                 # inherited
    assert (t.minimum_monthly_charge, t.decimals, t.places) == (Decimal("3000.00"), 2, 2)


def test_override_merges_tables_and_replaces_other_values():
    t = parse_tariff({**BASE, "outbound_prices": {"Text": "0.85", "image": "1", "default": "2"},
                      "limits": {"window_hours": 12, "session_types": ["text"]},
                      "zones": [{"name": "KZ", "countries": ["KZ"], "outbound_prices": {"text": "3"}}],
                      "accounts": {"a": {"outbound_prices": {"TEXT": "0.5"}, "limits": {"session_types": ["image"]},
                                         "zones": [], "sessions": False},
                                   "b/c ": {"monthly_fee": "1"}}})
    a = t.plan("a")
    assert dict(a.outbound_prices) == {"image": Decimal(1), "text": Decimal("0.5")} and a.default_outbound_price == 2
    assert a.limits == Limits(window_hours=12, session_types=frozenset({"image"}))
    assert a.zones == () and a.sessions is False and t.sessions is True
    assert t.plan("b/c ").monthly_fee == 1 and t.plan("b/c") is t          # account ids are exact
    assert t.has_zones and not a.has_zones


@pytest.mark.parametrize("change, message", [
    ({"accounts": {"shop": {"outbound_prices": {"txet": "1"}}}},
     "t.toml: field 'accounts.shop.outbound_prices.txet': is not a message type of the top-level [outbound_prices] "
     "(did you mean 'text'?); a type is priced here only when the top-level table lists it (add it there first)"),
    ({"accounts": {"my shop": {"limits": {"max_unanswred": 5}}}},
     "t.toml: field 'accounts.\"my shop\".limits.max_unanswred': is not a known limit (did you mean 'max_unanswered'?) "
     "(known: after_message_limit, max_business_messages, max_unanswered, non_opening_types, session_types, "
     "unbilled_statuses, window_hours)"),
    ({"accounts": {"shop": {"session_prise": "1"}}},
     "t.toml: field 'accounts.shop.session_prise': is not a known field of an account override (did you mean "
     "'session_price'?)"),
    ({"accounts": {"shop": {"currency": "EUR"}}},
     "t.toml: field 'accounts.shop.currency': cannot be set in an account override"),
    ({"accounts": {"shop": {"zones": [{"name": "X", "countries": ["KZ"], "outbound_prices": {"vidoe": "1"}}]}}},
     "t.toml: field 'accounts.shop.zones[0].outbound_prices.vidoe': is not a message type"),
    ({"accounts": {"shop": {"tax_rate": "1"}}}, "t.toml: field 'accounts.shop.tax_rate': must be less than 1"),
    ({"accounts": {"shop": 3}}, "t.toml: field 'accounts': must be a table of account overrides"),
    ({"session_prise": "1"}, "t.toml: field 'session_prise': is not a known tariff field (did you mean "
                             "'session_price'?)"),
    ({"zones": [{"name": "CIS", "countries": ["KZ", "UZ"]}, {"name": "Asia", "countries": ["UZ"]}]},
     "t.toml: field 'zones[1].countries': 'UZ' is already in zone 'CIS' (zones[0]); a country belongs to one zone"),
    ({"zones": [{"name": "CIS", "countries": ["kz"]}]},
     "t.toml: field 'zones[0].countries': 'kz' is not an ISO 3166 alpha-2 country code that phonenumbers knows "
     "(did you mean 'KZ'?)"),
    ({"zones": [{"name": "CIS", "countries": ["KZ"], "price": "1"}]},
     "t.toml: field 'zones[0].price': is not a known zone field"),
    ({"zones": [{"name": "A", "countries": ["KZ"]}, {"name": "a", "countries": ["UZ"]}]},
     "t.toml: field 'zones[1].name': zone 'a' is already the name of zones[0]"),
    ({"zones": [{"countries": ["KZ"]}]}, "t.toml: field 'zones[0].name': is required"),
    ({"zones": {"name": "A"}}, "t.toml: field 'zones': must be an array of tables"),
    ({"tax_rate": "1.00"}, "t.toml: field 'tax_rate': must be less than 1"),
    ({"tax_rate": "-0.1"}, "t.toml: field 'tax_rate': must not be negative"),
    ({"tax_rate": 0.22}, "t.toml: field 'tax_rate': must be a decimal string"),
    ({"minimum_monthly_charge": "1e3"}, "t.toml: field 'minimum_monthly_charge': must be a decimal string"),
    ({"minor_unit": 11}, "t.toml: field 'minor_unit': must be a whole number of decimals from 0 to 10, not 11"),
    ({"minor_unit": True}, "t.toml: field 'minor_unit': must be a whole number of decimals"),
    ({"sessions": "no"}, "t.toml: field 'sessions': must be true or false, not 'no'"),
    ({"currency": "RUBX"}, "t.toml: field 'currency': 'RUBX' is not an ISO 4217 currency code (did you mean 'RUB'?); "
                           "to use it anyway, give its decimals as minor_unit"),
    ({"currency": "rub"}, "t.toml: field 'currency': 'rub' is not an ISO 4217 currency code (did you mean 'RUB'?)"),
    ({"currency": "XXX"}, "t.toml: field 'currency': 'XXX' has no minor unit in ISO 4217; give its decimals as "
                          "minor_unit"),
])
def test_errors_name_the_full_path(change, message):
    with pytest.raises(TariffError) as info:
        parse_tariff({**BASE, **change}, "t.toml")
    assert str(info.value).startswith(message)


def test_minor_unit_comes_from_iso_4217():
    assert [iso_minor_unit(c) for c in ("RUB", "JPY", "KWD", "IQD", "RSD", "XXX", "ZZZ")] == [2, 0, 3, 3, 2, None, None]
    assert parse_tariff({**BASE, "currency": "JPY"}).decimals == 0
    assert parse_tariff({**BASE, "currency": "IQD"}).decimals == 3          # ISO 4217 (CLDR says 0)
    t = parse_tariff({**BASE, "currency": "TOKEN", "minor_unit": 4})       # any code, with its minor unit
    assert (t.currency, t.decimals, t.places) == ("TOKEN", 4, 4)
    assert parse_tariff({**BASE, "minor_unit": 0}).decimals == 0


# --- zones ---------------------------------------------------------------------------------------

def test_countries_of_numbers():
    ids = ["+77012345678", "+79001234567", "+73432123456", "+998901234567", "+12125550123", "+442071838750",
           "79001234567", "+7 900 123 45 67", "viber:9f", "007900000003", "", "+0123", "+7", "+88213"]
    got = [countries.region_names()[i] for i in countries.classify(ids)]
    assert got == ["KZ", "RU", "RU", "UZ", "US", "GB", "", "", "", "", "", "", "", "001"]


def test_countries_equal_phonenumbers_on_every_calling_code():
    """The vectorised lookup gives exactly ``region_code_for_number(parse(id))``."""
    import phonenumbers
    from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

    rnd = random.Random(9)
    ids = []
    for code in COUNTRY_CODE_TO_REGION_CODE:
        for _ in range(25):
            ids.append(f"+{code}" + "".join(rnd.choice("0123456789") for _ in range(rnd.randint(0, 18))))
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in range(11):
            example = phonenumbers.example_number_for_type(region, kind)
            if example:
                ids.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    for code in (1, 7, 44, 54, 61, 39, 358):                  # national prefixes phonenumbers may strip
        for head in ("0", "1", "8", "15", "180020", "06698", "9", "7", "33"):
            for n in (3, 8, 10, 13, 16):
                ids.append(f"+{code}{head}" + "".join(rnd.choice("0123456789") for _ in range(n)))
    names = countries.region_names()
    got = [names[i] for i in countries.classify(ids)]
    want = [countries.region_of(i) or "" for i in ids]
    assert [(i, g, w) for i, g, w in zip(ids, got, want) if g != w] == []


ZONED = """
currency = "RUB"
monthly_fee = "0"
session_price = "1"
inbound_price = "0.01"
[outbound_prices]
text = "0.85"
image = "1.10"
default = "2"
[[zones]]
name = "CIS"
countries = ["KZ", "UZ"]
inbound_price = "0.02"
[zones.outbound_prices]
text = "1.40"
[[zones]]
name = "Far"
countries = ["US"]
[zones.outbound_prices]
default = "3"
"""


def test_zone_prices_by_the_subscribers_country():
    log = log_of([
        ("1", 0, "shop", "+77012345678", "outbound", "text"),       # +7 7xx: Kazakhstan, CIS text
        ("2", 1, "shop", "+77012345678", "outbound", "image"),      # CIS has no image price: top-level
        ("3", 2, "shop", "+79001234567", "outbound", "text"),       # +7 9xx: Russia, in no zone: top-level
        ("4", 3, "shop", "+998901234567", "outbound", "text"),      # Uzbekistan: CIS
        ("5", 4, "shop", "viber:9f", "outbound", "text"),           # not a number: top-level
        ("6", 5, "shop", "79001234567", "outbound", "text"),        # not +digits: top-level
        ("7", 6, "shop", "+12125550123", "outbound", "text"),       # US: zone default before plan[type]
        ("8", 7, "shop", "+77012345678", "inbound", "image"),       # an image opens nothing: CIS inbound
        ("9", 8, "shop", "+79001234567", "inbound", "image"),       # Russia: top-level inbound
        ("10", 9, "shop", "+77012345678", "outbound", "sticker"),   # CIS has no default: plan default
    ])
    inv = bill(log, tariff_of(ZONED))
    assert lines(inv, "shop") == [
        ("inbound", "image", "", 1, "0.01"), ("inbound", "image", "CIS", 1, "0.02"),
        ("outbound", "image", "", 1, "1.10"), ("outbound", "sticker", "", 1, "2"),
        ("outbound", "text", "", 3, "0.85"), ("outbound", "text", "CIS", 2, "1.40"),
        ("outbound", "text", "Far", 1, "3")]
    assert inv.accounts[0].usage == Decimal("0.01") + Decimal("0.02") + Decimal("1.10") + 2 + Decimal("2.55") \
        + Decimal("2.80") + 3
    assert inv.zoned


def test_zones_of_an_override_replace_the_top_level_list():
    t = tariff_of(ZONED + '[accounts."b"]\nzones = []\n')
    log = log_of([("1", 0, "a", "+77012345678", "outbound", "text"), ("2", 1, "b", "+77012345678", "outbound", "text")])
    inv = bill(log, t)
    assert lines(inv, "a") == [("outbound", "text", "CIS", 1, "1.40")]
    assert lines(inv, "b") == [("outbound", "text", "", 1, "0.85")]


def test_each_distinct_subscriber_is_looked_up_once(monkeypatch):
    seen = []
    real = countries.classify
    monkeypatch.setattr(countries, "classify", lambda values: seen.append(len(values)) or real(values))
    log = log_of([(str(k), k, "shop", f"+7701234567{k % 3}", "outbound", "text") for k in range(30)])
    seg = vs.segment(log, tariff_of(ZONED))
    tally(seg, OCT)
    tally(seg, OCT)
    assert seen == [3]


def test_a_zoned_tariff_refuses_a_tally_without_countries():
    t = tariff_of(ZONED)
    log = log_of([("1", 0, "shop", "+77012345678", "outbound", "text")])
    seg = vs.segment(log, t.limits)
    with pytest.raises(BillingError, match="countries were not looked up"):
        price(tally(seg, OCT), t, OCT)
    assert lines(billing.bill(seg, t, OCT), "shop") == [("outbound", "text", "CIS", 1, "1.40")]   # bill looks them up


# --- per-account limits and sessions switch ------------------------------------------------------

def conversation(account: str, subscriber: str, start: int = 0) -> list[tuple]:
    """One subscriber message, then 12 business messages nobody answers, then a reply."""
    rows = [(f"{account}-{subscriber}-in", start, account, subscriber, "inbound", "text")]
    rows += [(f"{account}-{subscriber}-{k}", start + 1 + k, account, subscriber, "outbound", "text") for k in range(12)]
    return rows + [(f"{account}-{subscriber}-re", start + 20, account, subscriber, "inbound", "text")]


def test_limits_per_account_equal_single_account_runs():
    t = tariff_of('currency = "RUB"\nmonthly_fee = "1"\nsession_price = "1"\n[outbound_prices]\ntext = "0.5"\n'
                  '[accounts."b"]\nsession_price = "2"\n[accounts."b".limits]\nmax_unanswered = 5\nwindow_hours = 1\n'
                  '[accounts."c"]\n[accounts."c".limits]\nmax_business_messages = 4\nafter_message_limit = "close"\n')
    rows = {a: conversation(a, "+79001234567") + conversation(a, "+79001234568", 70) for a in "abc"}
    mixed = [r for k in range(len(rows["a"])) for a in "abc" for r in [rows[a][k]]]
    log = log_of(mixed)
    seg = vs.segment(log, t)
    assert seg.plans is not None and not seg.plans.uniform
    whole = tables.messages_table(seg).to_pylist()
    whole_sessions = tables.sessions_table(seg, "UTC").to_pylist()
    for a, limits in (("a", Limits()), ("b", Limits(max_unanswered=5, window_hours=1)),
                      ("c", Limits(max_business_messages=4, after_message_limit="close"))):
        alone = vs.segment(log_of(rows[a]), limits)
        mine = [m for m in whole if m["business_id"] == a]
        assert [(m["message_id"], m["session_id"], m["billing"], m["reason"]) for m in mine] == \
            [(m["message_id"], m["session_id"], m["billing"], m["reason"]) for m in tables.messages_table(alone).to_pylist()]
        assert [s for s in whole_sessions if s["business_id"] == a] == tables.sessions_table(alone, "UTC").to_pylist()
        plan = t.plan(a)
        inv_alone = billing.bill(vs.segment(log_of(rows[a]), plan), plan, OCT)
        inv_whole = billing.bill(seg, t, OCT, [a])
        assert render.invoice_dict(inv_whole)["accounts"] == render.invoice_dict(inv_alone)["accounts"]
    sessions = {a.business_id: a.sessions for a in billing.bill(seg, t, OCT).accounts}
    assert sessions == {"a": 2, "b": 2, "c": 2}
    reasons = {m["message_id"]: m["reason"] for m in whole}
    assert reasons["a-+79001234567-10"] == "no_session" and reasons["b-+79001234567-5"] == "no_session"
    assert reasons["c-+79001234567-4"] == "no_session" and reasons["a-+79001234567-4"] == ""


def test_each_account_excludes_the_statuses_its_own_plan_leaves_unbilled():
    """Rows whose status an account's plan leaves unbilled are excluded, each account by its own
    plan (the other plans' lists do not apply to it); a row without a status is billed."""
    t = tariff_of('currency = "RUB"\nmonthly_fee = "1"\nsession_price = "1"\n[outbound_prices]\ntext = "0.5"\n'
                  '[limits]\nunbilled_statuses = ["failed"]\n'
                  '[accounts."b".limits]\nunbilled_statuses = ["read", "expired"]\n'
                  '[accounts."c".limits]\nmax_unanswered = 5\n')
    statuses = ["failed", "read", None, "expired", "delivered"]
    rows = [(f"{a}{k}", k, a, "+79001234567", "outbound", "text", st)
            for k, st in enumerate(statuses) for a in "abc"]
    log = vs.from_table(pa.table({
        "message_id": [r[0] for r in rows],
        "timestamp": [f"2026-10-05T09:{r[1]:02d}:00Z" for r in rows],
        "business_id": [r[2] for r in rows], "subscriber_id": [r[3] for r in rows],
        "direction": [r[4] for r in rows], "message_type": [r[5] for r in rows],
        "status": pa.array([r[6] for r in rows], pa.string())}))
    seg = vs.segment(log, t)
    assert seg.plans is not None and len(seg.plans.limits) == 3
    excluded = sorted(m["message_id"] for m in tables.messages_table(seg).to_pylist() if m["billing"] == "excluded")
    assert excluded == ["a0", "b1", "b3", "c0"]


def test_a_segmentation_with_other_limits_is_refused():
    t = tariff_of(README_TARIFF)
    log = log_of(conversation("shop", "+79001234567"))
    with pytest.raises(BillingError, match="account 'shop' were computed with other limits"):
        billing.bill(vs.segment(log, t.limits), t, OCT)


def test_sessions_false_bills_every_message_per_message():
    t = tariff_of('currency = "RUB"\nmonthly_fee = "7"\nsession_price = "1"\n[outbound_prices]\ntext = "0.5"\n'
                  '[accounts."b"]\nsessions = false\nmonthly_fee = "2"\n')
    log = log_of(conversation("a", "+79001234567") + conversation("b", "+79001234567"))
    seg = vs.segment(log, t)
    rows = tables.messages_table(seg).to_pylist()
    assert {(m["billing"], m["reason"]) for m in rows if m["business_id"] == "b"} == {("out_of_session",
                                                                                       "sessions_disabled")}
    assert not any(m["reason"] == "sessions_disabled" for m in rows if m["business_id"] == "a")
    inv = billing.bill(seg, t, OCT)
    b = inv.accounts[1]
    assert (b.sessions, b.subscription_fee, b.total) == (0, Decimal(2), Decimal(2) + 12 * Decimal("0.5"))
    assert lines(inv, "b") == [("inbound", "text", "", 2, "0"), ("outbound", "text", "", 12, "0.5")]
    everyone = tariff_of('currency = "RUB"\nmonthly_fee = "7"\nsession_price = "1"\nsessions = false\n'
                         '[outbound_prices]\ntext = "0.5"\n')
    assert vs.segment(log, everyone).n_sessions == 0


# --- minimum, tax, rounding -----------------------------------------------------------------------

def money_tariff(extra: str, currency: str = "RUB") -> str:
    return (f'currency = "{currency}"\nmonthly_fee = "100"\nsession_price = "0"\n{extra}\n'
            '[outbound_prices]\ntext = "0.005"\n')


def sends(n: int, account: str = "shop") -> vs.MessageLog:
    return log_of([(str(k), k % 600, account, "+79001234567", "outbound", "text") for k in range(n)])


def test_minimum_top_up_below_and_above():
    t = tariff_of(money_tariff('minimum_monthly_charge = "1.00"'))
    below = bill(sends(150), t).accounts[0]                     # usage 0.75 < 1.00
    assert (below.usage, below.minimum_charge_top_up, below.total, below.net) == (
        Decimal("0.750"), Decimal("0.250"), Decimal("100.750"), Decimal("101.00"))
    above = bill(sends(250), t).accounts[0]                     # usage 1.25 > 1.00
    assert (above.usage, above.minimum_charge_top_up, above.net) == (Decimal("1.250"), 0, Decimal("101.25"))
    exact = bill(sends(200), t).accounts[0]
    assert (exact.minimum_charge_top_up, exact.net) == (0, Decimal("101.00"))


def test_tax_and_rounding_half_up_on_a_half_kopeck():
    t = tariff_of(money_tariff('tax_rate = "0.22"'))
    a = bill(sends(1), t).accounts[0]                           # net 100.005 -> 100.01 (half-even: 100.00)
    assert (a.total, a.net, a.tax, a.amount_due) == (Decimal("100.005"), Decimal("100.01"), Decimal("22.00"),
                                                     Decimal("122.01"))
    t = tariff_of(money_tariff('tax_rate = "0.125"'))
    a = bill(sends(4), t).accounts[0]                           # net 100.02, tax 12.5025 -> 12.50
    assert (a.net, a.tax, a.amount_due) == (Decimal("100.02"), Decimal("12.50"), Decimal("112.52"))
    a = bill(sends(60), t).accounts[0]                          # net 100.30, tax 12.5375 -> 12.54
    assert (a.net, a.tax) == (Decimal("100.30"), Decimal("12.54"))


def test_grand_figures_are_sums_of_rounded_account_figures():
    t = tariff_of(money_tariff('tax_rate = "0.22"'))
    log = log_of([("a", 0, "a", "+79001234567", "outbound", "text"), ("b", 1, "b", "+79001234567", "outbound", "text")])
    inv = bill(log, t)
    assert inv.total == Decimal("200.010")                      # exact
    assert (inv.net, inv.tax, inv.amount_due) == (Decimal("200.02"), Decimal("44.00"), Decimal("244.02"))
    doc = render.invoice_dict(inv)
    assert (doc["total"], doc["net"], doc["tax"], doc["amount_due"]) == ("200.010", "200.02", "44.00", "244.02")


def test_jpy_has_no_decimals():
    t = tariff_of('currency = "JPY"\nmonthly_fee = "1000"\nsession_price = "3"\ntax_rate = "0.10"\n'
                  'minimum_monthly_charge = "0"\n[outbound_prices]\ntext = "2.5"\n')
    inv = bill(sends(3), t)
    doc = render.invoice_dict(inv)
    a = doc["accounts"][0]
    assert (a["total"], a["usage"], a["net"], a["tax"], a["amount_due"]) == ("1007.5", "7.5", "1008", "101", "1109")
    assert (doc["net"], doc["tax"], doc["amount_due"]) == ("1008", "101", "1109")
    t = tariff_of('currency = "JPY"\nmonthly_fee = "1000"\nsession_price = "3"\n[outbound_prices]\ntext = "2"\n')
    assert render.invoice_dict(bill(sends(3), t))["accounts"][0]["out_of_session"][0]["amount"] == "6"


# --- output shapes ---------------------------------------------------------------------------------

def test_zone_is_always_in_json_and_csv_and_new_items_follow_account_total():
    tariff = vs.load_tariff(CASES / "tariff.toml")
    log = vs.load([str(CASES / "messages.csv")])
    inv = billing.bill(vs.segment(log, tariff), tariff, vs.Period.parse("2026-10", "Europe/Moscow"))
    doc = render.invoice_dict(inv)
    assert list(doc) == ["period", "status", "coverage", "timezone", "currency", "rows", "accounts", "total", "net",
                         "tax", "amount_due", "warnings"]
    assert list(doc["accounts"][0]) == ["business_id", "subscription_fee", "sessions", "in_session_messages",
                                        "out_of_session", "total", "usage", "minimum_charge_top_up", "net", "tax",
                                        "amount_due"]
    assert all(line["zone"] == "" for a in doc["accounts"] for line in a["out_of_session"])
    rows = list(csv.DictReader(io.StringIO(render.invoice_csv(inv))))
    assert list(rows[0]) == ["period", "business_id", "item", "direction", "message_type", "zone", "count",
                             "unit_price", "amount"]
    items = [r["item"] for r in rows if r["business_id"] == "shop"]
    assert items[-6:] == ["account_total", "usage", "minimum_charge_top_up", "net", "tax", "amount_due"]
    assert [r["item"] for r in rows[-4:]] == ["grand_total", "grand_net", "grand_tax", "grand_amount_due"]
    assert [r["amount"] for r in rows[-4:]] == ["10007.85", "10007.85", "0.00", "10007.85"]


def test_table_shows_zones_and_amounts_due():
    from rich.console import Console

    t = tariff_of(ZONED)
    inv = bill(log_of([("1", 0, "shop", "+77012345678", "outbound", "text")]), t)
    buf = io.StringIO()
    render.invoice_table(inv, Console(file=buf, width=120))
    text = buf.getvalue()
    assert "zone" in text and "CIS" in text and "amount due 1.40" in text


def test_worked_invoice_with_price_plans():
    """tests/cases/invoice/tariff-plans.toml: the expected JSON is written by hand, line by line."""
    expected = json.loads((CASES / "tariff-plans.expected-2026-10.json").read_text())
    log = vs.load([str(CASES / "messages.csv")])
    tariff = vs.load_tariff(PLANS)
    inv = billing.bill(vs.segment(log, tariff), tariff, vs.Period.parse(expected["period"], expected["timezone"]))
    got = json.loads(render.invoice_json(inv).replace(str(PLANS), "tests/cases/invoice/tariff-plans.toml"))
    assert got == {k: v for k, v in expected.items() if not k.startswith("_")}


def test_worked_invoice_with_price_plans_through_the_cli(tmp_path):
    expected = json.loads((CASES / "tariff-plans.expected-2026-10.json").read_text())
    audit = tmp_path / "m.csv"
    r = CliRunner().invoke(cli, ["invoice", str(CASES / "messages.csv"), "--tariff", str(PLANS), "--period", "2026-10",
                                 "--tz", "Europe/Moscow", "--format", "json", "--messages-out", str(audit)])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout.replace(str(PLANS), "tests/cases/invoice/tariff-plans.toml"))
    got.pop("generated_by")
    assert got == {k: v for k, v in expected.items() if not k.startswith("_")}
    reasons = {m["message_id"]: m["reason"] for m in pacsv.read_csv(audit).to_pylist()}
    assert [reasons[m] for m in ("f1", "f2", "f3")] == ["sessions_disabled"] * 3


# --- compare -----------------------------------------------------------------------------------------

def test_compare_shows_net_tax_and_amount_due_per_account_and_plan():
    log = vs.load([str(CASES / "messages.csv")])
    period = vs.Period.parse("2026-10", "Europe/Moscow")
    variants = [Variant("today", vs.load_tariff(CASES / "tariff.toml")), Variant("plans", vs.load_tariff(PLANS))]
    doc = comparison_dict(compare(log, variants, period), render.invoice_dict)
    shop = next(a for a in doc["accounts"] if a["business_id"] == "shop")
    assert (shop["net"], shop["tax"], shop["amount_due"]) == (["5005.75", "5004.81"], ["0.00", "1101.06"],
                                                              ["5005.75", "6105.87"])
    assert shop["amount_due_differences"] == ["0.00", "1100.12"]
    assert (doc["net"], doc["tax"], doc["amount_due"]) == (["10007.85", "8014.81"], ["0.00", "1763.26"],
                                                           ["10007.85", "9778.07"])


# --- every engine -------------------------------------------------------------------------------------

ENGINE_TARIFF = """
currency = "RUB"
monthly_fee = "5000.00"
session_price = "1.20"
minimum_monthly_charge = "3000.00"
tax_rate = "0.22"
[outbound_prices]
text = "0.85"
image = "1.10"
default = "1.505"
[[zones]]
name = "CIS"
countries = ["KZ", "UZ", "KG"]
inbound_price = "0.01"
[zones.outbound_prices]
text = "1.40"
[[zones]]
name = "Americas"
countries = ["US", "CA"]
[zones.outbound_prices]
default = "2.25"
[accounts."shop"]
session_price = "0.95"
minimum_monthly_charge = "0"
[accounts."shop".outbound_prices]
text = "0.70"
[accounts."shop".limits]
max_unanswered = 5
window_hours = 12
[accounts."taxi"]
sessions = false
[accounts."bank"]
zones = []
[accounts."bank".limits]
max_business_messages = 7
after_message_limit = "close"
"""


@pytest.fixture(scope="module")
def zoned_logs(tmp_path_factory):
    """Generated logs whose +7900 numbers are spread over Russia, Kazakhstan, Uzbekistan, the US."""
    root = tmp_path_factory.mktemp("plans")
    out = []
    for name, seed, start in (("a.parquet", 51, "2026-09-28"), ("b.csv", 52, "2026-10-06")):
        path = root / name
        r = CliRunner().invoke(cli, ["generate", str(path), "--rows", "6000", "--seed", str(seed), "--start", start,
                                     "--days", "30"])
        assert r.exit_code == 0, r.output
        table = pq.read_table(path) if name.endswith("parquet") else pacsv.read_csv(path)
        ids = table.column("subscriber_id")
        ids = pc.replace_substring_regex(ids, r"^\+7900(\d*)1$", r"+7701\11")
        ids = pc.replace_substring_regex(ids, r"^\+7900(\d*)2$", r"+99890\12")
        ids = pc.replace_substring_regex(ids, r"^\+7900\d*(\d\d\d)3$", r"+1212777\13")
        ids = pc.replace_substring_regex(ids, r"^\+7900\d*(\d\d\d)4$", r"+1416555\14")
        table = table.set_column(table.schema.get_field_index("subscriber_id"), "subscriber_id", ids)
        if name.endswith("parquet"):
            pq.write_table(table, path, row_group_size=1000)
        else:
            pacsv.write_csv(table, path)
        out.append(str(path))
    tariff = root / "plans.toml"
    tariff.write_text(ENGINE_TARIFF)
    return out, str(tariff)


def test_the_same_invoice_on_every_engine(zoned_logs, monkeypatch):
    from distributed import Client, LocalCluster

    from viber_sessions import core, dask_engine

    logs, tariff = zoned_logs
    request = core.Request(inputs=logs, tariff=tariff, period="2026-10", tz="Europe/Moscow")
    whole = render.invoice_dict(core.run_invoice(request).invoice)
    zones = {line["zone"] for a in whole["accounts"] for line in a["out_of_session"]}
    assert zones == {"", "CIS", "Americas"}
    assert {a["business_id"] for a in whole["accounts"]} >= {"shop", "taxi", "bank"}
    chunked = render.invoice_dict(core.run_invoice_chunked(request, 64 * 2**20).invoice)
    assert chunked == whole
    monkeypatch.setattr(dask_engine, "PIECE_ROWS", 2500)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        with Client(cluster) as client:
            on_cluster = render.invoice_dict(dask_engine.run_invoice(request, client=client, buckets=5).invoice)
    finally:
        cluster.close()
    assert on_cluster == whole


def test_tallies_of_disjoint_buckets_add_up_to_the_whole(zoned_logs):
    logs, tariff_path = zoned_logs
    tariff = vs.load_tariff(tariff_path)
    log = vs.load(logs)
    period = vs.Period.parse("2026-10", "UTC")
    whole = billing.bill(vs.segment(log, tariff), tariff, period)
    conv = (log.business.astype(np.int64) * 7 + log.subscriber) % 3
    total: Tally | None = None
    from viber_sessions.segment import first_occurrences
    dups = ~first_occurrences(log.message_id)
    for part in range(3):
        rows = np.flatnonzero(conv == part)
        sub = vs.from_table(pa.table({
            "message_id": log.message_id.take(pa.array(rows)),
            "timestamp": pa.array(log.timestamp[rows], pa.timestamp("ns", tz="UTC")),
            "business_id": log.businesses.take(pa.array(log.business[rows])),
            "subscriber_id": log.subscribers.take(pa.array(log.subscriber[rows])),
            "direction": pa.array(np.where(log.inbound[rows], "inbound", "outbound")),
            "message_type": pa.array([log.message_types[t] for t in log.mtype[rows]]),
            "status": pa.array([log.statuses[s] if s >= 0 else None for s in log.status[rows]], pa.string())
            if log.status is not None else pa.nulls(len(rows), pa.string())}))
        seg = vs.segment(sub, tariff, duplicates=dups[rows], data_end=int(log.timestamp.max()))
        t = tally(seg, period)
        total = t if total is None else total + t
    parts = price(total, tariff, period)
    drop = lambda d: {k: v for k, v in d.items() if k != "rows"}  # noqa: E731
    assert drop(render.invoice_dict(parts)) == drop(render.invoice_dict(whole))
