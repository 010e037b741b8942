"""Every engine gives the same files: invoice JSON, --messages-out and --sessions-out (CSV and
Parquet) byte-identical between the in-memory engine, the out-of-core one (a limit that forces
many buckets, parts and merge steps) and Dask (one local cluster, shared with
tests/test_dask_engine.py); the `sessions` command the same on every engine and by pushdown."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from test_dask_engine import client  # noqa: F401  (the one cluster of the test session)
from test_scale import on_two_file_logs, two_files
from viber_sessions import core, sessionlist
from viber_sessions.cli import cli
from viber_sessions.outofcore import runs

HERE = Path(__file__).parent
TARIFF = str(HERE.parent / "sample_data" / "tariff.toml")
TRAVELLER = "+79005550000"          # a subscriber whose first message id occurs earlier elsewhere


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("engines")
    a, b = root / "a.parquet", root / "b.csv"
    for path, seed, start in ((a, 51, "2026-09-27"), (b, 52, "2026-10-08")):
        r = run("generate", path, "--rows", "3000", "--seed", seed, "--start", start, "--days", "30")
        assert r.exit_code == 0, r.output
    pq.write_table(pq.read_table(a), a, row_group_size=700)          # several Dask pieces, blank-free
    first = pq.read_table(a).slice(10, 1).to_pylist()[0]
    with open(b, "a", encoding="utf-8") as fh:
        fh.write(f"{first['message_id']},2026-10-20T10:00:00Z,bank,{TRAVELLER},inbound,text,\n")   # a duplicate
        fh.write(f"t-2,2026-10-20T10:01:00Z,bank,{TRAVELLER},outbound,text,\n")
        fh.write(f"t-3,2026-10-21T10:01:00Z,bank,{TRAVELLER},inbound,text,\n")
        fh.write(f"t-4,2026-10-21T10:02:00Z,bank,{TRAVELLER},outbound,text,\n")
        fh.write("bad,not-a-time,bank,+79009999999,inbound,text,\n")
        fh.write("short,row\n")
    return [str(a), str(b)], first


def engine_args(name, client):  # noqa: F811
    return {"local": [], "memory_limit": ["--memory-limit", "64KB"],
            "dask": ["--engine", "dask", "--scheduler", client.scheduler.address]}[name]


ENGINES = ["local", "memory_limit", "dask"]


def test_every_engine_writes_the_same_files(client, logs, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(runs, "PART_ROWS", 1000)         # several row groups in each file
    files, _ = logs
    got = {}
    for name in ENGINES:
        out = {k: tmp_path / f"{name}-{k}" for k in ("m.csv", "m.parquet", "s.csv", "s.parquet")}
        for suffix in ("csv", "parquet"):
            r = run("invoice", *files, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow",
                    "--on-invalid", "skip", "--format", "json", "-q", "--messages-out", out[f"m.{suffix}"],
                    "--sessions-out", out[f"s.{suffix}"], *engine_args(name, client))
            assert r.exit_code == 0, r.output
            doc = json.loads(r.stdout)
            doc.pop("generated_by")
            got[name, "invoice", suffix] = doc
        for k, path in out.items():
            got[name, k] = path.read_bytes()
    for key in [k for k in got if k[0] == "local"]:
        assert got[("memory_limit",) + key[1:]] == got[key], key
        assert got[("dask",) + key[1:]] == got[key], key
    messages = pq.read_table(tmp_path / "dask-m.parquet")
    assert messages.num_rows == 6006 and pq.ParquetFile(tmp_path / "dask-m.parquet").metadata.num_row_groups == 7
    assert messages.column("billing").to_pylist().count("rejected") == 2
    assert got["local", "invoice", "csv"]["rows"]["duplicates"] >= 1


@pytest.mark.parametrize("name", ENGINES)
def test_sessions_command_on_every_engine(client, logs, name, tmp_path):  # noqa: F811
    files, _ = logs
    base = ["sessions", *files, "--tariff", TARIFF, "--on-invalid", "skip", "--tz", "Asia/Tokyo"]
    for filters in ([], ["--period", "2026-10", "--billable"], ["--close-reason", "unanswered_limit"]):
        whole = run(*base, *filters, "--format", "csv")
        mine = run(*base, *filters, "--format", "csv", *engine_args(name, client))
        assert mine.exit_code == whole.exit_code == 0, mine.output
        assert mine.stdout == whole.stdout and mine.stderr == whole.stderr
        assert whole.stdout.count("\n") > 10 and " sessions; closed: " in whole.stderr
    for fmt in ("json", "table"):
        whole = run(*base, "--format", fmt, "--limit", "5", env={"COLUMNS": "60"})
        mine = run(*base, "--format", fmt, "--limit", "5", *engine_args(name, client), env={"COLUMNS": "60"})
        assert mine.exit_code == 0 and mine.output == whole.output
    out = {}
    for which, extra in (("whole", []), ("mine", engine_args(name, client))):
        out[which] = tmp_path / f"{which}.parquet"
        assert run(*base, "--output", out[which], *extra).exit_code == 0
    assert out["mine"].read_bytes() == out["whole"].read_bytes()


@pytest.mark.parametrize("filters", [["--subscriber", TRAVELLER], ["--account", "bank"],
                                     ["--account", "bank", "--subscriber", TRAVELLER, "--subscriber", "+7000"],
                                     ["--subscriber", "id-of-nobody"]])
def test_sessions_of_some_conversations_by_pushdown(logs, filters, tmp_path, monkeypatch):
    """--account/--subscriber read only those conversations (and the rows sharing their ids):
    the rows and the summary line of the full run (which --rejects forces)."""
    files, first = logs
    base = ["sessions", *files, "--tariff", TARIFF, "--on-invalid", "skip", *filters]
    full = run(*base, "--rejects", tmp_path / "r.csv", "--format", "csv")
    assert full.exit_code == 0, full.output

    def whole_log(*a, **kw):
        raise AssertionError("the whole log was loaded")

    monkeypatch.setattr(core, "run", whole_log)
    monkeypatch.setattr(core, "prepare", whole_log)
    pushed = run(*base, "--format", "csv")
    assert pushed.exit_code == 0, pushed.output
    assert (pushed.stdout, pushed.stderr) == (full.stdout, full.stderr)
    if filters == ["--subscriber", TRAVELLER]:
        # the subscriber's first message repeats an id of another conversation: a duplicate,
        # so the business's answer at 10:01 opens nothing, the next day's message does
        assert full.stdout.count("\n") == 2 and "20261021T100100Z" in full.stdout
        assert full.stderr.startswith("1 sessions;")


def test_summary_of_parts_equals_the_summary_of_the_whole(logs):
    files, _ = logs
    result = core.run(core.Request(inputs=files, tariff=TARIFF, period="2026-10", on_invalid="skip"))
    table = next(result.sessions("UTC"))
    parts = sessionlist.Summary()
    for start in range(0, table.num_rows, 97):
        parts.add(table.slice(start, 97))
    seg = result.segmentation
    mask = sessionlist.select(seg)
    sizes = seg.s_inbound.astype("int64") + seg.s_outbound
    import numpy as np

    assert parts.as_dict() == sessionlist.summary(table)
    assert parts.as_dict()["median_messages"] == float(np.median(sizes[mask]))
    assert parts.as_dict()["billable_share"] == round(float(seg.s_billable.mean()), 4)


@on_two_file_logs(30)
def test_audit_tables_out_of_core_equal_in_memory_on_random_logs(rows, split, tz, tmp_path_factory):
    root = tmp_path_factory.mktemp("random")
    table, request = two_files(rows, split, tz, root)
    if table.num_rows == 0:
        return
    whole = core.run(request)
    with core.run(request, core.OutOfCore(memory_limit=2000, workdir=str(root))) as parts:
        assert pa.concat_tables(list(parts.messages())).equals(next(whole.messages()))
        assert pa.concat_tables(list(parts.sessions(tz))).equals(next(whole.sessions(tz)))
        only = sessionlist.Filter(close_reasons=("open", "expired"))
        assert pa.concat_tables(list(parts.sessions(tz, only))).equals(next(whole.sessions(tz, only)))
    assert [p.name for p in root.iterdir() if p.name.startswith("viber-sessions-")] == []
