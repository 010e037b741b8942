"""Real exports (tests/corpus/exports/): every export of the same 2,000-row log, read with its
profile, bills to exactly the canonical invoice; bad input in each new format is one line."""

from __future__ import annotations

import gzip
import json
import shutil
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv  # noqa: F401  (pa.csv)
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from viber_sessions import phones
from viber_sessions.cli import cli
from viber_sessions.errors import InputError, Problem
from viber_sessions.load import LoadOptions, load, typed

ROOT = Path(__file__).parent.parent
EXPORTS = Path(__file__).parent / "corpus" / "exports"
TARIFF = str(ROOT / "sample_data" / "tariff.toml")
BILL = ["--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow"]
PROFILED = [("cp1251_semicolon.csv", "cp1251_semicolon.toml"), ("excel_utf16.tsv", "excel_utf16.toml"),
            ("messages.jsonl", "messages.toml"), ("messages.xlsx", "messages_xlsx.toml"),
            ("mixed_phones.csv", "mixed_phones.toml"), ("blank_rows.csv", "blank_rows.toml")]


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


@pytest.fixture(scope="module")
def canonical():
    result = run("invoice", EXPORTS / "canonical.csv", *BILL, "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    doc.pop("generated_by", None)
    return doc


def invoice_json(*args):
    result = run("invoice", *args, *BILL, "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    doc.pop("generated_by", None)
    return doc, result.stderr


@pytest.mark.parametrize("export,profile", PROFILED)
def test_each_export_bills_to_the_canonical_invoice(canonical, export, profile):
    doc, _ = invoice_json(EXPORTS / export, "--source", EXPORTS / profile)
    blank = doc["rows"].pop("blank_lines")
    expected = dict(canonical, rows={k: v for k, v in canonical["rows"].items() if k != "blank_lines"})
    notes = [w for w in doc["warnings"] if "not a valid phone number" in w]     # the e164 note (tested below)
    doc["warnings"] = [w for w in doc["warnings"] if w not in notes]
    assert doc == expected
    assert len(notes) == (1 if export == "mixed_phones.csv" else 0)
    assert blank == (12 if export == "blank_rows.csv" else 0)


def test_canonical_csv_output_is_byte_identical_for_the_cp1251_export():
    a = run("invoice", EXPORTS / "canonical.csv", *BILL, "--format", "csv")
    b = run("invoice", EXPORTS / "cp1251_semicolon.csv", "--source", EXPORTS / "cp1251_semicolon.toml", *BILL,
            "--format", "csv")
    assert a.exit_code == b.exit_code == 0
    assert a.stdout == b.stdout


def test_mixed_spellings_without_e164_warn_and_bill_differently(canonical):
    doc, err = invoice_json(EXPORTS / "mixed_phones.csv")
    assert doc["total"] != canonical["total"]
    lines = [line for line in err.splitlines() if "spelling" in line]
    assert lines == [
        f"warning: {EXPORTS / 'mixed_phones.csv'}, column 'subscriber_id': 85 subscribers appear under more than one "
        "spelling (e.g. '+79000000236' and '79000000236' and '+7 (900) 000-02-36'; '+7 (900) 000-02-10' and "
        "'79000000210' and '+79000000210'; '79000000056' and '+7 (900) 000-00-56' and '+79000000056'); each spelling "
        "is billed as a subscriber of its own, with its own sessions: give --subscriber-format e164 (and "
        "--default-region) to read them as phone numbers"]


def test_e164_notes_ids_that_are_not_phone_numbers():
    _, err = invoice_json(EXPORTS / "mixed_phones.csv", "--source", EXPORTS / "mixed_phones.toml")
    note = [line for line in err.splitlines() if "not a valid phone number" in line]
    assert note == [f"warning: {EXPORTS / 'mixed_phones.csv'}, column 'subscriber_id': 17 distinct subscriber ids "
                    "are not a valid phone number, kept as written (e.g. '0079000000280', 'viber:000000f1', 'viber:00000001')"]


def test_options_override_the_profile(canonical):
    # the profile says Moscow; --input-tz UTC on the command line wins (and changes the bill)
    doc, _ = invoice_json(EXPORTS / "excel_utf16.tsv", "--source", EXPORTS / "excel_utf16.toml", "--input-tz", "UTC")
    assert doc["accounts"] != canonical["accounts"]


def test_the_cp1251_export_by_options_alone_needs_the_value_mappings():
    result = run("invoice", EXPORTS / "cp1251_semicolon.csv", *BILL, "--encoding", "cp1251", "--timestamp-format",
                          "%d.%m.%Y %H:%M:%S", "--input-tz", "Europe/Moscow", "--map", "message_id=ИД сообщения",
                          "--map", "timestamp=Дата", "--map", "business_id=Аккаунт", "--map", "subscriber_id=Абонент",
                          "--map", "direction=Направление", "--map", "message_type=Тип", "--map", "status=Статус",
                          "--on-invalid", "skip")
    # without the profile's value mappings the Russian directions are unknown: every row is rejected
    line = one_line_error(result)
    assert line == (f"error: {EXPORTS / 'cp1251_semicolon.csv'}, row 1, column 'Направление': all 2000 rows were "
                    "rejected (--on-invalid skip); the first: unknown direction (use inbound/outbound, in/out, mo/mt, "
                    "incoming/outgoing or subscriber/business): 'Исходящее'")


def test_naive_times_read_in_utc_while_billing_elsewhere_warn():
    result = run("invoice", EXPORTS / "excel_utf16.tsv", "--source", EXPORTS / "blank_rows.toml",
                 "--map", "message_id=Message ID", "--map", "timestamp=Sent", "--map", "business_id=Account",
                 "--map", "subscriber_id=Phone", "--map", "direction=Direction", "--map", "message_type=Type",
                 "--map", "status=Status", *BILL, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert (f"warning: {EXPORTS / 'excel_utf16.tsv'}, column 'Sent': timestamps without an offset were read as UTC times (no "
            "--input-tz given) while billing in Europe/Moscow; give --input-tz Europe/Moscow if they are local times"
            ) in result.stderr.splitlines()
    quiet = run("invoice", EXPORTS / "canonical.csv", *BILL, "--format", "csv")
    assert "without an offset" not in quiet.stderr         # offsets given: nothing assumed


def one_line_error(result, code=1):
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_cp1251_without_encoding_says_which_option_reads_it():
    line = one_line_error(run("invoice", EXPORTS / "cp1251_semicolon.csv", *BILL))
    assert "the header is not UTF-8: give the file's encoding with --encoding (e.g. cp1251)" in line


def test_bad_json_line_is_one_rejected_row(tmp_path):
    path = tmp_path / "m.jsonl"
    lines = (EXPORTS / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    lines[4] = '{"id": "m9", "ts": 17930'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    line = one_line_error(run("invoice", path, "--source", EXPORTS / "messages.toml", *BILL))
    assert line == f"error: {path}, row 5: not a JSON object on one line: '{{\"id\": \"m9\", \"ts\": 17930'"
    doc, _ = invoice_json(path, "--source", EXPORTS / "messages.toml", "--on-invalid", "skip")
    assert (doc["rows"]["read"], doc["rows"]["rejected"]) == (2000, 1)


def test_json_lines_gz_and_stdin(tmp_path, canonical):
    gz = tmp_path / "m.jsonl.gz"
    gz.write_bytes(gzip.compress((EXPORTS / "messages.jsonl").read_bytes()))
    doc, _ = invoice_json(gz, "--source", EXPORTS / "messages.toml")
    assert doc["total"] == canonical["total"]
    result = run("invoice", "-", "--source", EXPORTS / "messages.toml", *BILL, "--format", "json",
                 input=(EXPORTS / "messages.jsonl").read_bytes())
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["total"] == canonical["total"]


def test_binary_stdin_is_refused_in_one_line(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": [1]}), path)
    line = one_line_error(run("invoice", "-", *BILL, input=path.read_bytes()))
    assert line == ("error: <stdin>: standard input is not CSV or JSON Lines: it looks like a Parquet file (name it "
                    ".parquet); give the file's name instead of -")
    line = one_line_error(run("invoice", "-", *BILL, input=gzip.compress(b"a,b\n")))
    assert "it looks like a gzip-compressed file" in line


def test_files_of_another_kind_say_what_they_look_like(tmp_path):
    pdf = tmp_path / "log.csv"
    pdf.write_bytes(b"%PDF-1.7\n" + bytes(range(256)))
    assert one_line_error(run("invoice", pdf, *BILL)) == \
        f"error: {pdf}: not a CSV file: it looks like a PDF document"
    xlsx_named_csv = tmp_path / "book.csv"
    shutil.copy(EXPORTS / "messages.xlsx", xlsx_named_csv)
    assert "it looks like a ZIP archive (an Excel workbook? name it .xlsx)" in one_line_error(run("invoice",
                                                                                               xlsx_named_csv, *BILL))
    fake = tmp_path / "book.xlsx"
    fake.write_text("message_id,timestamp\n")
    assert one_line_error(run("invoice", fake, *BILL)) == \
        f"error: {fake}: not an Excel .xlsx workbook: it looks like text or another kind of file"
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes((EXPORTS / "messages.xlsx").read_bytes()[:3000])
    assert one_line_error(run("invoice", broken, *BILL)).startswith(f"error: {broken}: not a readable .xlsx workbook")


def test_xlsx_sheet_and_columns_errors():
    line = one_line_error(run("invoice", EXPORTS / "messages.xlsx", "--sheet", "Nope", *BILL))
    assert line == (f"error: {EXPORTS / 'messages.xlsx'}: no sheet named 'Nope' (--sheet); the workbook has: "
                    "'Сводка', 'Сообщения'")
    line = one_line_error(run("invoice", EXPORTS / "messages.xlsx", *BILL))       # the first sheet is a summary
    assert "required column is missing" in line and "the file has: Выгрузка сообщений" in line


def test_tsv_row_with_a_missing_field_is_one_line(tmp_path):
    path = tmp_path / "x.tsv"
    text = (EXPORTS / "canonical.csv").read_text(encoding="utf-8").replace('"', "").replace(",", "\t").splitlines()
    text[3] = text[3].rsplit("\t", 1)[0]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    line = one_line_error(run("invoice", path, *BILL))
    assert line.startswith(f"error: {path}, row 3: wrong number of fields")


def test_bad_utf16_is_one_line(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_bytes((EXPORTS / "excel_utf16.tsv").read_bytes()[:1001])      # cut inside a character
    line = one_line_error(run("invoice", path, "--source", EXPORTS / "excel_utf16.toml", *BILL))
    assert line.startswith(f"error: {path}: the text is not valid utf-16")


def test_profile_unknown_key_is_named(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('[source]\ndelimeter = ";"\n')
    line = one_line_error(run("invoice", EXPORTS / "canonical.csv", "--source", bad, *BILL), code=2)
    assert line.startswith(f"error: {bad}: source.delimeter: unknown key (known: encoding, delimiter")
    bad.write_text('[source.values.direction]\n"Вх" = "sideways"\n')
    line = one_line_error(run("invoice", EXPORTS / "canonical.csv", "--source", bad, *BILL), code=2)
    assert line == f"error: {bad}: source.values.direction.'Вх': 'sideways' is not a direction (use inbound or outbound)"


def test_values_not_in_a_mapping_are_invalid_rows(tmp_path):
    profile = tmp_path / "p.toml"
    text = (EXPORTS / "cp1251_semicolon.toml").read_text(encoding="utf-8").replace('"Видео" = "video"\n', "")
    profile.write_text(text, encoding="utf-8")
    line = one_line_error(run("invoice", EXPORTS / "cp1251_semicolon.csv", "--source", profile, *BILL))
    assert "column 'Тип': not one of the values the profile maps for message_type" in line
    assert line.endswith(": 'Видео' (and 20 more problems; `viber-sessions validate` lists them all)")


def test_timestamp_formats_in_order_and_impossible_dates(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
                    "a,05.10.2026 12:00:00,shop,s1,inbound,text\n"
                    "b,2026/10/05 12:01,shop,s1,outbound,text\n"
                    "c,5.10.2026 12:02:00,shop,s1,outbound,text\n"
                    "d,31.02.2026 12:00:00,shop,s1,outbound,text\n")
    options = LoadOptions(timestamp_format=("%d.%m.%Y %H:%M:%S", "%Y/%m/%d %H:%M"), input_tz="Europe/Moscow",
                          on_invalid="skip")
    log = load(str(path), options)
    assert log.timestamp.tolist() == [1791190800_000000000, 1791190860_000000000, 1791190920_000000000]
    assert log.rejected.column("timestamp").to_pylist() == ["31.02.2026 12:00:00"]
    assert log.rejected.column("error").to_pylist()[0].endswith(
        "not a timestamp in [2000-01-01, 2100-01-01) UTC written as '%d.%m.%Y %H:%M:%S' or '%Y/%m/%d %H:%M' "
        "(--timestamp-format): '31.02.2026 12:00:00'")


def test_xlsx_numbers_in_id_columns_become_integer_text_and_bare_numbers_are_no_timestamps(tmp_path):
    import importlib.util
    from datetime import datetime

    spec = importlib.util.spec_from_file_location("make_exports", EXPORTS / "make_exports.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    path = tmp_path / "n.xlsx"
    make.write_xlsx(path, {"s": [["message_id", "timestamp", "business_id", "subscriber_id", "direction",
                                  "message_type"],
                                 ["m1", datetime(2026, 10, 5, 12), "shop", 79000006885, "inbound", "text"],
                                 [],
                                 ["m2", 1791190800, "shop", 79000006885, "outbound", "text"],
                                 ["m3", "05.10.2026 12:05:00", "shop", "+79000006885", "outbound", "text"]]})
    log = load(str(path), LoadOptions(input_tz="Europe/Moscow", on_invalid="skip",
                                      timestamp_format=("%d.%m.%Y %H:%M:%S",)))
    assert log.subscribers.to_pylist() == ["79000006885", "+79000006885"]
    assert log.timestamp.tolist() == [1791190800_000000000, 1791191100_000000000]
    assert (log.rows_read, log.blank_lines) == (3, 1)
    assert [(r["file_row"], r["code"], r["timestamp"]) for r in log.rejected.to_pylist()] == \
        [(2, "bad_timestamp", "1791190800.0")]
    assert [str(p) for p in log.notices] == [
        f"{path}, column 'subscriber_id': 2 ids are numbers in the workbook, read as integer text (e.g. "
        "'79000006885'); Excel keeps no leading zeros: store the column as text if the ids may have them",
        f"{path}, column 'subscriber_id': 1 subscriber appears under more than one spelling (e.g. '79000006885' and "
        "'+79000006885'); each spelling is billed as a subscriber of its own, with its own sessions: give "
        "--subscriber-format e164 (and --default-region) to read them as phone numbers"]


def test_bad_reading_options_are_usage_errors():
    log = EXPORTS / "canonical.csv"
    assert one_line_error(run("invoice", log, *BILL, "--encoding", "klingon"), code=2) == \
        "error: --encoding: 'klingon' is not a known encoding (e.g. utf-8, cp1251, utf-16)"
    assert one_line_error(run("invoice", log, *BILL, "--delimiter", ";;"), code=2) == \
        "error: --delimiter must be one character other than a quote or a line end (TAB: '\\t'), not ';;'"
    assert one_line_error(run("invoice", log, *BILL, "--default-region", "Russia"), code=2) == \
        "error: --default-region must be a two-letter region code such as RU or DE, not 'Russia'"
    assert one_line_error(run("invoice", log, *BILL, "--timestamp-format", "dd.mm.yyyy"), code=2) == \
        "error: --timestamp-format must be a strptime format such as '%d.%m.%Y %H:%M:%S', not 'dd.mm.yyyy'"


def test_tab_delimiter_as_typed_and_skip_rows(tmp_path, canonical):
    path = tmp_path / "x.txt"
    text = (EXPORTS / "canonical.csv").read_text(encoding="utf-8").replace('"', "").replace(",", "\t")
    path.write_text("exported by a tool\nsecond preamble line\n" + text, encoding="utf-8")
    doc, _ = invoice_json(path, "--delimiter", "\\t", "--skip-rows", "2")
    assert doc["total"] == canonical["total"]


E164 = [EXPORTS / "mixed_phones.csv", "--source", EXPORTS / "mixed_phones.toml"]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_e164_parsed_on_a_thread_bills_byte_identically(monkeypatch, tmp_path, kind):
    log = EXPORTS / "mixed_phones.csv"
    if kind == "parquet":                   # row groups of 300 rows: a dictionary each, parsed on the thread
        log = tmp_path / "mixed_phones.parquet"
        pq.write_table(pa.csv.read_csv(EXPORTS / "mixed_phones.csv", convert_options=pa.csv.ConvertOptions(
            column_types={"subscriber_id": pa.string(), "business_id": pa.string()})), log, row_group_size=300)
        column = pq.ParquetFile(log, read_dictionary=["subscriber_id"]).read().column("subscriber_id")
        assert len(typed.string_dictionaries(column)) == column.num_chunks == 7
    results = {}
    for name, least in (("inline", 10 ** 9), ("threaded", 0)):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        monkeypatch.setattr(phones, "BACKGROUND_MIN_VALUES", least)
        results[name] = run("invoice", log, "--source", EXPORTS / "mixed_phones.toml", *BILL, "--format", "json",
                            "--messages-out", "messages.csv")
        assert results[name].exit_code == 0, results[name].stderr
    inline, threaded = results["inline"], results["threaded"]
    assert threaded.stdout == inline.stdout and threaded.stderr == inline.stderr
    assert (tmp_path / "threaded" / "messages.csv").read_bytes() == (tmp_path / "inline" / "messages.csv").read_bytes()
    assert "distinct subscriber ids are not a valid phone number" in threaded.stderr


def test_an_error_inside_the_background_parses_is_the_same_one_line(monkeypatch):
    def refuse(value, region):
        raise InputError(Problem("phones", None, "subscriber_id", "bad", f"cannot read {value!r}"))

    monkeypatch.setattr(phones, "to_e164", refuse)
    inline = run("invoice", *E164, *BILL)
    monkeypatch.setattr(phones, "BACKGROUND_MIN_VALUES", 0)
    threaded = run("invoice", *E164, *BILL)
    assert threaded.exit_code == inline.exit_code != 0
    assert threaded.stderr == inline.stderr
    assert threaded.stderr.startswith("error: phones, column 'subscriber_id': cannot read ") and \
        threaded.stderr.count("\n") == 1


def test_an_error_elsewhere_stops_the_background_parses(monkeypatch):
    calls = []

    def slow(value, region):
        calls.append(value)
        time.sleep(0.002)

    def interrupted(*args, **kw):
        time.sleep(0.02)
        raise KeyboardInterrupt

    monkeypatch.setattr(phones, "BACKGROUND_MIN_VALUES", 0)
    monkeypatch.setattr(phones, "to_e164", slow)
    monkeypatch.setattr(typed, "parse_timestamps", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load([str(EXPORTS / "mixed_phones.csv")], LoadOptions(subscriber_format="e164", default_region="RU"))
    assert not [t for t in threading.enumerate() if t.name == "viber-sessions-e164"]
    done = len(calls)
    time.sleep(0.02)
    assert 0 < done == len(calls)


def test_the_parquet_reader_starts_the_parses_and_stops_them_on_an_error(monkeypatch, tmp_path):
    """With e164 the Parquet reader reads the subscribers first and starts their parses while
    it reads the rest; an error in between stops them (no thread left running)."""
    from viber_sessions.load import parquet as parquet_mod

    log = tmp_path / "mixed_phones.parquet"
    pq.write_table(pa.csv.read_csv(EXPORTS / "mixed_phones.csv", convert_options=pa.csv.ConvertOptions(
        column_types={"subscriber_id": pa.string(), "business_id": pa.string()})), log, row_group_size=300)
    monkeypatch.setattr(phones, "BACKGROUND_MIN_VALUES", 0)
    options = LoadOptions(subscriber_format="e164", default_region="RU")
    raw = parquet_mod.read_parquet(str(log), options)
    assert isinstance(raw.normalising, phones.Normalising)
    assert raw.table.column_names == pq.read_table(log).column_names
    typed_file = typed.type_columns(str(log), raw, options)
    assert "+79000000236" in typed_file.subscriber_id.dictionary.to_pylist()

    def broken(table):
        raise OSError("disk went away")

    monkeypatch.setattr(parquet_mod, "drop_blank_rows", broken)
    with pytest.raises(OSError, match="disk went away"):
        parquet_mod.read_parquet(str(log), options)
    assert not [t for t in threading.enumerate() if t.name == "viber-sessions-e164" and t.is_alive()]
