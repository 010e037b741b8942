"""Generated logs, through the real CLI, as CSV and Parquet, in several billing time zones,
compared row by row with the reference implementation."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from viber_sessions.cli import cli
from viber_sessions.load import load
from viber_sessions.tariff import load_tariff
from viber_sessions.timeutil import Period

from reference import reference_invoice, reference_segment

TARIFF = str(Path(__file__).parent.parent / "sample_data" / "tariff.toml")


def reference_rows(path):
    """The loaded rows as plain dicts (loading is tested on its own; this checks the rules)."""
    log = load(path)
    types = log.message_type_names().to_pylist()
    statuses = log.status_names().to_pylist()
    return [{"message_id": m, "ts": int(t), "business": b, "subscriber": s, "inbound": bool(i), "type": ty,
             "status": st}
            for m, t, b, s, i, ty, st in zip(log.message_id.to_pylist(), log.timestamp,
                                             log.businesses.take(log.business).to_pylist(),
                                             log.subscribers.take(log.subscriber).to_pylist(), log.inbound,
                                             types, statuses)]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    made = {}
    for seed in (11, 12):
        for fmt in ("csv", "parquet"):
            path = root / f"log{seed}.{fmt}"
            r = CliRunner().invoke(cli, ["generate", str(path), "--rows", "4000", "--seed", str(seed),
                                         "--start", "2026-09-25", "--days", "40", "--accounts", "3"])
            assert r.exit_code == 0, r.output
            made[(seed, fmt)] = str(path)
    return made


@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("tz", ["UTC", "Europe/Moscow", "America/Los_Angeles", "Asia/Tokyo"])
def test_cli_equals_reference(logs, seed, fmt, tz, tmp_path):
    path = logs[(seed, fmt)]
    out = tmp_path / "messages.csv"
    r = CliRunner().invoke(cli, ["invoice", path, "--tariff", TARIFF, "--period", "2026-10", "--tz", tz,
                                 "--format", "json", "--messages-out", str(out), "-q"])
    assert r.exit_code == 0, r.stderr
    rows = reference_rows(path)
    tariff = load_tariff(TARIFF)
    billing, reason, session_of, _ = reference_segment(rows, tariff.limits)
    with open(out, newline="", encoding="utf-8") as fh:
        got = list(csv.DictReader(fh))
    assert [g["message_id"] for g in got] == [r["message_id"] for r in rows]
    assert [(g["billing"], g["reason"]) for g in got] == list(zip(billing, reason))
    # the same messages share a session
    ours, theirs = defaultdict(set), defaultdict(set)
    for k, g in enumerate(got):
        if g["billing"] == "session":
            ours[g["session_id"]].add(k)
            theirs[id(session_of[k])].add(k)
    assert sorted(map(sorted, ours.values())) == sorted(map(sorted, theirs.values()))
    period = Period.parse("2026-10", tz)
    want, want_total = reference_invoice(rows, tariff.limits, tariff, period.start_ns, period.end_ns)
    doc = json.loads(r.stdout)
    assert {a["business_id"]: (a["sessions"]["count"], a["in_session_messages"],
                               {(l["direction"], l["message_type"]): l["count"] for l in a["out_of_session"]},
                               Decimal(a["total"])) for a in doc["accounts"]} == want
    assert Decimal(doc["total"]) == want_total
