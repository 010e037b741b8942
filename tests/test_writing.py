"""viber_sessions.writing: suffixes, output checks, the staged output set, CSV neutralisation;
and the CLI promises built on them (issue "No silent harm", section 2)."""

from __future__ import annotations

import csv
import io
import os
import signal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from viber_sessions import writing
from viber_sessions.cli import cli
from viber_sessions.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
LOG = str(ROOT / "tests" / "cases" / "invoice" / "messages.csv")
TARIFF = str(ROOT / "tests" / "cases" / "invoice" / "tariff.toml")


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# --- suffixes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path, kind", [("a.csv", "csv"), ("A.CSV.GZ", "csv"), ("a.parquet", "parquet"),
                                        ("a.pq", "parquet")])
def test_table_suffixes(path, kind):
    assert writing.output_format(path, ("csv", "parquet")) == kind


@pytest.mark.parametrize("path", ["inv.pdf", "s.xlsx", "a.json", "noext", "a.csv.bak"])
def test_unknown_table_suffix_is_a_usage_error(path):
    with pytest.raises(UsageError, match="use a name ending in .csv, .csv.gz, .parquet, .pq"):
        writing.output_format(path, ("csv", "parquet"), "--messages-out")


def test_special_files_take_the_first_format():
    assert writing.output_format("/dev/null", ("json", "csv")) == "json"


# --- checks before any work ----------------------------------------------------------------------

def test_output_onto_an_input_is_refused(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("x")
    link = tmp_path / "link.csv"
    link.symlink_to(log)
    for path in (log, link):
        with pytest.raises(UsageError, match="is an input"):
            writing.check_outputs({"--output": str(path)}, [str(log)])


def test_two_outputs_on_one_file_are_refused(tmp_path):
    with pytest.raises(UsageError, match="are the same file"):
        writing.check_outputs({"--output": str(tmp_path / "a.csv"), "--rejects": str(tmp_path / "." / "a.csv")}, [])


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        writing.check_outputs({"--output": str(tmp_path / "no" / "a.csv")}, [])


def test_cli_refuses_output_onto_input_before_reading(tmp_path):
    log = tmp_path / "log.csv"
    log.write_bytes(Path(LOG).read_bytes())
    before = log.read_bytes()
    for option in ("--output", "--messages-out", "--rejects"):
        name = str(log) if option == "--output" else str(tmp_path / "link.csv")
        if option != "--output" and not (tmp_path / "link.csv").exists():
            (tmp_path / "link.csv").symlink_to(log)
        r = run("invoice", str(log), "--tariff", TARIFF, "--period", "2026-10", option, name)
        assert r.exit_code == 2, r.output
        assert r.stderr.count("\n") == 1 and "is an input" in r.stderr
    tariff = tmp_path / "t.toml"
    tariff.write_bytes(Path(TARIFF).read_bytes())
    (tmp_path / "t.csv").symlink_to(tariff)
    r = run("invoice", str(log), "--tariff", str(tariff), "--period", "2026-10", "--messages-out", str(tmp_path / "t.csv"))
    assert r.exit_code == 2 and "is an input" in r.stderr and tariff.read_bytes() == Path(TARIFF).read_bytes()
    assert log.read_bytes() == before


def test_unknown_output_suffixes_are_usage_errors(tmp_path):
    r = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "-o", str(tmp_path / "inv.pdf"))
    assert r.exit_code == 2 and "--output" in r.stderr and not (tmp_path / "inv.pdf").exists()
    r = run("sessions", LOG, "--tariff", TARIFF, "-o", str(tmp_path / "s.xlsx"))
    assert r.exit_code == 2 and not (tmp_path / "s.xlsx").exists()
    r = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--rejects", str(tmp_path / "r.txt"),
            "--memory-limit", "64MB")
    assert r.exit_code == 2 and "--rejects" in r.stderr


# --- the output set ------------------------------------------------------------------------------

def test_a_failed_run_leaves_the_old_files_and_no_temporary(tmp_path):
    (tmp_path / "inv.json").write_text("old")
    r = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "-o", str(tmp_path / "inv.json"),
            "--messages-out", str(tmp_path / "m.parquet"), "--sessions-out", "/nonexistent/s.csv")
    assert r.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inv.json"]
    assert (tmp_path / "inv.json").read_text() == "old"


