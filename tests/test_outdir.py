"""--output-dir: escaped file names, folders swapped in whole, byte-identical re-runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from viber_sessions.cli import cli
from viber_sessions.outdir import file_stem, write_periods

CASES = Path(__file__).parent / "cases" / "invoice"


def test_file_names_never_collide():
    names = ["invoice", "Invoice", "a/b", "a%2Fb", "shop", "shop.provisional", ".hidden", "..", "Shop", "SHOP",
             "", "x" * 300, "x" * 299 + "y", "é", "%", "a b", "con"]
    stems = [file_stem(n) for n in names]
    folded = {s.lower() for s in stems}
    assert len(folded) == len(names)                      # unique even on a case-insensitive file system
    assert "invoice" not in folded and all(not s.startswith(".") for s in stems)
    assert all("/" not in s and "." not in s for s in stems)
    assert all(len(s.encode()) <= 200 for s in stems)
    assert file_stem("shop") == "shop" and file_stem("a/b") == "a%2Fb" and file_stem("Shop") == "%53hop"
    assert file_stem("shop.provisional") == "shop%2Eprovisional" and file_stem("invoice") == "%69nvoice"


def test_period_folder_is_swapped_whole_and_says_what_is_gone(tmp_path):
    assert write_periods(str(tmp_path), {"2026-10": {"invoice.json": "1", "a.json": "a", "b.json": "b"}}) == []
    notes = write_periods(str(tmp_path), {"2026-10": {"invoice.json": "2", "a.json": "a2"}})
    assert notes == [f"{tmp_path / '2026-10' / 'b.json'} is gone: the new 2026-10 folder has no such file"]
    assert sorted(os.listdir(tmp_path)) == ["2026-10"]    # no temporary folder left
    assert sorted(os.listdir(tmp_path / "2026-10")) == ["a.json", "invoice.json"]


def run(out: Path, *extra):
    return CliRunner().invoke(cli, ["invoice", str(CASES / "messages.csv"), "--tariff", str(CASES / "tariff.toml"),
                                    "--tz", "Europe/Moscow", "--period", "2026-09..2026-11", "--output-dir", str(out),
                                    "-q", *extra])


def test_output_dir_layout_and_byte_identical_reruns(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    state = tmp_path / "s.parquet"
    assert run(a, "--state-out", str(state)).exit_code == 0
    files = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    first = {f: (a / f).read_bytes() for f in files}
    first_state = state.read_bytes()
    assert run(a, "--state-out", str(state)).exit_code == 0          # the same command again: the same bytes
    assert files == ["2026-09/invoice.provisional.json", "2026-09/old.provisional.json",
                     "2026-09/shop.provisional.json", "2026-10/invoice.provisional.json",
                     "2026-10/shop.provisional.json", "2026-10/taxi.provisional.json",
                     "2026-11/invoice.provisional.json", "2026-11/shop.provisional.json"]
    assert {f: (a / f).read_bytes() for f in files} == first and state.read_bytes() == first_state
    shop = json.loads((a / "2026-10" / "shop.provisional.json").read_text())
    assert [x["business_id"] for x in shop["accounts"]] == ["shop"] and "rows" not in shop
    assert shop["total"] == shop["accounts"][0]["total"] and "generated_by" in shop
    whole = json.loads((a / "2026-10" / "invoice.provisional.json").read_text())
    assert whole["rows"]["read"] == 18 and len(whole["accounts"]) == 2


def test_output_dir_inside_an_input_folder_is_refused(tmp_path):
    (tmp_path / "m.csv").write_bytes((CASES / "messages.csv").read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    r = CliRunner().invoke(cli, ["invoice", str(tmp_path), "--tariff", str(CASES / "tariff.toml"), "--period",
                                 "2026-10", "--output-dir", str(out)])
    assert r.exit_code == 2 and "inside the input folder" in r.stderr
