"""explain under price plans: the account's plan (override), the subscriber's zone, the account's
limits, and accounts whose plan has no sessions."""

from __future__ import annotations

import io
import json
import tomllib
from decimal import Decimal

import pyarrow as pa
import pytest
from click.testing import CliRunner
from rich.console import Console

import viber_sessions as vs
from viber_sessions import billing
from viber_sessions import explain as ex
from viber_sessions.cli import cli
from viber_sessions.errors import BillingError
from viber_sessions.tariff import parse_tariff

KZ = "+77012345678"          # +7 7xx: Kazakhstan
RU = "+79001234567"          # +7 9xx: Russia, in no zone
OCT = vs.Period.parse("2026-10", "UTC")

PLANS = """
currency = "RUB"
monthly_fee = "5000.00"
session_price = "1.20"
inbound_price = "0.01"

[outbound_prices]
text = "0.85"
image = "1.10"

[[zones]]
name = "CIS"
countries = ["KZ", "UZ"]
inbound_price = "0.02"
[zones.outbound_prices]
text = "1.40"

[accounts."shop"]
monthly_fee = "100.00"
session_price = "0.95"
[accounts."shop".outbound_prices]
text = "0.70"
[accounts."shop".limits]
max_unanswered = 3
[[accounts."shop".zones]]
name = "KZ-shop"
countries = ["KZ"]
inbound_price = "0.03"
[accounts."shop".zones.outbound_prices]
text = "1.25"

[accounts."solo"]
sessions = false
monthly_fee = "10.00"
"""


def tariff():
    return parse_tariff(tomllib.loads(PLANS), "plans.toml")


def conversation(account: str, subscriber: str) -> list[tuple]:
    """(message_id, minute, direction, type): an out-of-session text and image, a subscriber
    text that opens a session, three unanswered texts, a text after them, a subscriber image."""
    p = f"{account}-{subscriber}-"
    return [(p + "o1", 0, account, subscriber, "outbound", "text"),
            (p + "o2", 1, account, subscriber, "outbound", "image"),
            (p + "i1", 2, account, subscriber, "inbound", "text"),
            (p + "s1", 3, account, subscriber, "outbound", "text"),
            (p + "s2", 4, account, subscriber, "outbound", "text"),
            (p + "s3", 5, account, subscriber, "outbound", "text"),
            (p + "o3", 6, account, subscriber, "outbound", "text"),
            (p + "i2", 7, account, subscriber, "inbound", "image")]


def log_of(rows: list[tuple]) -> vs.MessageLog:
    return vs.from_table(pa.table({
        "message_id": [r[0] for r in rows],
        "timestamp": [f"2026-10-05T09:{r[1]:02d}:00Z" for r in rows],
        "business_id": [r[2] for r in rows], "subscriber_id": [r[3] for r in rows],
        "direction": [r[4] for r in rows], "message_type": [r[5] for r in rows]}))


ROWS = (conversation("shop", KZ) + conversation("bank", KZ) + conversation("shop", RU) + conversation("solo", KZ))


@pytest.fixture(scope="module")
def seg():
    return vs.segment(log_of(ROWS), tariff())


def messages(facts) -> dict:
    return {e["message_id"].rsplit("-", 1)[1]: e for e in facts["events"] if e["kind"] == "message"}


def test_override_and_its_zone_give_the_prices(seg):
    facts = ex.explain(seg, tariff(), "shop", KZ, "UTC")
    m = messages(facts)
    assert {k: (e["billing"], e["reason"], e["unit_price"], e["zone"]) for k, e in m.items()} == {
        "o1": ("out_of_session", "no_session", "1.25", "KZ-shop"),        # the override's zone
        "o2": ("out_of_session", "no_session", "1.10", ""),               # zone has no image: plan price
        "i1": ("session", "", None, None),
        "s1": ("session", "", None, None), "s2": ("session", "", None, None), "s3": ("session", "", None, None),
        "o3": ("out_of_session", "no_session", "1.25", "KZ-shop"),
        "i2": ("out_of_session", "no_session", "0.03", "KZ-shop")}       # the zone's inbound price
    assert m["o1"]["why"].endswith("at the price of zone KZ-shop") and "zone" not in m["o2"]["why"]
    # the override's limits: closed at the 3rd unanswered message (the top level says 10)
    close = next(e for e in facts["events"] if e["kind"] == "session_close")
    assert close["close_reason"] == "unanswered_limit"
    assert close["why"] == "closed at the 3rd unanswered business message"
    assert close["billing"] == "billed once: 0.95 RUB in 2026-10 (the period of its start)"
    assert "closed at the 3rd unanswered business message" in m["o3"]["why"]
    assert m["s3"]["why"] == "business message 3 of 60, 3 of 3 unanswered: free"
    opened = next(e for e in facts["events"] if e["kind"] == "session_open")
    assert opened["amount"] == "0.95"
    assert facts["limits"]["max_unanswered"] == 3
    assert facts["plan"] == {"account_override": True, "sessions": True, "session_price": "0.95",
                             "subscriber_country": "KZ", "zone": "KZ-shop"}
    assert facts["charges"] == {"sessions": 1, "sessions_amount": "0.95", "out_of_session_messages": 4,
                                "out_of_session_amount": "3.63", "total": "4.58"}


def test_top_level_plan_and_zone_for_an_account_without_override(seg):
    facts = ex.explain(seg, tariff(), "bank", KZ, "UTC")
    m = messages(facts)
    assert {k: (e["unit_price"], e["zone"]) for k, e in m.items() if e["billing"] == "out_of_session"} == {
        "o1": ("1.40", "CIS"), "o2": ("1.10", "")}
    assert [e["close_reason"] for e in facts["events"] if e["kind"] == "session_close"] == ["open"]
    assert m["o3"]["billing"] == m["i2"]["billing"] == "session"   # 10 unanswered allowed: still in the session
    assert facts["charges"]["total"] == "3.70"                     # 1.20 + 1.40 + 1.10
    assert facts["plan"]["zone"] == "CIS" and not facts["plan"]["account_override"]


