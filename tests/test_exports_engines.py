"""Real exports on every engine: each export of tests/corpus/exports/ (read with its profile)
bills to the in-memory invoice, warnings included, out of core (one bucket, and a limit that
forces several buckets and batches) and on Dask; explain and sessions --subscriber by pushdown
give the in-memory answer, also with every spelling of a number read as one (e164)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from test_dask_engine import client  # noqa: F401  (the one cluster of the test session)
from viber_sessions import chunked, pushdown
from viber_sessions import explain as ex
from viber_sessions.cli import cli
from viber_sessions.load import LoadOptions, load
from viber_sessions.load.notices import Notices
from viber_sessions.segment import segment
from viber_sessions.tariff import load_tariff

ROOT = Path(__file__).parent.parent
EXPORTS = Path(__file__).parent / "corpus" / "exports"
TARIFF = str(ROOT / "sample_data" / "tariff.toml")
BILL = ["--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow"]
#: (files, profile): every export with its profile, the mixed spellings read as written (the
#: spellings warning) and two files read as phone numbers (a note per file)
RUNS = [(["canonical.csv"], None), (["cp1251_semicolon.csv"], "cp1251_semicolon.toml"),
        (["excel_utf16.tsv"], "excel_utf16.toml"), (["messages.jsonl"], "messages.toml"),
        (["messages.xlsx"], "messages_xlsx.toml"), (["mixed_phones.csv"], "mixed_phones.toml"),
        (["blank_rows.csv"], "blank_rows.toml"), (["mixed_phones.csv", "canonical.csv"], None),
        (["mixed_phones.csv", "canonical.csv"], "mixed_phones.toml")]
IDS = ["+".join(files) + ("" if profile else ":as_is") for files, profile in RUNS]
#: 200 KB: buckets of about 500 rows and batches of 1,000 rows (64 KB of CSV text)
SMALL = "200KB"
MIXED_PROFILE = dict(subscriber_format="e164", default_region="RU")


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def invoice(files, profile, *engine) -> tuple[dict, list[str]]:
    source = ["--source", EXPORTS / profile] if profile else []
    result = run("invoice", *[EXPORTS / f for f in files], *source, *BILL, "--format", "json", *engine)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    doc.pop("generated_by", None)
    return doc, [line for line in result.stderr.splitlines() if line.startswith(("warning:", "error:"))]


_IN_MEMORY: dict = {}


def in_memory(files, profile):
    key = (tuple(files), profile)
    if key not in _IN_MEMORY:
        _IN_MEMORY[key] = invoice(files, profile)
    return _IN_MEMORY[key]


def test_the_small_limit_forces_several_buckets_and_batches():
    plan = chunked.plan([str(EXPORTS / "canonical.csv")], chunked.parse_memory(SMALL))
    assert plan.buckets >= 3 and plan.batch_rows < 2000


@pytest.mark.parametrize("limit", ["64MB", SMALL])
@pytest.mark.parametrize("files,profile", RUNS, ids=IDS)
def test_every_export_bills_alike_out_of_core(files, profile, limit):
    doc, warnings = invoice(files, profile, "--memory-limit", limit)
    expected, expected_warnings = in_memory(files, profile)
    assert doc == expected
    assert warnings == expected_warnings


@pytest.mark.parametrize("files,profile", RUNS, ids=IDS)
def test_every_export_bills_alike_on_dask(client, files, profile):  # noqa: F811
    doc, warnings = invoice(files, profile, "--engine", "dask", "--scheduler", client.scheduler.address)
    expected, expected_warnings = in_memory(files, profile)
    assert doc == expected
    assert warnings == expected_warnings


def test_the_engines_warn_of_spellings_and_count_ids_that_are_no_numbers_over_whole_files():
    """The in-memory warnings the out-of-core run must repeat: one spellings warning for the
    log, one note per file counted over all of its batches."""
    _, as_is = in_memory(["mixed_phones.csv", "canonical.csv"], None)
    assert [w[:100] for w in as_is if "spelling" in w] == [
        f"warning: {EXPORTS / 'mixed_phones.csv'}, {EXPORTS / 'canonical.csv'}, column 'subscriber_id': 85 subscribers "[:100]]
    _, e164 = in_memory(["mixed_phones.csv", "canonical.csv"], "mixed_phones.toml")
    assert [w.split(": 17 distinct")[0] for w in e164 if "not a valid phone number" in w] == [
        f"warning: {EXPORTS / name}, column 'subscriber_id'" for name in ("mixed_phones.csv", "canonical.csv")]


def test_notices_of_parts_are_those_of_the_whole_file():
    """Per file: equal notices once, in the loader's order; the ids that are no phone numbers
    counted over the distinct ids of all the file's parts."""
    from viber_sessions.errors import Problem

    options = LoadOptions(subscriber_format="e164", default_region="RU", naive_warning_tz="Europe/Moscow")
    zone = Problem("a.csv", None, "timestamp", "assumed_input_tz", "zone")
    newline = Problem("a.csv", 3, None, "no_final_newline", "newline")
    notices = Notices(["a.csv", "b.csv"], options)
    notices.add(0, [zone, Problem("a.csv", None, "subscriber_id", "not_phone_numbers", "per part")],
                pa.array(["viber:1", "+79000000001"]))
    notices.add(0, [newline, zone], pa.array(["viber:2", "viber:1"]))
    notices.add(1, [], None)
    got = notices.result()
    assert [p.code for p in got] == ["no_final_newline", "not_phone_numbers", "assumed_input_tz"]
    assert got[1].message == ("2 distinct subscriber ids are not a valid phone number, kept as written (e.g. "
                              "'viber:1', 'viber:2')")