def test_output_set_commits_together_or_not_at_all(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    with pytest.raises(RuntimeError):
        with writing.OutputSet() as out:
            Path(out.stage(str(a))).write_text("new a")
            Path(out.stage(str(b))).write_text("new b")
            raise RuntimeError("boom")
    assert a.read_text() == "old a" and not b.exists() and len(list(tmp_path.iterdir())) == 1
    with writing.OutputSet() as out:
        Path(out.stage(str(a))).write_text("new a")
        Path(out.stage(str(b))).write_text("new b")
    assert a.read_text() == "new a" and b.read_text() == "new b" and len(list(tmp_path.iterdir())) == 2


def test_signals_are_held_off_while_committing(tmp_path, monkeypatch):
    from viber_sessions import entry

    seen = []
    monkeypatch.setattr(signal, "getsignal", signal.getsignal)
    old = signal.signal(signal.SIGTERM, entry._on_signal)
    try:
        def replace(src, dst):
            if not seen:                       # a SIGTERM arrives in the middle of the commit
                os.kill(os.getpid(), signal.SIGTERM)
            seen.append(dst)
            os.rename(src, dst)

        monkeypatch.setattr(writing.os, "replace", replace)
        with pytest.raises(entry.Terminated):
            with writing.OutputSet() as out:
                Path(out.stage(str(tmp_path / "a.txt"))).write_text("a")
                Path(out.stage(str(tmp_path / "b.txt"))).write_text("b")
    finally:
        signal.signal(signal.SIGTERM, old)
    # the signal acted only once both files were in place, and no temporary is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"] and len(seen) == 2


def test_character_devices_are_written_in_place():
    r = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "-o", "/dev/null")
    assert r.exit_code == 0
    assert Path("/dev/null").is_char_device()


def test_disk_full_is_one_line_naming_the_path(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    r = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "-q", "-o", "/dev/full")
    assert r.exit_code == 1
    assert r.stderr == "error: cannot write /dev/full: no space left on the device\n"


def test_generate_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "g.csv"
    out.write_text("keep")
    r = run("generate", str(out), "--rows", "10")
    assert r.exit_code == 2 and out.read_text() == "keep" and "--force" in r.stderr
    assert run("generate", str(out), "--rows", "10", "--force").exit_code == 0
    assert out.read_text().startswith('"message_id",')


# --- CSV neutralisation --------------------------------------------------------------------------

@pytest.mark.parametrize("value, written", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("@SUM(1+1)", "'@SUM(1+1)"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"), ("\tx", "'\tx"), ("'quoted", "''quoted"),
    ("+79001234567", "+79001234567"), ("-12.50", "-12.50"), ("007", "007"), ("shop", "shop"), ("", "")])
def test_neutralise_text(value, written):
    assert writing.neutralise_text(value) == written


def test_neutralised_table_keeps_parquet_and_numbers(tmp_path):
    t = pa.table({"id": pa.array(["=1+1", "+79001234567", "a"]).dictionary_encode(), "n": [1, -2, 3]})
    csv_path, pq_path = tmp_path / "t.csv", tmp_path / "t.parquet"
    writing.write_table(t, str(csv_path), str(csv_path))
    writing.write_table(t, str(pq_path), str(pq_path))
    rows = list(csv.reader(io.StringIO(csv_path.read_text())))
    assert rows == [["id", "n"], ["'=1+1", "1"], ["+79001234567", "-2"], ["a", "3"]]
    assert pq.read_table(pq_path).column("id").to_pylist() == ["=1+1", "+79001234567", "a"]


