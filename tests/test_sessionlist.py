"""The sessions table on a terminal (sessionlist.render_table): the CSV's text, no value split."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import viber_sessions as vs
from viber_sessions import sessionlist, tables, writing

LOG = ("message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
       "m1,2026-09-29T01:05:44Z,007delivery,+79000000063,inbound,text\n"
       "m2,2026-09-29T01:06:00Z,007delivery,+79000000063,outbound,text\n"
       "m3,2026-10-24T01:00:29.5Z,shop,+79000000136,inbound,text\n")


def _shown(tmp_path, width: int, limit: int = 100) -> tuple[str, list[list[str]]]:
    path = tmp_path / "log.csv"
    path.write_text(LOG)
    tariff = vs.load_tariff("sample_data/tariff.toml")
    table = tables.sessions_table(vs.segment(vs.load(str(path)), tariff), "UTC")
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    sessionlist.render_table(table, "2 sessions", limit, console)
    csv = [line.replace('"', "").split(",") for line in writing.csv_bytes(table).decode().splitlines()[1:]]
    return out.getvalue(), csv


@pytest.mark.parametrize("width", [60, 100, 160, 250])
def test_every_value_is_shown_whole_as_the_csv_writes_it(tmp_path, width):
    text, csv = _shown(tmp_path, width)
    assert all(len(line) <= width for line in text.splitlines())
    for row in csv:
        for value in row:
            assert value in text, value          # never split over two lines
    assert "True" not in text and "+00:00" not in text and "2026-10-24T01:00:29.5Z" in text
    assert "true" in text and "false" in text


def test_narrow_terminals_get_one_block_per_session(tmp_path):
    text, csv = _shown(tmp_path, 60)
    assert text.splitlines()[:3] == ["  007delivery/+79000000063/20260929T010544Z", "    business id: 007delivery",
                                     "    subscriber id: +79000000063"]
    assert "    billed period: 2026-09" in text.splitlines()
    assert text.splitlines()[-1] == "2 sessions"


def test_a_wide_terminal_gets_a_table(tmp_path):
    text, _ = _shown(tmp_path, 250, limit=1)
    lines = text.splitlines()
    assert lines[0].startswith("┏") and "│ 007delivery/+79000000063/20260929T010544Z │ 007delivery │" in text
    assert lines[-2:] == ["... 1 more (use --output FILE for all)", "2 sessions"]
