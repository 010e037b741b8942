"""viber_sessions.core: the pipeline every command runs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from viber_sessions import core
from viber_sessions.cli import cli

CASES = Path(__file__).parent / "cases" / "invoice"
REQUEST = core.Request(inputs=[str(CASES / "messages.csv")], tariff=str(CASES / "tariff.toml"), period="2026-10",
                       tz="Europe/Moscow")


def test_in_memory_run_reports_progress_step_by_step():
    seen = []
    core.run_invoice(REQUEST, progress=lambda what, done, total: seen.append((what, done, total)))
    assert seen == [("billing", 0, 3), ("billing", 1, 3), ("billing", 2, 3), ("billing", 3, 3)]


def test_quiet_silences_warnings_in_every_format():
    for fmt in ("table", "json", "csv"):
        args = ["invoice", str(CASES / "messages.csv"), "--tariff", str(CASES / "tariff.toml"), "--period", "2026-10",
                "--tz", "Europe/Moscow", "--format", fmt]
        loud, quiet = CliRunner().invoke(cli, args), CliRunner().invoke(cli, args + ["-q"])
        assert loud.exit_code == quiet.exit_code == 0
        assert loud.stderr.startswith("warning: account 'shop'") and "warning:" not in loud.stdout
        assert quiet.stderr == ""
        if fmt != "json":                 # the JSON's provenance records the command, -q included
            assert quiet.stdout == loud.stdout


def test_one_seam_one_result_type_on_every_engine(tmp_path):
    from viber_sessions.render import invoice_dict

    local = core.run(REQUEST)
    parts = core.run(REQUEST, core.OutOfCore(memory_limit=2000, workdir=str(tmp_path)))
    assert type(local) is type(parts) is core.Result
    assert invoice_dict(parts.invoice) == invoice_dict(local.invoice)
    assert parts.rejected.num_rows == local.rejected.num_rows == 0
    assert list(tmp_path.iterdir()) == []                       # the work folder is gone
    core.check_engine(core.Local(), "m.csv", "s.csv")
    core.check_engine(core.OutOfCore(2000), "m.csv", "s.csv")         # every engine writes every output
    for kind, whole, split in (("messages", local.messages(), parts.messages()),
                               ("sessions", local.sessions("Europe/Moscow"), parts.sessions("Europe/Moscow"))):
        whole, split = list(whole), list(split)
        assert len(whole) == 1, kind
        assert pa.concat_tables(split).equals(whole[0]), kind
    parts.close()
    with pytest.raises(Exception):
        next(parts.sessions("UTC"))                                  # closed: its open buckets are gone


def test_every_engine_writes_through_fixed_parts(tmp_path, monkeypatch):
    """Audit files are written in parts of PART_ROWS rows (one row group each) whatever the
    engine: a tiny part size gives the same bytes in memory and out of core, and the rows of
    the in-memory table."""
    import pyarrow.parquet as pq

    from viber_sessions import writing
    from viber_sessions.outofcore import runs

    monkeypatch.setattr(runs, "PART_ROWS", 3)
    written = {}
    for name, engine in (("local", core.Local()), ("parts", core.OutOfCore(memory_limit=2000, workdir=str(tmp_path)))):
        result = core.run(REQUEST, engine)
        for kind in ("m.parquet", "s.csv"):
            path = tmp_path / f"{name}-{kind}"
            with writing.OutputSet() as out:
                core.write_outputs(result, "UTC", out, **{("messages_out" if kind[0] == "m" else "sessions_out"):
                                                          str(path)})
            written[name, kind] = path.read_bytes()
    assert written["local", "m.parquet"] == written["parts", "m.parquet"]
    assert written["local", "s.csv"] == written["parts", "s.csv"]
    meta = pq.ParquetFile(tmp_path / "local-m.parquet").metadata
    assert meta.num_row_groups == 6 and meta.num_rows == core.run(REQUEST).log.rows_read == 18


def test_fixed_parts():
    from viber_sessions.outofcore.runs import fixed_parts

    t = pa.table({"a": list(range(10))})
    parts = [t.slice(0, 4), t.slice(4, 0), t.slice(4, 5), t.slice(9)]
    assert [p.num_rows for p in fixed_parts(parts, 3)] == [3, 3, 3, 1]
    assert pa.concat_tables(fixed_parts(parts, 3)).equals(t)
    assert [p.num_rows for p in fixed_parts(iter([t.slice(0, 0)]), 3)] == [0]        # no row: one empty part
    assert list(fixed_parts(iter([]), 3)) == []
    assert [p.column(0).num_chunks for p in fixed_parts(parts, 3)] == [1, 1, 1, 1]


def test_tables_written_part_by_part_equal_one_table(tmp_path):
    import pyarrow as pa

    from viber_sessions import writing

    table = core.run(REQUEST).segmentation.assignment()
    for name in ("a.csv", "a.parquet"):
        whole, split = tmp_path / f"whole-{name}", tmp_path / f"split-{name}"
        writing.write_table(table, str(whole), str(whole))
        writing.write_tables([table.slice(0, 5), table.slice(5, 0), table.slice(5)], str(split), str(split))
        if name.endswith(".csv"):
            assert split.read_bytes() == whole.read_bytes()
        else:
            import pyarrow.parquet as pq

            assert pq.read_table(split).equals(pq.read_table(whole))
    assert isinstance(table, pa.Table)
