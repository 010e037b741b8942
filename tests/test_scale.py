"""Out-of-core billing (--memory-limit) gives exactly the in-memory invoice."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from viber_sessions.errors import InputError
from click.testing import CliRunner

from viber_sessions import chunked
from viber_sessions.cli import cli

HERE = Path(__file__).parent
TARIFF = str(HERE.parent / "sample_data" / "tariff.toml")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def invoice(*args):
    r = run("invoice", *args, "--tariff", TARIFF, "--format", "json", "-q")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    doc.pop("generated_by")
    return doc


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    a, b = root / "a.parquet", root / "b.csv"
    assert run("generate", a, "--rows", "6000", "--seed", "31", "--start", "2026-09-28", "--days", "36").exit_code == 0
    assert run("generate", b, "--rows", "4000", "--seed", "32", "--start", "2026-10-10", "--days", "30").exit_code == 0
    # a message id of file a again in file b, in another conversation: a duplicate across buckets
    first = pq.read_table(a).slice(0, 1).to_pylist()[0]
    with open(b, "a", encoding="utf-8") as fh:
        fh.write(f"{first['message_id']},2026-10-20T10:00:00Z,bank,+79009999999,inbound,text,\n")
        fh.write("broken,not-a-time,bank,+79009999999,inbound,text,\n")
        fh.write("short,row\n")
    return [str(a), str(b)]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Moscow", "America/New_York"])
def test_tiny_memory_limit_equals_in_memory(logs, tz):
    base = ["--period", "2026-10", "--tz", tz, "--on-invalid", "skip"]
    whole = invoice(*logs, *base)
    parts = invoice(*logs, *base, "--memory-limit", "200KB")
    assert parts == whole
    assert whole["rows"]["rejected"] == 2 and whole["rows"]["duplicates"] >= 1


def test_plan_uses_many_buckets_for_a_tiny_limit(logs):
    p = chunked.plan(logs, chunked.parse_memory("200KB"))
    assert p.buckets > 10


def test_account_filter_and_errors_in_chunked_mode(logs, tmp_path):
    assert invoice(*logs, "--period", "2026-10", "--account", "taxi", "--on-invalid", "skip") == \
        invoice(*logs, "--period", "2026-10", "--account", "taxi", "--on-invalid", "skip", "--memory-limit", "100KB")
    r = run("invoice", *logs, "--tariff", TARIFF, "--period", "2026-10", "--memory-limit", "100KB")
    assert r.exit_code == 1
    assert "b.csv, row 4002, column 'timestamp'" in r.stderr and "(and 1 more problem;" in r.stderr
    assert r.stderr == run("invoice", *logs, "--tariff", TARIFF, "--period", "2026-10").stderr
    r = run("invoice", *logs, "--tariff", TARIFF, "--period", "2026-10", "--memory-limit", "100KB",
            "--messages-out", tmp_path / "m.csv")
    assert r.exit_code == 1 and not (tmp_path / "m.csv").exists()      # the bad row, not the output, stops it
    assert run("invoice", *logs, "--tariff", TARIFF, "--period", "2026-10", "--memory-limit", "lots").exit_code == 2


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_audit_files_in_chunked_mode_equal_in_memory(logs, tmp_path, suffix):
    """--messages-out and --sessions-out with a tiny limit (many buckets, many runs): the bytes
    of the in-memory run, the rejected rows among the others, and again on a re-run."""
    files = {}
    for name, extra in (("whole", []), ("parts", ["--memory-limit", "100KB"]), ("again", ["--memory-limit", "100KB"])):
        m, s = tmp_path / f"{name}-m.{suffix}", tmp_path / f"{name}-s.{suffix}"
        r = run("invoice", *logs, "--tariff", TARIFF, "--period", "2026-10", "--on-invalid", "skip", "-q",
                "--format", "json", "--messages-out", m, "--sessions-out", s, *extra)
        assert r.exit_code == 0, r.output
        files[name] = (m.read_bytes(), s.read_bytes())
    assert files["parts"] == files["whole"] == files["again"]
    if suffix == "parquet":
        messages = pq.read_table(tmp_path / "parts-m.parquet")
        assert messages.num_rows == 10003
        assert messages.column("billing").to_pylist().count("rejected") == 2


def test_rejects_file_in_chunked_mode(logs, tmp_path):
    out = tmp_path / "rejects.csv"
    r = run("invoice", *logs, "--tariff", TARIFF, "--period", "2026-10", "--memory-limit", "100KB",
            "--on-invalid", "skip", "--rejects", out, "--format", "json", "-q")
    assert r.exit_code == 0, r.output
    rows = pa.csv.read_csv(out).to_pylist()
    assert [(x["file_row"], x["code"]) for x in rows] == [(4002, "bad_timestamp"), (4003, "malformed_row")]


def test_parse_memory():
    assert chunked.parse_memory("4GB") == 4 * 2**30
    assert chunked.parse_memory("512 MiB") == 512 * 2**20
    assert chunked.parse_memory("1.5g") == int(1.5 * 2**30)
    assert chunked.parse_memory("1000") == 1000


# --- generated logs: the partitioned path equals the in-memory one, whatever the data -----------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_properties import logs as random_logs, to_table  # noqa: E402
from viber_sessions import core  # noqa: E402
from viber_sessions.render import invoice_dict  # noqa: E402
from viber_sessions.tariff import load_tariff  # noqa: E402


def two_files(rows, split: int, tz: str, root: Path):
    """The random log ``rows`` as two Parquet files cut at row ``split``, and the request that
    bills them for 2026-10 in ``tz`` (every type priced)."""
    table = to_table(rows)
    split = min(split, table.num_rows)
    paths = [str(root / "a.parquet"), str(root / "b.parquet")]
    pq.write_table(table.slice(0, split), paths[0])
    pq.write_table(table.slice(split), paths[1])
    tariff = load_tariff(TARIFF).replace(default_outbound_price=load_tariff(TARIFF).outbound_price("video"))
    return table, core.Request(inputs=paths, tariff=tariff, period="2026-10", tz=tz)


def on_two_file_logs(examples: int):
    """A property test over random logs cut into two files (``rows``, ``split``, ``tz``: the
    arguments of :func:`two_files`), ``examples`` of them."""
    def decorate(test):
        return settings(max_examples=examples, deadline=None, suppress_health_check=[
            HealthCheck.too_slow, HealthCheck.function_scoped_fixture])(given(
                rows=random_logs(max_rows=80, spread=300), split=st.integers(0, 80),
                tz=st.sampled_from(["UTC", "Asia/Kolkata"]))(test))
    return decorate


@on_two_file_logs(40)
def test_partitioned_equals_in_memory_on_random_logs(rows, split, tz, tmp_path_factory):
    root = tmp_path_factory.mktemp("random")
    table, request = two_files(rows, split, tz, root)
    if table.num_rows == 0:             # no data rows at all: both engines refuse, with the same line
        with pytest.raises(InputError) as in_memory:
            core.run_invoice(request)
        with pytest.raises(InputError) as chunked:
            core.run_invoice_chunked(request, memory_limit=2000)
        assert str(in_memory.value) == str(chunked.value)
        return
    whole = core.run_invoice(request).invoice
    parts = core.run_invoice_chunked(request, memory_limit=2000).invoice
    assert invoice_dict(parts) == invoice_dict(whole)
