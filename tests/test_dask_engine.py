"""--engine dask: the same kernel on a Dask cluster gives exactly the in-memory invoice."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from distributed import Client

from viber_sessions import core, dask_engine
from viber_sessions.cli import cli
from viber_sessions.render import invoice_dict

HERE = Path(__file__).parent
TARIFF = str(HERE.parent / "sample_data" / "tariff.toml")


_CLUSTER: dict = {}


def shared_client() -> Client:
    """One local cluster for every test module that needs one (tests/test_engines.py too)."""
    if "client" not in _CLUSTER:
        _CLUSTER["cluster"] = dask_engine.local_cluster(2, processes=True)      # no dashboard, no port 8787
        _CLUSTER["client"] = Client(_CLUSTER["cluster"])
    return _CLUSTER["client"]


@pytest.fixture(scope="session")
def client():
    yield shared_client()
    if "client" in _CLUSTER:
        _CLUSTER.pop("client").close()
        _CLUSTER.pop("cluster").close()


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask")
    a, b = root / "a.parquet", root / "b.csv"
    for path, seed, start in ((a, 41, "2026-09-28"), (b, 42, "2026-10-05")):
        r = CliRunner().invoke(cli, ["generate", str(path), "--rows", "5000", "--seed", str(seed), "--start", start,
                                     "--days", "35"])
        assert r.exit_code == 0
    with open(b, "a", encoding="utf-8") as fh:
        fh.write("bad,not-a-time,bank,+79009999999,inbound,text,\n")
    pq.write_table(pq.read_table(a), a, row_group_size=1000)      # several pieces per file
    return [str(a), str(b)]


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo"])
def test_dask_equals_in_memory(client, logs, tz, monkeypatch):
    monkeypatch.setattr(dask_engine, "PIECE_ROWS", 1500)
    assert len(dask_engine.pieces(logs)) == 4
    request = core.Request(inputs=logs, tariff=TARIFF, period="2026-10", tz=tz, on_invalid="skip")
    whole = core.run_invoice(request).invoice
    on_cluster = dask_engine.run_invoice(request, client=client, buckets=5)
    assert invoice_dict(on_cluster.invoice) == invoice_dict(whole)
    assert on_cluster.invoice.rows.rejected == 1
    assert on_cluster.rejected.column("file_row").to_pylist() == [5001]


def test_dask_reports_the_first_bad_row(client, logs):
    request = core.Request(inputs=logs, tariff=TARIFF, period="2026-10")
    with pytest.raises(Exception) as info:
        dask_engine.run_invoice(request, client=client)
    assert "b.csv, row 5001, column 'timestamp'" in str(info.value)


def test_pieces_cut_parquet_by_row_groups(logs, monkeypatch):
    monkeypatch.setattr(dask_engine, "PIECE_ROWS", 1)
    ps = dask_engine.pieces(logs)
    assert [(p.row_groups, p.base) for p in ps] == [((g,), g * 1000) for g in range(5)] + [(None, 0)]


def test_dask_audit_tables_equal_in_memory(client, logs, monkeypatch):
    """Result.messages() and Result.sessions(tz) of a Dask run: the in-memory rows in the
    in-memory order (rows numbered across pieces with blank rows, rejected rows among them)."""
    monkeypatch.setattr(dask_engine, "PIECE_ROWS", 1500)
    request = core.Request(inputs=logs, tariff=TARIFF, period="2026-10", tz="Asia/Tokyo", on_invalid="skip")
    whole = core.run(request)
    with core.run(request, core.Dask(client.scheduler.address)) as on_cluster:
        for kind, mine, theirs in (("messages", on_cluster.messages(), whole.messages()),
                                   ("sessions", on_cluster.sessions("Asia/Tokyo"), whole.sessions("Asia/Tokyo"))):
            assert pa.concat_tables(list(mine)).equals(next(theirs)), kind


def test_rows_of_pieces_become_global_rows():
    import numpy as np

    offsets = np.array([0, 10, 25])
    stats = [{"file_index": 1, "base": 0}, {"file_index": 0, "base": 0, "shift": 0},
             {"file_index": 0, "base": 6, "shift": 2}]
    rows = dask_engine.Rows.of(stats, offsets)
    keys = np.array([0, 5, 8, 9, (1 << dask_engine.ROW_BITS) + 3])
    assert rows.globalize(keys).tolist() == [0, 5, 6, 7, 13]


def test_local_workers_ignore_sigint(client):
    import signal

    ignored = client.run(lambda: signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
    assert len(ignored) == 2 and all(ignored.values())


def test_a_local_cluster_leaves_no_scratch_space(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))      # $TMPDIR
    client, cluster = dask_engine.client_for("local")
    try:
        folders = list(tmp_path.iterdir())
        assert len(folders) == 1 and folders[0].name.startswith("viber-sessions-dask-")
        assert client.submit(lambda x: x + 1, 1).result() == 2
    finally:
        dask_engine.close((client, cluster))
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_on_the_process_group_prints_one_line(tmp_path):
    """A terminal's Ctrl-C signals the whole process group: the workers ignore it, the run says
    "interrupted" in one line, exits 130 and leaves no scratch space behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from viber_sessions.generate import GeneratorOptions, write_log

    log = str(tmp_path / "log.parquet")
    write_log(log, GeneratorOptions(rows=400_000, seed=3))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "viber_sessions", "invoice", log, "--tariff", TARIFF, "--period",
                             "2026-10", "--engine", "dask", "--scheduler", "local", "-o", str(tmp_path / "inv.json")],
                            env={**os.environ, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:      # until every worker has started
        workers = [p for p in scratch.glob("viber-sessions-dask-*/dask-scratch-space/worker-*")]
        if len(workers) >= min(2, os.cpu_count() or 1):
            break
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (130, "interrupted\n")
    time.sleep(0.5)                                # the workers are gone with the cluster
    assert list(scratch.iterdir()) == []
