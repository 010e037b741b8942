"""Defects a red-team review found in the reading of exports (issue 8), each reproduced with the
files of tests/corpus/redteam/: JSON values that are no text, objects without the read keys,
a UTF-8 file read with a single-byte encoding, xlsx date cells next to text, codecs that are no
text encodings, %Z, the defaults file's types, and the pandas API's empty or mixed frames."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner

import viber_sessions as vs
from viber_sessions import pushdown
from viber_sessions.cli import cli
from viber_sessions.errors import InputError, UsageError
from viber_sessions.load import LoadOptions, load
from viber_sessions.tariff import load_tariff

ROOT = Path(__file__).parent.parent
RED = Path(__file__).parent / "corpus" / "redteam"
EXPORTS = Path(__file__).parent / "corpus" / "exports"
TARIFF = str(ROOT / "sample_data" / "tariff.toml")
BILL = ["--tariff", TARIFF, "--period", "2026-10"]
HEADER = "message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
LINE = ('{"message_id":"a%d","timestamp":"2026-10-05T09:0%d:00Z","business_id":"shop",'
        '"subscriber_id":"+79000000001","direction":"%s","message_type":"text"}\n')


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def invoice(*args):
    result = run("invoice", *args, *BILL, "--format", "json", "-q")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# 1. JSON Lines: only strings and numbers are values ------------------------------------------

@pytest.mark.parametrize("name,row,column,value", [("t1.jsonl", 4, "business_id", '{"id": "shop"}'),
                                                   ("t6.jsonl", 4, "message_id", "true")])
def test_jsonl_object_array_or_boolean_is_an_invalid_row(tmp_path, name, row, column, value):
    result = run("invoice", RED / name, *BILL, "--format", "json")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (f"error: {RED / name}, row {row}, column {column!r}: not text or a number (only JSON "
                             "strings and numbers are read; objects, arrays, true/false and NaN are not): "
                             f"{value!r}\n")
    rejects = tmp_path / "rejects.csv"
    doc = invoice(RED / name, "--on-invalid", "skip", "--rejects", rejects)
    assert [a["business_id"] for a in doc["accounts"]] == ["shop"]          # no account '{"id": "shop"}'
    assert (doc["rows"]["read"], doc["rows"]["rejected"], doc["rows"]["blank_lines"]) == (4, 1, 0)
    rejected = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert rejected[["file_row", "column", "code", column]].values.tolist() == [["4", column, "bad_value", value]]
    found = json.loads(run("validate", RED / name, "--format", "json").stdout)["findings"]
    assert [(f["row"], f["column"], f["code"], f["value"]) for f in found] == [(4, column, "bad_value", value)]


def test_jsonl_values_line_by_line(tmp_path):
    """The line-by-line reading (a bad line forces it): arrays, NaN and nested objects are
    invalid cells; numbers are their text as written; the other rows are read."""
    path = tmp_path / "v.jsonl"
    path.write_text(LINE % (1, 0, "inbound") + "not json\n"
                    + '{"message_id":1.50,"timestamp":"2026-10-05T09:02:00Z","business_id":"shop",'
                      '"subscriber_id":79000000001,"direction":"outbound","message_type":"text"}\n'
                    + '{"message_id":"a3","timestamp":NaN,"business_id":"shop","subscriber_id":"+7900",'
                      '"direction":"outbound","message_type":"text"}\n'
                    + '{"message_id":"a4","timestamp":"2026-10-05T09:04:00Z","business_id":"shop",'
                      '"subscriber_id":["+7900"],"direction":"outbound","message_type":"text"}\n')
    log = load(str(path), LoadOptions(on_invalid="skip"))
    assert log.message_id.to_pylist() == ["a1", "1.50"]
    assert log.subscribers.to_pylist() == ["+79000000001", "79000000001"]
    assert [(p.row, p.column, p.code, p.value) for p in log.problems] == [
        (2, None, "bad_json", "not json"), (4, "timestamp", "bad_value", "NaN"),
        (5, "subscriber_id", "bad_value", '["+7900"]')]


def test_explain_by_pushdown_treats_a_bad_json_value_as_the_full_load_does(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(LINE % (1, 0, "inbound") + LINE.replace('"a%d"', "true") % (1, "outbound"))
    tariff = load_tariff(TARIFF)
    with pytest.raises(InputError) as full:
        load(str(path))
    with pytest.raises(InputError) as by_pushdown:
        pushdown.explain(str(path), tariff, "shop", "+79000000001", "UTC")
    assert str(by_pushdown.value) == str(full.value)
    assert full.value.problems[0].code == "bad_value"


# 2. JSON Lines: an object with keys is a row ------------------------------------------------

def test_jsonl_object_without_the_read_keys_is_an_invalid_row_not_blank():
    doc = invoice(RED / "t2.jsonl", "--on-invalid", "skip")
    assert (doc["rows"]["read"], doc["rows"]["rejected"], doc["rows"]["blank_lines"]) == (4, 1, 0)
    result = run("invoice", RED / "t2.jsonl", *BILL)
    assert result.exit_code == 1
    assert result.stderr == f"error: {RED / 't2.jsonl'}, row 4, column 'message_id': missing value\n"


@pytest.mark.parametrize("slow", [False, True])
def test_jsonl_only_empty_objects_are_blank(tmp_path, slow):
    path = tmp_path / "b.jsonl"
    path.write_text(LINE % (1, 0, "inbound") + "{}\n  \n" + '{"message_id":"","note":null}\n'
                    + '{"Message_id":"x"}\n' + ("[1]\n" if slow else "") + LINE % (2, 1, "outbound"))
    log = load(str(path), LoadOptions(on_invalid="skip"))
    assert (log.rows_read, log.blank_lines, log.n_rejected) == (4 if slow else 3, 3, 2 if slow else 1)
    assert log.rejected.column("code").to_pylist()[0] == "missing_value"
    assert log.message_id.to_pylist() == ["a1", "a2"]


# 3. A UTF-8 file read with a single-byte encoding --------------------------------------------

def test_single_byte_encoding_over_a_utf8_file_is_refused(tmp_path):
    folder = tmp_path / "mixenc"
    folder.mkdir()
    for name in ("mixenc_cp1251.csv", "mixenc_utf8.csv"):
        (folder / name).write_bytes((RED / name).read_bytes())
    result = run("invoice", folder, "--encoding", "cp1251", *BILL, "--format", "csv")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (f"error: {folder / 'mixenc_utf8.csv'}: the file is UTF-8 text with non-ASCII characters "
                             "but is read as cp1251 (--encoding or the profile): each would become other characters "
                             "and its ids other ids; read it as UTF-8 (in a run without --encoding) or convert it "
                             "to cp1251\n")
    one = invoice(folder / "mixenc_cp1251.csv", "--encoding", "cp1251")
    other = invoice(folder / "mixenc_utf8.csv")
    assert [a["business_id"] for a in one["accounts"]] == [a["business_id"] for a in other["accounts"]] == ["Магазин"]


def test_non_ascii_after_the_first_block_is_refused_too(tmp_path):
    path = tmp_path / "late.csv"
    rows = "".join(f"m{i},2026-10-05T09:00:00Z,shop,+79000000001,inbound,text\n" for i in range(200))
    path.write_text(HEADER + rows + "z1,2026-10-05T10:00:00Z,Магазин,+79000000002,inbound,text\n", encoding="utf-8")
    assert path.stat().st_size > 8192
    with pytest.raises(InputError) as exc:
        load(str(path), LoadOptions(encoding="cp1251"))
    assert exc.value.problems[0].code == "encoding_mismatch"
    cp = tmp_path / "cp.csv"
    cp.write_bytes(path.read_text(encoding="utf-8").encode("cp1251"))
    assert load(str(cp), LoadOptions(encoding="cp1251")).businesses.to_pylist() == ["shop", "Магазин"]


# 4. xlsx: date cells next to text keep their exact instant -----------------------------------

def test_xlsx_date_cells_next_to_text_keep_their_instant():
    fmt = ["--timestamp-format", "%d.%m.%Y %H:%M"]
    lossy = run("invoice", RED / "lossy.xlsx", *BILL, *fmt, "--account", "shop", "--format", "csv")
    precise = run("invoice", RED / "precise.xlsx", *BILL, *fmt, "--account", "shop", "--format", "csv")
    assert lossy.exit_code == precise.exit_code == 0
    assert lossy.stdout == precise.stdout
    assert "2026-10,shop,sessions,,,,1,1.20,1.20\n" in lossy.stdout
    log = load(str(RED / "lossy.xlsx"), LoadOptions(timestamp_format=("%d.%m.%Y %H:%M",)))
    assert pd.to_datetime(log.timestamp).strftime("%Y-%m-%d %H:%M:%S").tolist() == [
        "2026-10-06 08:59:59", "2026-10-07 08:59:30", "2026-10-10 10:00:00"]


# 5. Codecs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("codec", ["rot13", "hex", "base64", "uu", "zlib", "bz2"])
def test_codecs_that_are_no_text_encodings_are_usage_errors(codec):
    result = run("invoice", EXPORTS / "canonical.csv", "--encoding", codec, *BILL)
    assert result.exit_code == 2
    assert result.stderr == f"error: --encoding: {codec!r} is not a text encoding (e.g. utf-8, cp1251, utf-16)\n"


def test_decoding_errors_are_one_line_naming_the_file():
    path = RED / "u16le_nobom.csv"
    result = run("invoice", path, "--encoding", "utf-16", *BILL)
    assert result.exit_code == 1
    assert result.stderr == (f"error: {path}: the text cannot be read as utf-16 (UTF-16 stream does not start with "
                             "BOM); a file without a byte order mark needs utf-16-le or utf-16-be\n")
    result = run("invoice", EXPORTS / "canonical.csv", "--encoding", "punycode", *BILL)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {EXPORTS / 'canonical.csv'}: the text cannot be read as punycode (")


def test_utf16le_without_bom_is_read_with_its_encoding(tmp_path):
    path = RED / "u16le_nobom.csv"
    as_utf8 = tmp_path / "u8.csv"
    as_utf8.write_text(path.read_bytes().decode("utf-16-le"), encoding="utf-8")
    read, plain = invoice(path, "--encoding", "utf-16-le"), invoice(as_utf8)
    read.pop("generated_by")
    plain.pop("generated_by")
    assert read == plain and read["rows"]["read"] > 0
    result = run("invoice", path, *BILL)
    assert result.exit_code == 1 and "binary data" in result.stderr


# 6. --timestamp-format directives ------------------------------------------------------------

def test_zone_names_are_refused_at_option_time():
    result = run("invoice", RED / "zname.csv", "--timestamp-format", "%Y-%m-%d %H:%M:%S %Z", *BILL)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --timestamp-format '%Y-%m-%d %H:%M:%S %Z': %Z is not supported (a zone name such as MSK or UTC is "
        "ambiguous and would be dropped: write the offset with %z, e.g. +0300 or +03:00, or give --input-tz for "
        "times without an offset); supported: %Y %m %d %H %M %S %f %z %y %I %p %b %B %a %A %j %%\n")
    with pytest.raises(UsageError, match="a lone % ends it"):
        LoadOptions(timestamp_format=("%d.%m.%Y %",))


def test_offsets_with_percent_z(tmp_path):
    path = tmp_path / "z.csv"
    path.write_text(HEADER + "a1,05.10.2026 12:00:00 +0300,shop,+7900,inbound,text\n"
                    "a2,05.10.2026 09:01:00 +00:00,shop,+7900,outbound,text\n")
    log = load(str(path), LoadOptions(timestamp_format=("%d.%m.%Y %H:%M:%S %z",), input_tz="Asia/Tokyo"))
    assert pd.to_datetime(log.timestamp).strftime("%H:%M").tolist() == ["09:00", "09:01"]


# 7. The defaults file's values ---------------------------------------------------------------

@pytest.mark.parametrize("text,message", [
    ('skip_rows = "abc"', "skip_rows: must be a whole number, not 'abc'"),
    ("tz = 5", "tz: must be a string, not 5"),
    ("account = [1]", "account: must be a string, not 1"),
    ('quiet = "yes"', "quiet: must be true or false, not 'yes'"),
    ("[invoice]\nskip_rows = -1", "[invoice] skip_rows: -1 is not in the range x>=0."),
    ('on_invalid = "maybe"', "on_invalid: 'maybe' is not one of 'error', 'skip'."),
])
def test_defaults_file_values_are_checked_naming_file_and_key(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIBER_SESSIONS_CONFIG", raising=False)
    (tmp_path / "viber-sessions.toml").write_text(text + "\n")
    result = run("invoice", EXPORTS / "canonical.csv", *BILL)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"error: defaults file viber-sessions.toml: {message}\n"


def test_defaults_file_single_string_for_a_repeatable_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIBER_SESSIONS_CONFIG", raising=False)
    (tmp_path / "viber-sessions.toml").write_text('account = "shop"\n')
    doc = invoice(EXPORTS / "canonical.csv")
    assert [a["business_id"] for a in doc["accounts"]] == ["shop"]


# 8. The pandas API -----------------------------------------------------------------------------

def test_api_empty_frame_is_no_data_rows():
    frame = pd.read_csv(EXPORTS / "canonical.csv", dtype=str, keep_default_na=False)
    with pytest.raises(InputError) as exc:
        vs.bill(frame.iloc[:0], TARIFF, "2026-10")
    assert str(exc.value) == "<DataFrame>: no data rows (the table has no rows)"
    assert exc.value.problems[0].code == "no_data_rows"
    with pytest.raises(InputError, match="no data rows"):
        vs.bill(pa.Table.from_pandas(frame.iloc[:0], preserve_index=False), TARIFF, "2026-10")


def test_api_mixed_object_column_is_an_input_error_naming_it():
    frame = pd.read_csv(EXPORTS / "canonical.csv", dtype=str, keep_default_na=False).head(4)
    frame["subscriber_id"] = ["+7900", 7901, "+7902", 7903]
    with pytest.raises(InputError) as exc:
        vs.bill(frame, TARIFF, "2026-10")
    assert str(exc.value) == ("<DataFrame>, column 'subscriber_id': the column mixes values of different types "
                              "(Expected bytes, got a 'int' object); give it one type, text for identifiers "
                              "(e.g. df['subscriber_id'].astype('string'))")


# 9. pushdown as a package ----------------------------------------------------------------------

def test_pushdown_package_modules_stay_small():
    folder = ROOT / "viber_sessions" / "pushdown"
    sizes = {p.name: len(p.read_text().splitlines()) for p in folder.glob("*.py")}
    assert set(sizes) == {"__init__.py", "scan.py", "sources.py", "textsources.py"}
    assert max(sizes.values()) <= 400, sizes
    assert callable(pushdown.explain) and callable(pushdown.sessions) and callable(pushdown.candidate_log)


def test_invalid_cells_out_of_core_as_in_memory(tmp_path):
    """The cells a reader finds invalid (JSON values, xlsx timestamps) are rejected alike by the
    out-of-core engine: the same invoice and the same rejects file."""
    args = [RED / "t1.jsonl", RED / "t6.jsonl", RED / "lossy.xlsx", "--timestamp-format", "%d.%m.%Y %H:%M",
            "--timestamp-format", "%Y-%m-%dT%H:%M:%SZ", *BILL, "--format", "csv", "--on-invalid", "skip", "-q"]
    memory = run("invoice", *args, "--rejects", tmp_path / "m.csv")
    bounded = run("invoice", *args, "--rejects", tmp_path / "b.csv", "--memory-limit", "200KB")
    assert memory.exit_code == bounded.exit_code == 0, memory.stderr + bounded.stderr
    assert memory.stdout == bounded.stdout
    assert (tmp_path / "m.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    rejected = pd.read_csv(tmp_path / "m.csv", dtype=str)
    assert rejected["code"].tolist() == ["bad_value", "bad_value"]
