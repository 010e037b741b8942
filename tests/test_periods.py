"""Several periods in one run: parsing, and each period's figures equal a single-period run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import viber_sessions as vs
from viber_sessions import billing
from viber_sessions.billing import bill_periods
from viber_sessions.cli import cli
from viber_sessions.errors import UsageError
from viber_sessions.periods import parse_periods
from viber_sessions.render import invoice_dict
from viber_sessions.status import coverage
from viber_sessions.timeutil import Period

CASES = Path(__file__).parent / "cases" / "invoice"
SAMPLE = Path(__file__).parent.parent / "sample_data"


def test_ranges_and_repeats_are_sorted_and_refuse_duplicates():
    sel = parse_periods(["2026-11..2027-02"])
    assert [str(p) for p in sel.periods] == ["2026-11", "2026-12", "2027-01", "2027-02"] and sel.several
    sel = parse_periods(["2026-10", "2026-03"])
    assert [str(p) for p in sel.periods] == ["2026-03", "2026-10"] and sel.several
    assert not parse_periods(["2026-10"]).several
    assert parse_periods(["2026-10..2026-10"]).several          # the syntax decides the shape
    with pytest.raises(UsageError, match="2026-10 given more than once"):
        parse_periods(["2026-09..2026-11", "2026-10"])
    with pytest.raises(UsageError, match="ends before it starts"):
        parse_periods(["2026-11..2026-10"])
    with pytest.raises(UsageError, match="YYYY-MM"):
        parse_periods(["2026-13..2027-01"])


def test_each_period_equals_a_single_period_run():
    log = vs.load([str(SAMPLE / "messages.parquet")])
    tariff = vs.load_tariff(str(SAMPLE / "tariff.toml"))
    seg = vs.segment(log, tariff)
    periods = [Period.parse(p, "Europe/Moscow") for p in ("2026-09", "2026-10", "2026-11", "2026-12")]
    many = bill_periods(seg, tariff, periods)
    for p, inv in zip(periods, many):
        assert invoice_dict(inv) == invoice_dict(billing.bill(seg, tariff, p))
    gap = bill_periods(seg, tariff, [periods[0], periods[2]])
    assert [invoice_dict(i) for i in gap] == [invoice_dict(many[0]), invoice_dict(many[2])]


def test_final_and_provisional_on_crafted_coverage():
    oct_ = Period.parse("2026-10")
    day = 86400 * 10**9
    lo, hi = oct_.start_ns, oct_.end_ns
    assert coverage(lo - day, hi + day, oct_, day).status == "final"
    assert coverage(lo - day + 1, hi + day, oct_, day).status == "provisional"     # one ns short at the start
    assert coverage(lo - day, hi + day - 1, oct_, day).status == "provisional"     # and at the end
    assert coverage(lo - 1, hi + day, oct_, day, state_cut=lo, state_from=lo - 90 * day).status == "final"
    assert coverage(lo, hi + day, oct_, day, state_cut=lo, state_from=lo - 90 * day).data_from == lo - 90 * day
    # data that starts after the state's cut: the span between them is not covered
    assert coverage(lo + 1, hi + day, oct_, day, state_cut=lo, state_from=lo - 90 * day).status == "provisional"
    assert coverage(lo + 1, hi + day, oct_, day, state_cut=lo).data_from == lo + 1
    older = lo - 30 * day                                          # a state of the month before the last
    assert coverage(lo - day // 2, hi + day, oct_, day, state_cut=older).status == "provisional"
    assert coverage(lo - day, hi + day, oct_, day, state_cut=older).status == "final"   # the data alone reaches back
    c = coverage(lo, hi, oct_, day, open_sessions=3)
    assert c.as_dict() == {"data_from": "2026-10-01T00:00:00Z", "data_to": "2026-11-01T00:00:00Z",
                           "needed_from": "2026-09-30T00:00:00Z", "needed_to": "2026-11-02T00:00:00Z",
                           "open_sessions": 3}


def test_cli_range_gives_the_list_shape_and_csv_rows_of_every_period():
    args = ["invoice", str(CASES / "messages.csv"), "--tariff", str(CASES / "tariff.toml"), "--tz", "Europe/Moscow"]
    r = CliRunner().invoke(cli, [*args, "--period", "2026-09..2026-11", "--format", "json", "-q"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [i["period"] for i in doc["invoices"]] == ["2026-09", "2026-10", "2026-11"]
    assert doc["generated_by"]["timezone"] == "Europe/Moscow"
    one = json.loads(CliRunner().invoke(cli, [*args, "--period", "2026-10", "--format", "json", "-q"]).stdout)
    one.pop("generated_by")
    assert doc["invoices"][1] == one
    assert one["status"] == "provisional" and one["coverage"]["open_sessions"] == 1
    r = CliRunner().invoke(cli, [*args, "--period", "2026-10", "--period", "2026-09", "--format", "csv", "-q"])
    lines = r.stdout.splitlines()
    assert lines[0].startswith("period,") and lines.count(lines[0]) == 1
    assert {line.split(",")[0] for line in lines[1:]} == {"2026-09", "2026-10"}
    r = CliRunner().invoke(cli, [*args, "--period", "2026-10", "--period", "2026-10"])
    assert r.exit_code == 2 and "given more than once" in r.stderr


def test_table_shows_the_status_at_60_columns():
    r = CliRunner().invoke(cli, ["invoice", str(CASES / "messages.csv"), "--tariff", str(CASES / "tariff.toml"),
                                 "--tz", "Europe/Moscow", "--period", "2026-10", "--format", "table", "-q"],
                           env={"COLUMNS": "60"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "Invoice 2026-10 (Europe/Moscow), provisional, amounts in RUB"
    assert max(len(line) for line in lines) <= 60
    assert any(line.startswith("Provisional: final once the data covers 2026-09-29T21:00:00Z") for line in lines)


@pytest.mark.parametrize("text", ["0000-01", "0001-01", "9999-12", "1999-12", "2100-01", "1970-01"])
def test_a_month_that_can_hold_no_valid_timestamp_is_refused(text):
    with pytest.raises(UsageError, match=rf"--period {text}: no valid timestamp lies in this month"):
        parse_periods([text])
    with pytest.raises(UsageError, match="no valid timestamp"):
        parse_periods([f"{text}..2026-01" if text < "2026" else f"2026-01..{text}"])
    r = CliRunner().invoke(cli, ["invoice", str(CASES / "messages.csv"), "--tariff", str(CASES / "tariff.toml"),
                                 "--period", text, "--format", "json"])
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == (f"error: --period {text}: no valid timestamp lies in this month (valid instants lie in "
                        "[2000-01-01, 2100-01-01) UTC)\n")


def test_the_first_and_last_months_that_hold_valid_timestamps_are_accepted():
    assert [str(p) for p in parse_periods(["2000-01", "2099-12"]).periods] == ["2000-01", "2099-12"]
    assert str(parse_periods(["1999-12"], "America/New_York").first) == "1999-12"   # ends 2000-01-01T05:00Z
    assert str(parse_periods(["2100-01"], "Asia/Tokyo").first) == "2100-01"         # starts 2099-12-31T15:00Z
    with pytest.raises(UsageError, match="no valid timestamp"):
        parse_periods(["1999-12"], "Asia/Tokyo")
