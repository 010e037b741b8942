"""The audit toolkit: validate, sessions, explain, reconcile, compare."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from viber_sessions.cli import cli
from viber_sessions.tariff import load_tariff

HERE = Path(__file__).parent
CASES = HERE / "cases"
CORPUS = HERE / "corpus"
TARIFF = str(HERE.parent / "sample_data" / "tariff.toml")
SUB = "+79001234567"


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("audit") / "log.parquet"
    assert run("generate", path, "--rows", "6000", "--seed", "21", "--start", "2026-09-29", "--days", "33",
               "--accounts", "3").exit_code == 0
    return str(path)


# --- validate ------------------------------------------------------------------------------------


def test_validate_reports_every_problem(tmp_path):
    extra = tmp_path / "extra.csv"
    extra.write_text("message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
                     "x1,2026-10-05T09:00:00Z,shop,+7,in,text\n"
                     "x2,2026-10-05T09:01:00Z,shop,+7,out,video\n"          # not allowed in a session
                     "x1,2026-10-05T09:05:00Z,shop,+7,in,text\n"            # duplicate, other content
                     "x3,2027-01-01T00:00:00Z,shop,+7,out,sticker\n"        # future, unpriced
                     "x4,2026-09-01T00:00:00Z,shop,+7,out,text\n")          # before --since
    r = run("validate", CORPUS / "bad_timestamp.csv", CORPUS / "bad_direction.csv", CORPUS / "missing_column.csv",
            extra, "--tariff", TARIFF, "--now", "2026-11-24", "--since", "2026-09-30", "--format", "json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    codes = Counter(f["code"] for f in doc["findings"])
    assert codes == Counter({"bad_timestamp": 1, "bad_direction": 1, "missing_column": 1, "conflicting_duplicate": 1,
                             "type_not_allowed_in_session": 1, "future_timestamp": 1, "unpriced_type": 1,
                             "before_range": 1})
    dup = next(f for f in doc["findings"] if f["code"] == "conflicting_duplicate")
    assert dup["file"] == str(extra) and dup["row"] == 3 and dup["value"] == "x1"
    assert "first seen in" in dup["message"] and "row 1" in dup["message"]
    # the keys of a finding (validate.report_dict adds "severity"; tests/test_validate.py checks it)
    assert {"file", "row", "column", "code", "message", "value"} <= set(doc["findings"][0])


def test_validate_clean_log_exits_0():
    r = run("validate", CASES / "01_basic.csv", "--tariff", TARIFF, "--now", "2026-11-01", "--format", "table")
    assert r.exit_code == 0
    assert r.stdout.strip() == "3 rows in 1 file(s): no findings"


def test_validate_usage_error_exits_2():
    assert run("validate", CASES / "01_basic.csv", "--since", "yesterday").exit_code == 2


# --- sessions ------------------------------------------------------------------------------------


def test_sessions_filters_and_summary(log, tmp_path):
    out = tmp_path / "s.csv"
    r = run("sessions", log, "--tariff", TARIFF, "--period", "2026-10", "--close-reason", "unanswered_limit",
            "--billable", "--output", out)
    assert r.exit_code == 0, r.output
    rows = read_csv(out)
    assert rows and all(x["close_reason"] == "unanswered_limit" and x["billable"] == "true"
                        and x["start"].startswith("2026-10") for x in rows)
    assert r.stderr.startswith(f"{len(rows)} sessions; closed: unanswered_limit {len(rows)}; ")
    everything = tmp_path / "all.csv"
    run("sessions", log, "--tariff", TARIFF, "--output", everything)
    all_rows = read_csv(everything)
    assert len(rows) == sum(1 for x in all_rows if x["close_reason"] == "unanswered_limit"
                            and x["billable"] == "true" and x["start"].startswith("2026-10"))
    one = all_rows[0]
    r = run("sessions", log, "--tariff", TARIFF, "--account", one["business_id"], "--subscriber",
            one["subscriber_id"], "--format", "json")
    listed = json.loads(r.stdout)
    assert listed and all(x["subscriber_id"] == one["subscriber_id"] for x in listed)
    assert len(listed) == sum(1 for x in all_rows if x["subscriber_id"] == one["subscriber_id"]
                              and x["business_id"] == one["business_id"])
    sizes = sorted(int(x["inbound_messages"]) + int(x["outbound_messages"]) for x in listed)
    mid = len(sizes) // 2
    median = sizes[mid] if len(sizes) % 2 else (sizes[mid - 1] + sizes[mid]) / 2
    assert f"median {median:g} messages per session" in r.stderr


# --- explain -------------------------------------------------------------------------------------

CLOSE_WORDS = {"expired": "window expired at", "unanswered_limit": "closed at the 10th unanswered business message",
               "message_limit": "closed at the 60-message limit", "open": "still open at the end of the loaded data"}
OPEN_WORDS = {"subscriber": "opened by the subscriber's", "rollover": "opened by the 61st business message"}


@pytest.mark.parametrize("case", sorted(CASES.glob("*.csv")), ids=lambda p: p.stem)
def test_explain_names_the_reason_at_every_boundary(case):
    expected = json.loads(case.with_suffix(".expected.json").read_text())
    r = run("explain", case, "--tariff", TARIFF, "--business", "shop", "--subscriber", SUB, "--format", "json")
    assert r.exit_code == 0, r.output
    events = json.loads(r.stdout)["events"]
    opens = [e for e in events if e["kind"] == "session_open"]
    closes = [e for e in events if e["kind"] == "session_close"]
    assert [(e["start"], e["origin"], e["billable"]) for e in opens] == \
        [(s["start"], s["origin"], s["billable"]) for s in expected["sessions"]]
    assert [e["close_reason"] for e in closes] == [s["close_reason"] for s in expected["sessions"]]
    for e in opens:
        assert e["why"].startswith(OPEN_WORDS[e["origin"]])
    for e in closes:
        assert e["why"].startswith(CLOSE_WORDS[e["close_reason"]])
    messages = {e["message_id"]: e for e in events if e["kind"] == "message"}
    for mid, reason in expected["out_of_session"].items():
        assert messages[mid]["reason"] == reason and messages[mid]["unit_price"] is not None
    # the terminal timeline says the same
    text = run("explain", case, "--tariff", TARIFF, "--business", "shop", "--subscriber", SUB).stdout
    for e in closes:
        assert CLOSE_WORDS[e["close_reason"]] in text


def test_explain_one_session_and_unknown_conversation():
    case = CASES / "04_unanswered_limit.csv"
    r = run("explain", case, "--tariff", TARIFF, "--business", "shop", "--subscriber", SUB, "--format", "json",
            "--session", f"shop/{SUB}/20261005T093000Z")
    ids = [e["message_id"] for e in json.loads(r.stdout)["events"] if e["kind"] == "message"]
    assert ids == ["m99", "b99"]
    r = run("explain", case, "--tariff", TARIFF, "--business", "shop", "--subscriber", "nobody")
    assert r.exit_code == 2 and "no message between business 'shop' and subscriber 'nobody'" in r.stderr


def test_explain_charges_add_up_to_the_invoice():
    case = CASES / "10_type_not_allowed.csv"
    facts = json.loads(run("explain", case, "--tariff", TARIFF, "--business", "shop", "--subscriber", SUB,
                           "--format", "json").stdout)
    inv = json.loads(run("invoice", case, "--tariff", TARIFF, "--period", "2026-10", "--format", "json", "-q").stdout)
    fee = Decimal(inv["accounts"][0]["subscription_fee"])
    assert Decimal(facts["charges"]["total"]) + fee == Decimal(inv["total"])


# --- reconcile -----------------------------------------------------------------------------------


def _statement(log, tmp_path):
    sessions = tmp_path / "ours.csv"
    assert run("invoice", log, "--tariff", TARIFF, "--period", "2026-10", "-q", "--format", "json",
               "--sessions-out", sessions).exit_code == 0
    return [r for r in read_csv(sessions) if r["billable"] == "true" and r["start"].startswith("2026-10")]


def _write(rows, path):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _shift(ts, **delta):
    return (datetime.fromisoformat(ts.replace("Z", "+00:00")) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_reconcile_own_statement_has_no_differences(log, tmp_path):
    rows = _statement(log, tmp_path)
    r = run("reconcile", log, "--tariff", TARIFF, "--statement", _write(rows, tmp_path / "st.csv"),
            "--period", "2026-10", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"matched": len(rows), "shifted": 0, "only_ours": 0, "only_statement": 0}
    assert all(a["session_difference"] == 0 and a["amount_difference"] == "0.00" for a in doc["accounts"])
    assert doc["details"] == []


def test_reconcile_reports_exactly_the_changes(log, tmp_path):
    rows = _statement(log, tmp_path)
    by_conv = defaultdict(list)
    for r in rows:
        by_conv[(r["business_id"], r["subscriber_id"])].append(r)
    singles = [v[0] for v in by_conv.values() if len(v) == 1]
    deleted, shifted, template = singles[0], singles[1], singles[2]
    edited = [dict(r) for r in rows if r is not deleted]
    for r in edited:
        if r["session_id"] == shifted["session_id"]:
            r["start"] = _shift(r["start"], hours=2)
    added = dict(template, session_id="extra", start=_shift(template["start"], days=3))
    if not added["start"].startswith("2026-10"):
        added["start"] = _shift(template["start"], days=-3)
    edited.append(added)
    details = tmp_path / "details.csv"
    r = run("reconcile", log, "--tariff", TARIFF, "--statement", _write(edited, tmp_path / "st.csv"),
            "--period", "2026-10", "--format", "json", "--details", details)
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"matched": len(rows) - 2, "shifted": 1, "only_ours": 1, "only_statement": 1}
    diff = {a["business_id"]: (a["session_difference"], Decimal(a["amount_difference"])) for a in doc["accounts"]}
    want = defaultdict(lambda: [0, Decimal(0)])
    want[deleted["business_id"]][0] -= 1
    want[deleted["business_id"]][1] -= Decimal("1.20")
    want[added["business_id"]][0] += 1
    want[added["business_id"]][1] += Decimal("1.20")
    assert {b: v for b, v in diff.items() if v != (0, 0)} == {b: tuple(v) for b, v in want.items() if v != [0, 0]}
    got = {(d["status"], d["business_id"], d["subscriber_id"]) for d in read_csv(details)}
    assert got == {("only_ours", deleted["business_id"], deleted["subscriber_id"]),
                   ("shifted", shifted["business_id"], shifted["subscriber_id"]),
                   ("only_statement", added["business_id"], added["subscriber_id"])}
    shifted_row = next(d for d in read_csv(details) if d["status"] == "shifted")
    assert float(shifted_row["delta_seconds"]) == 7200
    # differences never net out: a deleted and an added session of one account are 2.40 apart
    gross = {a["business_id"]: Decimal(a["gross_difference"]) for a in doc["accounts"]}
    want_gross = defaultdict(Decimal)
    want_gross[deleted["business_id"]] += Decimal("1.20")
    want_gross[added["business_id"]] += Decimal("1.20")
    assert {b: g for b, g in gross.items() if g} == dict(want_gross)
    for tolerance, code in ((max(want_gross.values()), 0), (max(want_gross.values()) - Decimal("0.01"), 1)):
        r = run("reconcile", log, "--tariff", TARIFF, "--statement", tmp_path / "st.csv", "--period", "2026-10",
                "--format", "json", "--tolerance", tolerance)
        assert r.exit_code == code


def test_reconcile_per_account_and_day(log, tmp_path):
    messages, sessions = tmp_path / "m.csv", tmp_path / "s.csv"
    run("invoice", log, "--tariff", TARIFF, "--period", "2026-10", "-q", "--format", "json",
        "--messages-out", messages, "--sessions-out", sessions)
    tariff = load_tariff(TARIFF)
    days = defaultdict(lambda: [0, 0, Decimal(0)])
    for s in read_csv(sessions):
        if s["billable"] == "true":
            days[(s["business_id"], s["start"][:10])][0] += 1
            days[(s["business_id"], s["start"][:10])][2] += tariff.session_price
    for m in read_csv(messages):
        if m["billing"] == "out_of_session":
            key = (m["business_id"], m["timestamp"][:10])
            days[key][1] += 1
            days[key][2] += tariff.unit_price(m["direction"], m["message_type"])
    rows = [{"business_id": b, "date": d, "sessions": v[0], "out_of_session_messages": v[1], "amount": str(v[2])}
            for (b, d), v in sorted(days.items()) if d.startswith("2026-10")]
    r = run("reconcile", log, "--tariff", TARIFF, "--statement", _write(rows, tmp_path / "days.csv"),
            "--period", "2026-10", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["counts"]["differs"] == 0
    rows[3]["sessions"] = int(rows[3]["sessions"]) + 2
    rows[3]["amount"] = str(Decimal(rows[3]["amount"]) + Decimal("2.40"))
    r = run("reconcile", log, "--tariff", TARIFF, "--statement", _write(rows, tmp_path / "days.csv"),
            "--period", "2026-10", "--format", "json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 1 and doc["counts"]["differs"] == 1
    a = next(a for a in doc["accounts"] if a["business_id"] == rows[3]["business_id"])
    assert (a["session_difference"], a["amount_difference"]) == (2, "2.40")


@pytest.mark.parametrize("grain", ["session", "day"])
def test_reconcile_bad_amount_names_file_row_column_and_the_value_once(tmp_path, grain):
    statement = tmp_path / "st.csv"
    if grain == "session":
        # the first row is set aside (billable = false) and still counts: the bad value is on row 2
        statement.write_text("business_id,subscriber_id,start,amount,billable\n"
                             f"shop,{SUB},2026-10-05T09:00:00Z,1.20,false\n"
                             f'shop,{SUB},2026-10-05T09:00:00Z,"868,50",true\n', encoding="utf-8")
        args, column = (), "amount"
    else:
        statement.write_text("shop_id,date,sessions,out_of_session_messages,sum\n"
                             "shop,2026-10-05,1,0,1.20\n"
                             'shop,2026-10-06,1,0,"868,50"\n', encoding="utf-8")
        args, column = ("--statement-map", "business_id=shop_id", "--statement-map", "amount=sum"), "sum"
    r = run("reconcile", CASES / "01_basic.csv", "--tariff", TARIFF, "--statement", statement, *args)
    assert r.exit_code == 1
    assert r.stderr == (f"error: {statement}, row 2, column {column!r}: not a decimal amount: the decimal point must "
                        "be '.' (such as 868.50), without thousands separators: '868,50'\n")
    assert r.stderr.count("868,50") == 1


def test_reconcile_other_bad_amounts(tmp_path):
    statement = tmp_path / "st.csv"
    for value, message in (("abc", "not a decimal amount (such as 868.50)"), ("-3", "amount must not be negative")):
        statement.write_text(f"business_id,subscriber_id,start,amount\nshop,{SUB},2026-10-05T09:00:00Z,{value}\n",
                             encoding="utf-8")
        r = run("reconcile", CASES / "01_basic.csv", "--tariff", TARIFF, "--statement", statement)
        assert r.exit_code == 1
        assert r.stderr == f"error: {statement}, row 1, column 'amount': {message}: {value!r}\n"


# --- compare -------------------------------------------------------------------------------------


def test_compare_with_one_tariff_equals_invoice(log):
    inv = json.loads(run("invoice", log, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow",
                         "--format", "json", "-q").stdout)
    cmp = json.loads(run("compare", log, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow",
                         "--format", "json").stdout)
    inv.pop("generated_by")
    assert cmp["variants"][0]["invoice"] == inv
    assert cmp["totals"] == [inv["total"]]


def test_compare_per_message_prices_every_message(log, tmp_path):
    messages = tmp_path / "m.csv"
    run("invoice", log, "--tariff", TARIFF, "--period", "2026-10", "-q", "--format", "json", "--messages-out", messages)
    tariff = load_tariff(TARIFF)
    want = defaultdict(Decimal)
    for m in read_csv(messages):
        if m["billing"] in ("session", "out_of_session") and m["timestamp"].startswith("2026-10"):
            want[m["business_id"]] += tariff.unit_price(m["direction"], m["message_type"])
    cmp = json.loads(run("compare", log, "--tariff", TARIFF, "--period", "2026-10", "--per-message",
                         "--format", "json").stdout)
    assert len(cmp["variants"]) == 2 and cmp["variants"][1]["per_message"]
    got = {a["business_id"]: Decimal(a["totals"][1]) for a in cmp["accounts"]}
    assert got == dict(want)
    assert all(Decimal(d) == Decimal(a["totals"][1]) - Decimal(a["totals"][0])
               for a in cmp["accounts"] for d in a["differences"][1:])


def test_compare_what_if_limits(log, tmp_path):
    alt = tmp_path / "alt.toml"
    alt.write_text(Path(TARIFF).read_text().replace("window_hours = 24", "window_hours = 12")
                   .replace("max_unanswered = 10", "max_unanswered = 5"))
    a = json.loads(run("compare", log, "--tariff", TARIFF, "--period", "2026-10", "--window-hours", "12",
                       "--max-unanswered", "5", "--format", "json").stdout)
    b = json.loads(run("compare", log, "--tariff", TARIFF, "--tariff", alt, "--period", "2026-10",
                       "--format", "json").stdout)
    assert a["totals"] == b["totals"] and a["variants"][1]["name"].endswith("window_hours=12, max_unanswered=5")
    assert a["totals"][0] != a["totals"][1]


# --- reconcile under price plans -----------------------------------------------------------------

BANK_PLAN = ('\n[accounts."bank"]\nsession_price = "0.95"\n'
             '[accounts."bank".limits]\nwindow_hours = 12\n')


def _plan_tariff(tmp_path, extra=BANK_PLAN):
    path = tmp_path / "plans.toml"
    path.write_text(Path(TARIFF).read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


def _plan_statement(log, tariff, tmp_path):
    sessions = tmp_path / "ours.csv"
    assert run("invoice", log, "--tariff", tariff, "--period", "2026-10", "-q", "--format", "json",
               "--sessions-out", sessions).exit_code == 0
    return [r for r in read_csv(sessions) if r["billable"] == "true" and r["start"].startswith("2026-10")]


def test_reconcile_uses_the_accounts_session_price(log, tmp_path):
    tariff = _plan_tariff(tmp_path)
    rows = _plan_statement(log, tariff, tmp_path)
    n = Counter(r["business_id"] for r in rows)
    assert n["bank"] and n["shop"]
    # a statement made from our own sessions-out (no amount column): each account at its plan's price
    r = run("reconcile", log, "--tariff", tariff, "--statement", _write(rows, tmp_path / "st.csv"),
            "--period", "2026-10", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"matched": len(rows), "shifted": 0, "only_ours": 0, "only_statement": 0}
    assert doc["details"] == []
    amounts = {a["business_id"]: (a["our_amount"], a["statement_amount"], a["amount_difference"],
                                  a["gross_difference"]) for a in doc["accounts"]}
    bank = f"{n['bank'] * Decimal('0.95'):.2f}"
    assert amounts["bank"] == (bank, bank, "0.00", "0.00")
    shop = f"{n['shop'] * Decimal('1.20'):.2f}"
    assert amounts["shop"] == (shop, shop, "0.00", "0.00")
    # the same statement charging the top-level price differs for bank only, by 0.25 a session
    top = [dict(r, amount="1.20") for r in rows]
    details = tmp_path / "details.csv"
    r = run("reconcile", log, "--tariff", tariff, "--statement", _write(top, tmp_path / "top.csv"),
            "--period", "2026-10", "--format", "json", "--details", details)
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"matched": len(rows), "shifted": 0, "only_ours": 0, "only_statement": 0}
    diff = {a["business_id"]: (a["session_difference"], a["amount_difference"], a["gross_difference"])
            for a in doc["accounts"]}
    delta = f"{n['bank'] * Decimal('0.25'):.2f}"
    assert diff == {b: ((0, delta, delta) if b == "bank" else (0, "0.00", "0.00")) for b in n}
    listed = read_csv(details)
    assert len(listed) == n["bank"]
    assert {(d["status"], d["business_id"], d["our_amount"], d["statement_amount"], d["reason"]) for d in listed} == {
        ("matched", "bank", "0.95", "1.20", "statement charges 1.20 instead of 0.95")}


def test_reconcile_uses_the_accounts_window(log, tmp_path):
    tariff = _plan_tariff(tmp_path)
    rows = _plan_statement(log, tariff, tmp_path)
    by_conv = defaultdict(list)
    for r in rows:
        by_conv[(r["business_id"], r["subscriber_id"])].append(r)

    def single(account):
        return next(v[0] for k, v in sorted(by_conv.items()) if k[0] == account and len(v) == 1
                    and _shift(v[0]["start"], hours=13).startswith("2026-10"))

    bank, shop = single("bank"), single("shop")
    edited = [dict(r, start=_shift(r["start"], hours=13)) if r in (bank, shop) else r for r in rows]
    details = tmp_path / "details.csv"
    r = run("reconcile", log, "--tariff", tariff, "--statement", _write(edited, tmp_path / "st.csv"),
            "--period", "2026-10", "--format", "json", "--details", details)
    doc = json.loads(r.stdout)
    # 13 h apart: within shop's 24 h window (the same session, shifted), beyond bank's 12 h window
    assert doc["counts"] == {"matched": len(rows) - 2, "shifted": 1, "only_ours": 1, "only_statement": 1}
    got = {(d["status"], d["business_id"], d["subscriber_id"]) for d in read_csv(details)}
    assert got == {("shifted", "shop", shop["subscriber_id"]), ("only_ours", "bank", bank["subscriber_id"]),
                   ("only_statement", "bank", bank["subscriber_id"])}
    only = next(d for d in read_csv(details) if d["status"] == "only_ours")
    assert (only["our_amount"], only["statement_amount"]) == ("0.95", "0.00")


def test_reconcile_per_day_with_account_prices_and_zones(log, tmp_path):
    from viber_sessions.countries import region_of

    tariff_path = _plan_tariff(tmp_path, '\n[accounts."bank"]\nsession_price = "0.95"\n'
                                         '[accounts."bank".outbound_prices]\ntext = "0.70"\n'
                                         '[[accounts."bank".zones]]\nname = "home"\ncountries = ["RU"]\n'
                                         'inbound_price = "0.05"\n'
                                         '[accounts."bank".zones.outbound_prices]\nimage = "1.05"\n')
    tariff = load_tariff(tariff_path)
    messages, sessions = tmp_path / "m.csv", tmp_path / "s.csv"
    inv = json.loads(run("invoice", log, "--tariff", tariff_path, "--period", "2026-10", "-q", "--format", "json",
                         "--messages-out", messages, "--sessions-out", sessions).stdout)
    plan_days = defaultdict(lambda: [0, 0, Decimal(0)])
    top_days = defaultdict(lambda: [0, 0, Decimal(0)])
    zoned = Counter()
    for s in read_csv(sessions):
        if s["billable"] == "true":
            for days, price in ((plan_days, tariff.plan(s["business_id"]).session_price),
                                (top_days, tariff.session_price)):
                days[(s["business_id"], s["start"][:10])][0] += 1
                days[(s["business_id"], s["start"][:10])][2] += price
    for m in read_csv(messages):
        if m["billing"] == "out_of_session":
            key = (m["business_id"], m["timestamp"][:10])
            plan = tariff.plan(m["business_id"])
            unit, zone = plan.lookup(m["direction"], m["message_type"], plan.zone_of(region_of(m["subscriber_id"])))
            zoned[zone] += 1
            for days, price in ((plan_days, unit), (top_days, tariff.unit_price(m["direction"], m["message_type"]))):
                days[key][1] += 1
                days[key][2] += price
    assert zoned["home"] and zoned[""]

    def statement(days, name):
        rows = [{"business_id": b, "date": d, "sessions": v[0], "out_of_session_messages": v[1], "amount": str(v[2])}
                for (b, d), v in sorted(days.items()) if d.startswith("2026-10")]
        return _write(rows, tmp_path / name)

    r = run("reconcile", log, "--tariff", tariff_path, "--statement", statement(plan_days, "plan.csv"),
            "--period", "2026-10", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["counts"]["differs"] == 0 and doc["details"] == []
    # our amounts per account are the invoice's usage (sessions + out-of-session, no fee)
    usage = {a["business_id"]: a["usage"] for a in inv["accounts"]}
    assert {a["business_id"]: a["our_amount"] for a in doc["accounts"]} == usage
    # a statement at the top-level prices differs on exactly bank's days, by exactly the price differences
    r = run("reconcile", log, "--tariff", tariff_path, "--statement", statement(top_days, "top.csv"),
            "--period", "2026-10", "--format", "json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    want = {k for k in plan_days if k[1].startswith("2026-10") and plan_days[k][2] != top_days[k][2]}
    assert want and all(b == "bank" for b, _ in want)
    assert doc["counts"]["differs"] == len(want)
    assert {(d["business_id"], d["key"]) for d in doc["details"]} == want
    net = sum((top_days[k][2] - plan_days[k][2] for k in want), Decimal(0))
    assert {a["business_id"]: Decimal(a["amount_difference"]) for a in doc["accounts"] if a["amount_difference"]
            != "0.00"} == {"bank": net}


def test_own_sessions_out_with_formula_like_ids_is_a_valid_statement(tmp_path):
    """CSV neutralisation (a leading ') and the statement reader (removes exactly one) meet."""
    from click.testing import CliRunner

    from viber_sessions.cli import cli

    tariff = Path(__file__).parent / "cases" / "invoice" / "tariff.toml"
    log = tmp_path / "log.csv"
    log.write_text("message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
                   "i1,2026-10-01T10:00:00Z,=shop,'quoted,inbound,text\n"
                   "o1,2026-10-01T10:01:00Z,=shop,'quoted,outbound,text\n"
                   "i2,2026-10-02T10:00:00Z,@bank,+79001234567,inbound,text\n"
                   "o2,2026-10-02T10:01:00Z,@bank,+79001234567,outbound,text\n")
    runner = CliRunner()
    r = runner.invoke(cli, ["invoice", str(log), "--tariff", str(tariff), "--period", "2026-10", "-q",
                            "--sessions-out", str(tmp_path / "s.csv"), "-o", str(tmp_path / "inv.json")])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "s.csv").read_text()
    assert "'=shop" in text and "''quoted" in text and "'@bank" in text
    r = runner.invoke(cli, ["reconcile", str(log), "--tariff", str(tariff), "--statement", str(tmp_path / "s.csv"),
                            "--period", "2026-10", "--format", "json"])
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["within_tolerance"] and doc["details"] == []


def test_sessions_with_rejects_refuses_an_account_no_row_has(tmp_path):
    """--rejects takes the full run (not the pushdown): a typo'd --account is refused there too."""
    log = tmp_path / "log.csv"
    log.write_text("message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
                   "m1,2026-10-01T10:00:00Z,shop,+79001,inbound,text\n"
                   "m2,2026-10-01T10:01:00Z,shop,+79001,outbound,text\n")
    tariff = str(Path(__file__).resolve().parents[1] / "sample_data" / "tariff.toml")
    args = ["sessions", str(log), "--tariff", tariff, "--on-invalid", "skip", "--rejects", str(tmp_path / "r.csv"),
            "--format", "csv"]
    bad = CliRunner().invoke(cli, args + ["--account", "shpo"])
    assert bad.exit_code == 1
    assert bad.stderr == ("error: --account 'shpo': no row of the loaded log belongs to this account "
                          "(did you mean 'shop'?)\n")
    good = CliRunner().invoke(cli, args + ["--account", "shop"])
    assert good.exit_code == 0 and good.stdout.count("\n") == 2
