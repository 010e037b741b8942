"""viber_sessions.core: the pipeline every command runs."""

from __future__ import annotations

from pathlib import Path

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
    import pytest

    from viber_sessions.errors import UsageError
    from viber_sessions.render import invoice_dict

    local = core.run(REQUEST)
    parts = core.run(REQUEST, core.OutOfCore(memory_limit=2000, workdir=str(tmp_path)))
    assert type(local) is type(parts) is core.Result
    assert invoice_dict(parts.invoice) == invoice_dict(local.invoice)
    assert parts.rejected.num_rows == local.rejected.num_rows == 0
    assert list(tmp_path.iterdir()) == []                       # the work folder is gone
    core.check_engine(core.Local(), "m.csv", "s.csv")
    with pytest.raises(UsageError, match="--messages-out and --sessions-out need the whole log in memory"):
        core.check_engine(core.OutOfCore(2000), "m.csv", None)
    with pytest.raises(UsageError, match="--sessions-out needs the whole log in memory"):
        next(parts.sessions("UTC"))


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
