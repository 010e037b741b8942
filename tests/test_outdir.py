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


def _bills(tmp_path):
    """A folder of October's period with the log and the tariff in it (what a team might keep)."""
    bills = tmp_path / "bills"
    (bills / "2026-10").mkdir(parents=True)
    log, tariff = bills / "2026-10" / "messages.csv", bills / "2026-10" / "tariff.toml"
    log.write_bytes((CASES / "messages.csv").read_bytes())
    tariff.write_bytes((CASES / "tariff.toml").read_bytes())
    return bills, log, tariff


def invoke(tmp_path, *args):
    return CliRunner().invoke(cli, ["invoice", *map(str, args), "--tz", "Europe/Moscow", "-q"])


def test_an_input_or_an_output_inside_a_period_folder_that_is_replaced_is_refused(tmp_path):
    bills, log, tariff = _bills(tmp_path)
    safe_log, safe_tariff = tmp_path / "m.csv", tmp_path / "t.toml"
    safe_log.write_bytes(log.read_bytes())
    safe_tariff.write_bytes(tariff.read_bytes())
    before = {p: p.read_bytes() for p in (log, tariff)}
    state = tmp_path / "s.parquet"
    assert invoke(tmp_path, safe_log, "--tariff", safe_tariff, "--period", "2026-10", "--state-out", state).exit_code == 0
    (bills / "2026-11").mkdir()
    cases = [([log, "--tariff", safe_tariff], "the input", log),
             ([bills / "*" / "*.csv", "--tariff", safe_tariff], "the input", log),
             ([bills / "2026-10", "--tariff", safe_tariff], "the input", bills / "2026-10"),
             ([safe_log, "--tariff", tariff], "--tariff", tariff),
             ([safe_log, "--tariff", safe_tariff, "--messages-out", bills / "2026-10" / "m.csv"], "--messages-out",
              bills / "2026-10" / "m.csv"),
             ([safe_log, "--tariff", safe_tariff, "--output", bills / "2026-11" / "all.json"], "--output",
              bills / "2026-11" / "all.json"),
             ([safe_log, "--tariff", safe_tariff, "--state-out", bills / "2026-11" / "s.parquet"], "--state-out",
              bills / "2026-11" / "s.parquet")]
    for args, option, path in cases:
        r = invoke(tmp_path, *args, "--period", "2026-10..2026-11", "--output-dir", bills)
        period = "2026-10" if "2026-10" in str(path) else "2026-11"
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr == (f"error: {option} {path} lies inside {bills / period}, a folder this run replaces whole "
                            f"(it would be deleted); move it out of the period folders of --output-dir {bills}\n")
    assert {p: p.read_bytes() for p in (log, tariff)} == before and os.listdir(bills / "2026-11") == []
    # a state read from a period folder: refused too; files beside the period folders are kept
    moved = bills / "2026-10" / "s.parquet"
    moved.write_bytes(state.read_bytes())
    r = invoke(tmp_path, safe_log, "--tariff", safe_tariff, "--period", "2026-10", "--state-in", moved,
               "--output-dir", bills)
    assert r.exit_code == 2 and "--state-in" in r.stderr
    (bills / "notes.txt").write_text("kept")
    r = invoke(tmp_path, safe_log, "--tariff", safe_tariff, "--period", "2026-09", "--output-dir", bills)
    assert r.exit_code == 0 and (bills / "notes.txt").read_text() == "kept" and log.read_bytes() == before[log]


def test_account_with_output_dir_is_refused(tmp_path):
    bills = tmp_path / "bills"
    bills.mkdir()
    args = [CASES / "messages.csv", "--tariff", CASES / "tariff.toml", "--period", "2026-10", "--output-dir", bills]
    assert invoke(tmp_path, *args).exit_code == 0
    before = {p.name: p.read_bytes() for p in (bills / "2026-10").iterdir()}
    r = invoke(tmp_path, *args, "--account", "shop")
    assert r.exit_code == 2 and r.stderr.startswith("error: --account cannot be used with --output-dir: each period's "
                                                    "folder is replaced whole") and r.stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in (bills / "2026-10").iterdir()} == before
    assert sorted(before) == ["invoice.provisional.json", "shop.provisional.json", "taxi.provisional.json"]


def test_the_folders_are_swapped_only_after_every_other_output_is_committed(tmp_path, monkeypatch):
    from viber_sessions import writing

    bills = tmp_path / "bills"
    bills.mkdir()
    args = [CASES / "messages.csv", "--tariff", CASES / "tariff.toml", "--period", "2026-10", "--output-dir", bills]
    assert invoke(tmp_path, *args).exit_code == 0
    before = {p.name: p.read_bytes() for p in (bills / "2026-10").iterdir()}

    def fail(self):                       # the state file cannot be renamed into place
        self._current = self._staged[0][1]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writing.OutputSet, "_commit", fail)
    r = invoke(tmp_path, *args, "--state-out", tmp_path / "s.parquet")
    assert r.exit_code == 1 and r.stderr == f"error: cannot write {tmp_path / 's.parquet'}: no space left on the device\n"
    assert {p.name: p.read_bytes() for p in (bills / "2026-10").iterdir()} == before     # the old folder stays
    assert sorted(os.listdir(bills)) == ["2026-10"]                                      # no temporary folder left


def test_a_signal_between_the_files_and_the_folders_leaves_both_new(tmp_path, monkeypatch):
    """A signal that arrives while the files are renamed waits until the folders are swapped in
    too: the run ends interrupted with every output new, never the files new and the folders
    old (before, the held signal acted between the two commits)."""
    import signal

    from viber_sessions import entry, writing

    bills = tmp_path / "bills"
    bills.mkdir()
    args = [CASES / "messages.csv", "--tariff", CASES / "tariff.toml", "--period", "2026-10", "--output-dir", bills,
            "--output", tmp_path / "inv.json"]
    assert invoke(tmp_path, *args).exit_code == 0
    for p in [*(bills / "2026-10").iterdir(), tmp_path / "inv.json"]:
        p.write_text("OLD")
    commit = writing.OutputSet._commit

    def signalled(self):                   # SIGINT while the files are renamed (signals are held there)
        entry._on_signal(signal.SIGINT, None)
        commit(self)

    monkeypatch.setattr(writing.OutputSet, "_commit", signalled)
    monkeypatch.setattr(entry, "interrupted", lambda exc: 130)      # in process: no os._exit
    r = invoke(tmp_path, *args)
    assert r.exit_code == 130
    assert (tmp_path / "inv.json").read_text() != "OLD"
    assert all(p.read_text() != "OLD" for p in (bills / "2026-10").iterdir())
    assert sorted(os.listdir(bills)) == ["2026-10"]
