"""validate on every engine: the report made on a Dask cluster (and within a memory limit) is
the in-memory one, byte for byte, on random and crafted logs (one local cluster for the module)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from viber_sessions import core, dask_engine
from viber_sessions.chunked import Plan
from viber_sessions.cli import cli
from viber_sessions.errors import UsageError
from viber_sessions.load import LoadOptions
from viber_sessions.tariff import load_tariff
from viber_sessions.validate import bounded, report_dict, validate

HERE = Path(__file__).parent
TARIFF_PATH = str(HERE.parent / "sample_data" / "tariff.toml")
TARIFF = load_tariff(TARIFF_PATH)
NOW = 1_792_000_000 * 10**9          # 2026-10-15T...Z: some rows are in the future
SINCE = 1_790_900_000 * 10**9        # 2026-10-02T...Z: some rows are before the range
COLUMNS = ["message_id", "timestamp", "business_id", "subscriber_id", "direction", "message_type", "status"]


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture(autouse=True)
def small_parts(monkeypatch):
    """Parquet files in several pieces on Dask, several buckets and batches within a limit."""
    monkeypatch.setattr(dask_engine, "PIECE_ROWS", 150)
    monkeypatch.setattr(bounded, "plan", lambda files, limit: Plan(buckets=4, batch_rows=170, rows_estimate=0))


def random_rows(seed: int, n: int) -> list[list]:
    """Rows drawn from small pools: repeated message ids (some with other content), ids with a
    space or an invisible character beside their clean twins, one subscriber under two spellings,
    bad timestamps and directions, an unpriced type, video (not allowed in a session)."""
    rng = np.random.default_rng(seed)
    businesses = ["bank", "shop", "shop ", "bank\u200b", "telco"]
    subscribers = ["+79001112233", "79001112233", "+79005556677", "+79007778899", " +79007778899",
                   *[f"+7901000{k:04d}" for k in range(12)]]
    types = ["text", "text", "image", "video", "file", "sticker"]
    directions = ["inbound", "outbound", "outbound", "in", "mt", "sideways"]
    statuses = ["", "", "", "delivered", "failed"]
    start = 1_790_812_800                                       # 2026-10-01T00:00:00Z
    rows = []
    for _ in range(n):
        ts = start + int(rng.integers(0, 20 * 86400))
        stamp = "not-a-time" if rng.random() < 0.01 else \
            f"{np.datetime64(ts, 's').astype(str)}Z" if rng.random() < 0.7 else str(ts)
        rows.append([f"m{int(rng.integers(0, int(n * 0.9)))}", stamp, str(rng.choice(businesses, p=[.4, .3, .05, .05, .2])),
                     str(rng.choice(subscribers)), str(rng.choice(directions, p=[.4, .3, .2, .04, .05, .01])),
                     str(rng.choice(types)), str(rng.choice(statuses))])
    return rows


def write_parquet(path: Path, rows: list[list], blank_at=(), row_group_size: int = 100) -> str:
    """``rows`` as a Parquet file of string columns, with all-empty (blank) rows at ``blank_at``."""
    rows = [list(r) for r in rows]
    for i in sorted(blank_at, reverse=True):
        rows.insert(i, [None] * len(COLUMNS))
    table = pa.table({c: pa.array([r[k] for r in rows], pa.string()) for k, c in enumerate(COLUMNS)})
    pq.write_table(table, path, row_group_size=row_group_size)
    return str(path)


def write_csv(path: Path, rows: list[list], columns=COLUMNS) -> str:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        w.writerows(rows)
    return str(path)


def reports(inputs, scheduler, tariff=TARIFF, **kw) -> tuple[dict, dict, dict]:
    """The report in memory, within a memory limit and on the cluster."""
    kw = {"now_ns": NOW, "since_ns": SINCE, **kw}
    whole = report_dict(validate(inputs, LoadOptions(), tariff, **kw))
    within = report_dict(validate(inputs, LoadOptions(), tariff, engine=core.OutOfCore(64 * 2**20), **kw))
    on_dask = report_dict(validate(inputs, LoadOptions(), tariff, engine=core.Dask(scheduler), **kw))
    return whole, within, on_dask


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_logs_give_the_same_report_on_every_engine(tmp_path, scheduler, seed):
    rows = random_rows(seed, 900)
    rng = np.random.default_rng(seed)
    blanks = sorted(rng.choice(np.arange(1, 500), size=4, replace=False).tolist())
    a = write_parquet(tmp_path / "a.parquet", rows[:500], blank_at=blanks)      # blank rows in several pieces
    b = write_csv(tmp_path / "b.csv", rows[500:])
    whole, within, on_dask = reports([a, b], scheduler)
    assert len(dask_engine.pieces([a])) >= 3
    assert within == whole
    assert on_dask == whole
    for code in ("bad_timestamp", "bad_direction", "suspicious_id", "conflicting_duplicate", "unpriced_type",
                 "type_not_allowed_in_session", "future_timestamp", "before_range", "subscriber_spellings"):
        assert whole["counts"].get(code), code


def test_crafted_log_with_unreadable_files(tmp_path, scheduler):
    """Files left out (missing, a Parquet and a CSV file without a column) beside readable ones,
    a suspicious id whose clean twin is only in another file, duplicates across files, a
    spelling seen only in a rejected row, blank rows in the Parquet file's later pieces."""
    a = write_parquet(tmp_path / "a.parquet", random_rows(7, 400), blank_at=[120, 260, 261])
    nocol = tmp_path / "nocol.parquet"
    pq.write_table(pa.table({c: pa.array(["x"], pa.string()) for c in COLUMNS if c != "direction"}), nocol)
    bad_csv = write_csv(tmp_path / "nocol.csv", [["m1", "2026-10-05T10:00:00Z", "bank", "+79001112233", "text"]],
                        ["message_id", "timestamp", "business_id", "subscriber_id", "message_type"])
    first = pq.read_table(a).slice(0, 4).to_pylist()
    c = write_csv(tmp_path / "c.csv", [
        ["c1", "2026-10-05T10:00:00Z", "acme", "+79002223344", "inbound", "text", ""],
        ["c2", "2026-10-05T10:01:00Z", "acme", "+79002223344", "outbound", "video", ""],
        ["c3", "bad", "acme", "7 (900) 222-33-44", "inbound", "text", ""],     # only spelling: rejected row
        ["c4", "2026-10-05T10:03:00Z", "acme\u00a0", "+79002223344", "inbound", "text", ""],
        *[[r["message_id"], "2026-10-06T10:00:00Z", r["business_id"], "+79009990000", "outbound", "text", ""]
          for r in first if r["message_id"] is not None],
    ])
    inputs = [a, str(nocol), str(tmp_path / "missing.csv"), bad_csv, c]
    whole, within, on_dask = reports(inputs, scheduler)
    assert within == whole
    assert on_dask == whole
    assert whole["counts"]["missing_file"] == 1 and whole["counts"]["missing_column"] == 2
    acme = [f for f in whole["findings"] if f["code"] == "suspicious_id" and f["value"] == "acme\u00a0"]
    assert "apart from 'acme' (also in the log)" in acme[0]["message"]
    spelled = [f["message"] for f in whole["findings"] if f["code"] == "subscriber_spellings"]
    assert spelled[0].startswith("3 subscribers appear under more than one spelling")


