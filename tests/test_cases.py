"""The worked examples of the rules (copied from shared/cases into tests/cases)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from viber_sessions.cli import cli

CASES = Path(__file__).parent / "cases"
TARIFF = CASES / "invoice" / "tariff.toml"
CASE_FILES = sorted(CASES.glob("*.csv"))


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_cases_are_present():
    assert len(CASE_FILES) >= 12


@pytest.mark.parametrize("case", CASE_FILES, ids=lambda p: p.stem)
def test_worked_example(case, tmp_path):
    expected = json.loads(case.with_suffix(".expected.json").read_text())
    messages, sessions = tmp_path / "m.csv", tmp_path / "s.csv"
    result = CliRunner().invoke(cli, ["invoice", str(case), "--tariff", str(TARIFF), "--period", "2026-10",
                                      "--format", "json", "--messages-out", str(messages),
                                      "--sessions-out", str(sessions)])
    assert result.exit_code == 0, result.output
    rows = _read_csv(messages)
    groups = defaultdict(list)
    billing = {}
    for row in rows:
        if row["billing"] == "session":
            groups[row["session_id"]].append(row["message_id"])
        billing[row["message_id"]] = (row["billing"], row["reason"])
    # billable sessions and their messages
    want = sorted(sorted(s["messages"]) for s in expected["sessions"] if s["billable"])
    assert sorted(sorted(g) for g in groups.values()) == want
    # out-of-session messages and their reasons
    got_oos = {m: r for m, (b, r) in billing.items() if b == "out_of_session"}
    assert got_oos == expected["out_of_session"]
    # every session (billable or not): start, origin, close reason
    table = _read_csv(sessions)
    got = [(s["start"], s["origin"], s["close_reason"], s["billable"] == "true") for s in table]
    assert got == [(s["start"], s["origin"], s["close_reason"], s["billable"]) for s in expected["sessions"]]


@pytest.mark.parametrize("expected_file", sorted((CASES / "invoice").glob("expected-*.json")), ids=lambda p: p.stem)
def test_worked_invoice(expected_file):
    expected = json.loads(expected_file.read_text())
    result = CliRunner().invoke(cli, ["invoice", str(CASES / "invoice" / "messages.csv"), "--tariff", str(TARIFF),
                                      "--period", expected["period"], "--tz", expected["timezone"],
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)

    def digest(inv):
        return {a["business_id"]: (a["sessions"]["count"], a["in_session_messages"],
                                   sorted((l["direction"], l["message_type"], l["count"]) for l in a["out_of_session"]),
                                   Decimal(a["total"]))
                for a in inv["accounts"]}

    assert digest(got) == digest(expected)
    assert Decimal(got["total"]) == Decimal(expected["total"])
    assert got["rows"]["duplicates"] == expected["rows"]["duplicates"]
    rows = got["rows"]
    assert rows["read"] == rows["duplicates"] + rows["rejected"] + rows["excluded"] + rows["in_session"] \
        + rows["out_of_session"] == 18
