"""The defaults file (viber-sessions.toml, --config, VIBER_SESSIONS_CONFIG), the precedence
command line > --source profile > defaults file > built-in, and `viber-sessions config`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from viber_sessions.cli import cli

ROOT = Path(__file__).parent.parent
EXPORTS = Path(__file__).parent / "corpus" / "exports"
TARIFF = str(ROOT / "sample_data" / "tariff.toml")


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def settings(*args, **kw):
    result = run("config", "--format", "json", *args, **kw)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    return doc, {s["name"]: (s["value"], s["from"]) for s in doc["settings"]}


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIBER_SESSIONS_CONFIG", raising=False)
    return tmp_path


def test_built_in_without_a_defaults_file(here):
    doc, s = settings()
    assert doc["defaults_file"] is None and doc["source"] is None
    assert s["tz"] == ("UTC", "built-in") and s["input_tz"] == ("UTC", "built-in")


def test_working_directory_file_then_profile_then_command_line(here):
    (here / "viber-sessions.toml").write_text('tz = "Europe/Moscow"\ninput_tz = "Asia/Tokyo"\nencoding = "cp1251"\n'
                                              f'tariff = "{TARIFF}"\n[invoice]\nmemory-limit = "2GB"\n')
    doc, s = settings("--source", EXPORTS / "excel_utf16.toml", "--encoding", "utf-16")
    assert doc["defaults_file"]["path"] == "viber-sessions.toml"
    assert doc["defaults_file"]["found_by"] == "the working directory"
    assert s["tz"] == ("Europe/Moscow", "defaults file")
    assert s["input_tz"] == ("Europe/Moscow", "profile")           # the profile wins over the defaults file
    assert s["encoding"] == ("utf-16", "command line")            # the command line wins over both
    assert s["tariff"] == (TARIFF, "defaults file")
    assert s["invoice.memory_limit"] == ("2GB", "defaults file ([invoice])")
    assert s["map.timestamp"] == ("Sent", "profile")


def test_env_and_config_option(here, tmp_path_factory):
    other = tmp_path_factory.mktemp("cfg") / "team.toml"
    other.write_text('tz = "Asia/Tokyo"\n')
    (here / "viber-sessions.toml").write_text('tz = "Europe/Moscow"\n')
    _, s = settings(env={"VIBER_SESSIONS_CONFIG": str(other)})
    assert s["tz"] == ("Asia/Tokyo", "defaults file")
    doc, s = settings("--config", other)
    assert doc["defaults_file"]["found_by"] == "--config" and s["tz"] == ("Asia/Tokyo", "defaults file")


def test_defaults_file_bills_like_the_options(here):
    (here / "viber-sessions.toml").write_text(f'tz = "Europe/Moscow"\ntariff = "{TARIFF}"\n'
                                              f'source = "{EXPORTS / "cp1251_semicolon.toml"}"\n')
    a = run("invoice", EXPORTS / "cp1251_semicolon.csv", "--period", "2026-10", "--format", "csv")
    b = run("invoice", EXPORTS / "canonical.csv", "--source", EXPORTS / "blank_rows.toml", "--period", "2026-10",
            "--format", "csv")
    assert a.exit_code == b.exit_code == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout


def test_unknown_keys_are_named(here):
    (here / "viber-sessions.toml").write_text('tzz = "Europe/Moscow"\n')
    result = run("config")
    assert result.exit_code == 2
    assert result.stderr == "error: defaults file viber-sessions.toml: tzz: unknown key (no command has an option --tzz)\n"
    (here / "viber-sessions.toml").write_text('[invoice]\nsince = "2026-01-01"\n')
    result = run("invoice", "x.csv", "--period", "2026-10")
    assert result.exit_code == 2
    assert result.stderr == ("error: defaults file viber-sessions.toml: invoice.since: unknown key (invoice has no "
                             "option --since)\n")


def test_config_text_at_60_columns(here):
    result = run("config", "--source", EXPORTS / "mixed_phones.toml", "--tz", "Europe/Moscow", env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "defaults file: none"
    assert lines[1].startswith(f"source profile: {EXPORTS / 'mixed_phones.toml'} (sha256 ")
    assert "subscriber_format  e164" in result.stdout and lines[-1].startswith("source ")
    assert [line.split()[-1] for line in lines[2:5]] == ["line", "built-in", "built-in"]