def test_cli_csv_outputs_are_neutralised(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
                   "=HYPERLINK(1),2026-10-01T10:00:00Z,@SUM(1+1),+79001234567,inbound,text\n"
                   "m2,2026-10-01T10:01:00Z,@SUM(1+1),+79001234567,outbound,text\n")
    r = run("invoice", str(log), "--tariff", TARIFF, "--period", "2026-10", "--format", "csv", "-q",
            "--messages-out", str(tmp_path / "m.csv"), "--sessions-out", str(tmp_path / "s.csv"))
    assert r.exit_code == 0, r.output
    assert "\n2026-10,'@SUM(1+1),subscription_fee," in r.stdout
    messages = list(csv.DictReader(io.StringIO((tmp_path / "m.csv").read_text())))
    assert [m["message_id"] for m in messages] == ["'=HYPERLINK(1)", "m2"]
    assert {m["business_id"] for m in messages} == {"'@SUM(1+1)"}
    assert {m["subscriber_id"] for m in messages} == {"+79001234567"}
    sessions = list(csv.DictReader(io.StringIO((tmp_path / "s.csv").read_text())))
    assert [s["session_id"] for s in sessions] == ["'@SUM(1+1)/+79001234567/20261001T100000Z"]
    r = run("sessions", str(log), "--tariff", TARIFF, "--format", "csv", "-q")
    assert "'@SUM(1+1)" in r.stdout and "\n@" not in r.stdout and ",@" not in r.stdout


def test_data_outputs_inside_an_input_folder_are_refused(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "day1.csv").write_bytes(Path(LOG).read_bytes())
    r = run("invoice", str(logs), "--tariff", TARIFF, "--period", "2026-10", "--messages-out",
            str(logs / "sub" / ".." / "audit.csv"))
    assert r.exit_code == 2 and "is inside the input folder" in r.stderr
    assert sorted(p.name for p in logs.iterdir()) == ["day1.csv"]
    # an invoice JSON is no log: it may live there
    r = run("invoice", str(logs), "--tariff", TARIFF, "--period", "2026-10", "-q", "-o", str(logs / "inv.json"))
    assert r.exit_code == 0 and (logs / "inv.json").exists()


# --- typed tables: Parquet keeps the types, CSV and JSON show text ----------------------------

def test_as_text_shows_timestamps_as_iso_text_and_rejected_rows_as_written():
    from decimal import Decimal

    ns = [1_791_190_800_000_000_000, None, 1_791_190_800_250_000_000]
    table = pa.table({"timestamp": pa.array(ns, pa.timestamp("ns", tz="UTC")),
                      "raw_timestamp": pa.array([None, "not-a-date", None], pa.string()),
                      "amount": pa.array([Decimal("1.20"), None, Decimal("0")], pa.decimal128(38, 2)),
                      "kind": pa.array(["a", "b", "a"]).dictionary_encode()})
    text = writing.as_text(table)
    assert text.column("timestamp").to_pylist() == ["2026-10-05T09:00:00Z", "not-a-date", "2026-10-05T09:00:00.25Z"]
    assert text.column("kind").type == pa.string() and text.column("amount").type == pa.decimal128(38, 2)
    assert writing.csv_bytes(table).decode().splitlines() == [
        '"timestamp","raw_timestamp","amount","kind"', '"2026-10-05T09:00:00Z",,1.20,"a"',
        '"not-a-date","not-a-date",,"b"', '"2026-10-05T09:00:00.25Z",,0.00,"a"']
    assert writing.parquet_ready(table).schema.field("kind").type == pa.string()
    assert writing.parquet_ready(table).schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")


def test_audit_parquet_files_are_typed_and_csv_files_are_text(tmp_path):
    args = ["invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow", "-q", "--format",
            "json", "-o", str(tmp_path / "i.json")]
    assert run(*args, "--messages-out", str(tmp_path / "m.parquet"), "--sessions-out", str(tmp_path / "s.parquet")
               ).exit_code == 0
    assert run(*args, "--messages-out", str(tmp_path / "m.csv"), "--sessions-out", str(tmp_path / "s.csv")
               ).exit_code == 0
    m, s = pq.read_table(tmp_path / "m.parquet"), pq.read_table(tmp_path / "s.parquet")
    assert m.schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    assert m.schema.field("amount").type == pa.decimal128(38, 2)
    assert s.schema.field("start").type == s.schema.field("expires_at").type == pa.timestamp("ns", tz="UTC")
    assert m.schema.field("business_id").type == pa.string()
    with open(tmp_path / "m.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["timestamp"] for r in rows] == writing.as_text(m).column("timestamp").to_pylist()
    assert [r["amount"] for r in rows] == [("" if a is None else str(a)) for a in m.column("amount").to_pylist()]
