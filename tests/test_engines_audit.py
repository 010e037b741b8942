"""The audit commands on every engine: compare, reconcile and validate give the in-memory
answer within a memory limit (several buckets) and on Dask (one local cluster for the module)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from viber_sessions import chunked
from viber_sessions.chunked import Plan
from viber_sessions.cli import cli
from viber_sessions.load import LoadOptions
from viber_sessions.tariff import load_tariff
from viber_sessions.validate import bounded, report_dict, validate

HERE = Path(__file__).parent
TARIFF = str(HERE.parent / "sample_data" / "tariff.toml")
NOW = 1_798_761_600 * 10**9          # 2027-01-01T00:00:00Z


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """A Parquet log in several row groups and a CSV log with bad rows, a suspicious account id
    whose clean twin is in the other file, and ids repeated across the files with other content."""
    root = tmp_path_factory.mktemp("engines")
    a, b = root / "a.parquet", root / "b.csv"
    for path, seed, start, rows in ((a, 51, "2026-09-28", 4000), (b, 52, "2026-10-03", 3000)):
        r = CliRunner().invoke(cli, ["generate", str(path), "--rows", str(rows), "--seed", str(seed), "--start", start,
                                     "--days", "33"])
        assert r.exit_code == 0, r.output
    pq.write_table(pq.read_table(a), a, row_group_size=900)
    first = pq.read_table(a).slice(0, 3).to_pylist()
    with open(b, "a", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["bad1", "not-a-time", "bank", "+79009999999", "inbound", "text", ""])
        w.writerow(["odd1", "2026-10-10T10:00:00Z", "shop ", "+79001112233", "inbound", "text", ""])
        w.writerow(["odd2", "2026-10-10T10:01:00Z", "shop ", "+79001112233", "outbound", "video", ""])
        for row in first:                      # the same ids as a.parquet's first rows, other subscriber
            w.writerow([row["message_id"], "2026-10-11T10:00:00Z", row["business_id"], "+79005550000",
                        "outbound", "text", ""])
        w.writerow(["bad2", "2026-10-12T10:00:00Z", "bank", "+79009999999", "sideways", "text", ""])
    return [str(a), str(b)]


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture
def many_buckets(monkeypatch):
    """--memory-limit 64MB with these small logs: several buckets all the same."""
    monkeypatch.setattr(chunked, "BYTES_PER_ROW", 64 * 2**20 // 1500)
    monkeypatch.setattr(bounded, "plan", lambda files, limit: Plan(buckets=5, batch_rows=700, rows_estimate=0))


def run(*args) -> str:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code in (0, 1), r.output
    return r.stdout


ENGINES = [[], ["--memory-limit", "64MB"], ["--engine", "dask", "--scheduler", "SCHEDULER"]]


def engine_args(args, scheduler):
    return [scheduler if a == "SCHEDULER" else a for a in args]


def test_compare_is_the_same_on_every_engine(logs, scheduler, many_buckets):
    command = ["compare", *logs, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Asia/Tokyo", "--on-invalid",
               "skip", "--window-hours", "12", "--max-unanswered", "4", "--per-message", "--format", "json"]
    outputs = [run(*command, *engine_args(e, scheduler)) for e in ENGINES]
    assert len(json.loads(outputs[0])["variants"]) == 3
    assert outputs[1] == outputs[0]
    assert outputs[2] == outputs[0]


def test_compare_writes_the_same_rejects_on_every_engine(logs, tmp_path, many_buckets):
    files = []
    for k, e in enumerate(ENGINES[:2]):
        out = tmp_path / f"rejects{k}.csv"
        run("compare", *logs, "--tariff", TARIFF, "--period", "2026-10", "--on-invalid", "skip", "--rejects", out,
            "--format", "json", *e)
        files.append(out.read_text(encoding="utf-8"))
    assert files[0].count("\n") == 3 and files[1] == files[0]


def test_reconcile_is_the_same_on_every_engine(logs, scheduler, tmp_path, many_buckets):
    sessions = tmp_path / "sessions.csv"
    run("invoice", *logs, "--tariff", TARIFF, "--period", "2026-10", "--on-invalid", "skip", "--format", "json",
        "--sessions-out", sessions)
    lines = sessions.read_text(encoding="utf-8").splitlines()
    gone = next(k for k, line in enumerate(lines) if line.endswith(',true,"2026-10"'))   # one billed session missing
    (tmp_path / "st.csv").write_text("\n".join(lines[:gone] + lines[gone + 1:]) + "\n", encoding="utf-8")
    session = next(csv.DictReader(lines[:1] + lines[gone:gone + 1]))
    day = dt.datetime.fromisoformat(session["start"]).astimezone(ZoneInfo("Europe/Moscow")).date()
    days = tmp_path / "days.csv"             # a day of ours, with other figures
    days.write_text(f"business_id,date,sessions,out_of_session_messages,amount\n{session['business_id']},{day},"
                    "30,40,5000.00\n", encoding="utf-8")
    for statement in (tmp_path / "st.csv", days):
        command = ["reconcile", *logs, "--tariff", TARIFF, "--statement", statement, "--period", "2026-10",
                   "--tz", "Europe/Moscow", "--on-invalid", "skip", "--format", "json"]
        outputs = [run(*command, *engine_args(e, scheduler)) for e in ENGINES]
        assert json.loads(outputs[0])["counts"]["only_ours" if statement != days else "differs"] >= 1
        assert outputs[1] == outputs[0]
        assert outputs[2] == outputs[0]


def test_validate_within_a_memory_limit_equals_memory(logs, many_buckets):
    tariff = load_tariff(TARIFF)
    kw = dict(now_ns=NOW, since_ns=1_790_812_800 * 10**9)
    whole = report_dict(validate(logs + ["missing.csv"], LoadOptions(), tariff, **kw))
    within = report_dict(validate(logs + ["missing.csv"], LoadOptions(), tariff, memory_limit=64 * 2**20, **kw))
    assert within == whole
    counts = whole["counts"]
    for code in ("bad_timestamp", "bad_direction", "missing_file", "suspicious_id", "conflicting_duplicate",
                 "type_not_allowed_in_session", "before_range"):
        assert counts.get(code), code
    assert counts["conflicting_duplicate"] >= 3          # the generator also repeats ids across the two files
    shop = next(f for f in whole["findings"] if f["code"] == "suspicious_id")
    assert "apart from 'shop' (also in the log)" in shop["message"]


def test_validate_command_takes_a_memory_limit(logs, many_buckets):
    base = ["validate", *logs, "--tariff", TARIFF, "--now", "2027-01-01", "--format", "json"]
    assert run(*base, "--memory-limit", "64MB") == run(*base)


def test_compare_in_memory_loads_the_log_once(logs, monkeypatch):
    """Three variants, one load of the log (segmented per distinct set of limits)."""
    from viber_sessions import core

    loads = []
    real = core.load

    def counting(*args, **kw):
        loads.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(core, "load", counting)
    out = run("compare", *logs, "--tariff", TARIFF, "--period", "2026-10", "--on-invalid", "skip", "--window-hours",
              "12", "--per-message", "--format", "json")
    assert len(json.loads(out)["variants"]) == 3
    assert len(loads) == 1