# ---------------------------------------------------------------------------------------------
# Pushdown


def mixed_options() -> LoadOptions:
    return LoadOptions(**MIXED_PROFILE)


def spelled_many_ways(path: Path) -> list[str]:
    """Numbers written in more than one way in the mixed-spellings export (as normalised)."""
    raw = load([str(path)], LoadOptions())
    normal = load([str(path)], mixed_options())
    assert len(raw.subscribers) > len(normal.subscribers)
    spellings: dict[str, set] = {}
    for r, n in zip(raw.subscribers.take(pa.array(raw.subscriber)).to_pylist(),
                    normal.subscribers.take(pa.array(normal.subscriber)).to_pylist()):
        spellings.setdefault(n, set()).add(r)
    return sorted(n for n, s in spellings.items() if len(s) >= 3)


@pytest.fixture(scope="module")
def mixed_parquet(tmp_path_factory):
    """The mixed-spellings export as Parquet in small row groups sorted by account: row group
    statistics rule some out by business, never by subscriber (other spellings lie anywhere)."""
    columns = ("message_id", "timestamp", "business_id", "subscriber_id", "direction", "message_type", "status")
    raw = pacsv.read_csv(EXPORTS / "mixed_phones.csv", convert_options=pacsv.ConvertOptions(
        column_types={c: pa.string() for c in columns})).sort_by([("business_id", "ascending")])
    path = tmp_path_factory.mktemp("mixed") / "mixed.parquet"
    pq.write_table(raw, path, row_group_size=97)
    return path


@pytest.fixture(params=[False, True], ids=["batches", "small_batches"])
def batching(request, monkeypatch):
    if request.param:
        monkeypatch.setattr(pushdown, "BATCH_ROWS", 7)
        monkeypatch.setattr(pushdown, "CSV_BLOCK", 1000)
    return request.param


def test_explain_by_pushdown_reads_every_spelling_of_the_number(batching, mixed_parquet):
    tariff = load_tariff(TARIFF)
    for path in (EXPORTS / "mixed_phones.csv", mixed_parquet):
        seg = segment(load([str(path)], mixed_options()), tariff)
        numbers = spelled_many_ways(path)
        assert len(numbers) >= 20
        for number in numbers[:: max(1, len(numbers) // 6)]:
            business = seg.log.businesses[int(seg.log.business[np.flatnonzero(
                seg.log.subscribers.take(pa.array(seg.log.subscriber)).to_numpy(zero_copy_only=False) == number)[0]])]
            full = ex.explain(seg, tariff, business.as_py(), number, "Europe/Moscow")
            assert pushdown.explain([str(path)], tariff, business.as_py(), number, "Europe/Moscow",
                                    options=mixed_options()) == full, (path, number)


def test_explain_cli_on_the_mixed_export_equals_in_memory():
    tariff = load_tariff(TARIFF)
    path = EXPORTS / "mixed_phones.csv"
    seg = segment(load([str(path)], mixed_options()), tariff)
    number = spelled_many_ways(path)[0]
    rows = np.flatnonzero(seg.log.subscribers.take(pa.array(seg.log.subscriber)).to_numpy(zero_copy_only=False)
                          == number)
    business = seg.log.businesses[int(seg.log.business[rows[0]])].as_py()
    result = run("explain", path, "--source", EXPORTS / "mixed_phones.toml", "--tariff", TARIFF, "--business",
                 business, "--subscriber", number, "--tz", "Europe/Moscow", "--format", "json")
    assert result.exit_code == 0, result.output
    full = ex.explain(seg, tariff, business, number, "Europe/Moscow")
    assert result.stdout == json.dumps(full, indent=2, ensure_ascii=False) + "\n"
    raw = [line.split(",")[3] for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    shown = {raw[int(e["source"].rsplit(":", 1)[1]) - 1] for e in full["events"] if e["kind"] == "message"}
    assert len(shown) >= 2, shown              # several spellings of the number in one conversation


def sessions_csv(*args) -> list[str]:
    result = run("sessions", *args, "--tariff", TARIFF, "--tz", "Europe/Moscow", "--format", "csv")
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


@pytest.mark.parametrize("files,profile", RUNS[1:7], ids=IDS[1:7])
def test_sessions_of_a_subscriber_by_pushdown_equal_in_memory(files, profile):
    path = EXPORTS / files[0]
    whole = sessions_csv(path, "--source", EXPORTS / profile)
    header, rows = whole[0], whole[1:]
    subscribers = sorted({json.loads(line.split(",")[2]) for line in rows})
    for subscriber in subscribers[:: max(1, len(subscribers) // 5)]:
        pushed = sessions_csv(path, "--source", EXPORTS / profile, "--subscriber", subscriber)
        assert pushed == [header] + [line for line in rows if json.loads(line.split(",")[2]) == subscriber]


def test_lines_before_the_header_and_a_detected_delimiter_out_of_core(tmp_path):
    """--skip-rows and a delimiter found in the header line, read batch by batch as in memory."""
    lines = (EXPORTS / "canonical.csv").read_text(encoding="utf-8").splitlines()
    assert all(line.count(",") == 6 and ";" not in line for line in lines)        # no comma inside a field
    path = tmp_path / "report.csv"
    path.write_text("Messages report;;\nexported 2026-11-01\n" + "\n".join(line.replace(",", ";") for line in lines)
                    + "\n", encoding="utf-8")
    expected = run("invoice", EXPORTS / "canonical.csv", *BILL, "--format", "csv")
    for limit in ([], ["--memory-limit", SMALL]):
        result = run("invoice", path, "--skip-rows", "2", *BILL, "--format", "csv", *limit)
        assert result.exit_code == 0, result.output
        assert result.stdout == expected.stdout
