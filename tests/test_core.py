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