def test_override_without_a_zone_for_the_country(seg):
    facts = ex.explain(seg, tariff(), "shop", RU, "UTC")
    m = messages(facts)
    assert {k: (e["unit_price"], e["zone"]) for k, e in m.items() if e["billing"] == "out_of_session"} == {
        "o1": ("0.70", ""), "o2": ("1.10", ""), "o3": ("0.70", ""), "i2": ("0.01", "")}
    assert facts["plan"]["subscriber_country"] == "RU" and facts["plan"]["zone"] == ""
    assert facts["charges"]["total"] == "3.46"            # 0.95 + 0.70 + 1.10 + 0.70 + 0.01


def test_explain_charges_add_up_to_the_invoice_of_each_account(seg):
    t = tariff()
    inv = billing.bill(seg, t, OCT)
    for a in inv.accounts:
        subscribers = sorted({r[3] for r in ROWS if r[2] == a.business_id})
        shown = sum(Decimal(ex.explain(seg, t, a.business_id, s, "UTC")["charges"]["total"]) for s in subscribers)
        assert shown + a.subscription_fee == a.total, a.business_id


def test_sessions_disabled_is_described_as_such(seg):
    facts = ex.explain(seg, tariff(), "solo", KZ, "UTC")
    m = messages(facts)
    assert {e["reason"] for e in m.values()} == {"sessions_disabled"}
    for e in m.values():
        assert e["why"].startswith("out of session: sessions are not enabled for this account's plan; "
                                   "billed per message; charged in 2026-10"), e["why"]
        assert "one direction" not in e["why"] and "one-sided" not in e["why"]
    assert not [e for e in facts["events"] if e["kind"] != "message"]
    # the top-level plan (with its CIS zone) prices them
    assert {k: (e["unit_price"], e["zone"]) for k, e in m.items()} == {
        "o1": ("1.40", "CIS"), "o2": ("1.10", ""), "i1": ("0.02", "CIS"), "s1": ("1.40", "CIS"),
        "s2": ("1.40", "CIS"), "s3": ("1.40", "CIS"), "o3": ("1.40", "CIS"), "i2": ("0.02", "CIS")}
    assert facts["charges"] == {"sessions": 0, "sessions_amount": "0.00", "out_of_session_messages": 8,
                                "out_of_session_amount": "8.14", "total": "8.14"}
    assert facts["plan"]["sessions"] is False


def test_the_timeline_shows_the_plan_and_the_zone(seg):
    buf = io.StringIO()
    ex.render(ex.explain(seg, tariff(), "shop", KZ, "UTC"), Console(file=buf, width=300, no_color=True))
    text = buf.getvalue()
    assert "Plan: the account's own plan (override); session 0.95; subscriber in KZ: zone KZ-shop prices" in text
    assert "at the price of zone KZ-shop" in text
    buf = io.StringIO()
    ex.render(ex.explain(seg, tariff(), "solo", KZ, "UTC"), Console(file=buf, width=300, no_color=True))
    assert "sessions not enabled: every message billed per message" in buf.getvalue()


def test_a_segmentation_with_other_limits_is_refused():
    t = tariff()
    seg = vs.segment(log_of(ROWS), t.limits)
    with pytest.raises(BillingError, match="account 'shop' were computed with other limits"):
        ex.explain(seg, t, "shop", KZ, "UTC")


def test_cli_explain_uses_the_plan(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("message_id,timestamp,business_id,subscriber_id,direction,message_type\n" + "".join(
        f"{r[0]},2026-10-05T09:{r[1]:02d}:00Z,{r[2]},{r[3]},{r[4]},{r[5]}\n" for r in ROWS), encoding="utf-8")
    path = tmp_path / "plans.toml"
    path.write_text(PLANS, encoding="utf-8")
    r = CliRunner().invoke(cli, ["explain", str(log), "--tariff", str(path), "--business", "shop",
                                 "--subscriber", KZ, "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["charges"]["total"] == "4.58"


def test_an_unpriced_type_is_refused_as_an_invoice_refuses_it(tmp_path):
    # the conversation is priced; another account's sticker has no price: the invoice of the
    # log is refused, and so is the explanation (not 0.00)
    log = tmp_path / "stk.csv"
    log.write_text("message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
                   "m1,2026-10-01T10:00:00Z,shop,+79001,inbound,text\n"
                   "m2,2026-10-01T10:01:00Z,shop,+79001,outbound,sticker\n"
                   "m3,2026-10-01T10:02:00Z,bank,+79002,outbound,text\n")
    tariff = vs.load_tariff("sample_data/tariff.toml")
    seg = vs.segment(vs.load(str(log)), tariff)
    message = ("sample_data/tariff.toml: outbound_prices has no price for message type 'sticker' (1 row); add it, "
               "or a `default` price, to [outbound_prices]")
    with pytest.raises(BillingError) as invoice:
        billing.bill(seg, tariff, OCT)
    for b, s in (("shop", "+79001"), ("bank", "+79002")):
        with pytest.raises(BillingError) as explained:
            ex.explain(seg, tariff, b, s, "UTC")
        assert str(explained.value) == str(invoice.value) == message
    r = CliRunner().invoke(cli, ["explain", str(log), "--tariff", "sample_data/tariff.toml", "--business", "bank",
                                 "--subscriber", "+79002"])
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", f"error: {message}\n")