def test_no_tariff_and_no_valid_row(tmp_path, scheduler):
    rows = [["x1", "bad", "bank", "+79001112233", "inbound", "text", ""],
            ["x2", "2026-10-05T10:00:00Z", "bank", "79001112233", "sideways", "text", ""]]
    only_bad = write_csv(tmp_path / "bad.csv", rows)
    empty = write_csv(tmp_path / "empty.csv", [])
    for inputs in ([only_bad], [empty], [only_bad, empty]):
        whole, within, on_dask = reports(inputs, scheduler, tariff=None)
        assert within == whole and on_dask == whole, inputs
    assert whole["by_severity"]["error"] == 2


def test_validate_command_on_dask_prints_the_in_memory_report(tmp_path, scheduler):
    rows = random_rows(11, 600)
    a = write_parquet(tmp_path / "a.parquet", rows[:350], blank_at=[3, 200])
    b = write_csv(tmp_path / "b.csv", rows[350:])
    base = ["validate", a, b, "--tariff", TARIFF_PATH, "--now", "2026-10-15", "--since", "2026-10-02", "--format",
            "json"]
    outputs = [CliRunner().invoke(cli, base + extra) for extra in
               ([], ["--memory-limit", "64MB"], ["--engine", "dask", "--scheduler", scheduler])]
    assert [r.exit_code for r in outputs] == [1, 1, 1], [r.output for r in outputs]
    assert json.loads(outputs[0].stdout)["counts"]["unpriced_type"] == 1
    assert outputs[1].stdout == outputs[0].stdout
    assert outputs[2].stdout == outputs[0].stdout


def test_standard_input_is_refused_on_dask():
    with pytest.raises(UsageError, match="standard input cannot be validated with --engine dask"):
        validate(["-"], LoadOptions(), engine=core.Dask("tcp://127.0.0.1:1"))
