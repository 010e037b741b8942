"""Loading: formats, identifiers, timestamps, synonyms, and every kind of bad input."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv  # noqa: F401  (pa.csv)
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from viber_sessions import InputError, LoadOptions, UsageError, load
from viber_sessions.cli import cli
from viber_sessions.timeutil import iso_utc

CORPUS = Path(__file__).parent / "corpus"
CASES = Path(__file__).parent / "cases"
TARIFF = str(CASES / "invoice" / "tariff.toml")


def _invoice(*args, input=None):
    return CliRunner().invoke(cli, ["invoice", *args, "--tariff", TARIFF, "--period", "2026-10", "--format", "json"],
                              input=input)


# --- bad input: one clear line naming file, row and value; exit 1; no traceback ----------------

BAD = {
    "bad_timestamp.csv": "bad_timestamp.csv, row 2, column 'timestamp': not a timestamp",
    "missing_subscriber.csv": "missing_subscriber.csv, row 2, column 'subscriber_id': missing value",
    "bad_direction.csv": "bad_direction.csv, row 2, column 'direction': unknown direction",
    "missing_column.csv": "missing_column.csv, column 'message_type': required column is missing",
    "ragged.csv": "ragged.csv, row 2: wrong number of fields",
    "empty.csv": "empty.csv: the file is empty",
    "missing_type.csv": "missing_type.csv, row 2, column 'message_type': missing value",
    "impossible_date.csv": "impossible_date.csv, row 1, column 'timestamp': not a timestamp",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_one_line(name):
    result = _invoice(str(CORPUS / name))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: " + str(CORPUS / name)) or lines[0].startswith("error: ")
    assert BAD[name] in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_value_is_quoted_in_the_error():
    result = _invoice(str(CORPUS / "bad_timestamp.csv"))
    assert "'not-a-date'" in result.stderr
    result = _invoice(str(CORPUS / "bad_direction.csv"))
    assert "'sideways'" in result.stderr


def test_missing_file_and_empty_glob():
    result = _invoice("no/such/file.csv")
    assert result.exit_code == 1 and result.stderr.strip() == "error: no/such/file.csv: no such file"
    result = _invoice("no/such/*.csv")
    assert result.exit_code == 1 and "no file matches this pattern" in result.stderr


def test_verbose_shows_traceback():
    result = _invoice(str(CORPUS / "bad_timestamp.csv"), "-v")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


def test_counts_every_problem():
    bad = CORPUS / "bad_timestamp.csv"
    with pytest.raises(InputError) as info:
        load([str(bad), str(CORPUS / "bad_direction.csv")])
    assert info.value.total == 2
    assert "and 1 more problem" in str(info.value)


def test_skip_invalid_rows_keeps_accounting(tmp_path):
    rejects, messages = tmp_path / "rejects.csv", tmp_path / "messages.csv"
    files = [str(CORPUS / n) for n in ("bad_timestamp.csv", "ragged.csv", "missing_subscriber.csv")]
    result = _invoice(*files, "--on-invalid", "skip", "--rejects", str(rejects), "--messages-out", str(messages))
    assert result.exit_code == 0, result.stderr
    import json
    rows = json.loads(result.stdout)["rows"]
    assert rows["read"] == 6 and rows["rejected"] == 3
    assert rows["read"] == sum(v for k, v in rows.items() if k != "read")
    rej = pa.csv.read_csv(rejects).to_pydict()
    assert rej["code"] == ["bad_timestamp", "malformed_row", "missing_value"]
    assert rej["file_row"] == [2, 2, 2]
    assert rej["row"] == [2, 4, 6]                         # 1-based, in the whole input
    out = pa.csv.read_csv(messages, convert_options=pa.csv.ConvertOptions(strings_can_be_null=False)).to_pydict()
    assert len(out["billing"]) == 6
    assert out["billing"].count("rejected") == 3
    assert out["source_row"] == [1, 2, 1, 2, 1, 2]


# --- identifiers, timestamps, synonyms ---------------------------------------------------------------


def test_awkward_csv_bom_crlf_quotes_synonyms_case():
    log = load(str(CORPUS / "bom_crlf_quoted.csv"))
    assert log.message_id.to_pylist() == ["m1", "m2"]
    assert log.inbound.tolist() == [True, False]
    assert log.message_types == ["text"]
    assert iso_utc(log.timestamp).to_pylist() == ["2026-10-05T09:00:00Z", "2026-10-05T09:01:00Z"]


def test_map_columns_and_epoch_detection():
    options = LoadOptions(column_map={"message_id": "id", "timestamp": "time", "business_id": "account",
                                      "subscriber_id": "phone", "direction": "dir", "message_type": "kind"})
    log = load(str(CORPUS / "mapped_epoch.csv"), options)
    assert log.subscribers.to_pylist() == ["0079001234567"]       # leading zeros kept
    assert iso_utc(log.timestamp).to_pylist() == ["2026-10-05T09:00:00Z", "2026-10-05T09:01:00Z"]
    # read as milliseconds, 1791190800 is 1970-01-21: outside [2000, 2100), so not a timestamp
    with pytest.raises(InputError) as info:
        load(str(CORPUS / "mapped_epoch.csv"), LoadOptions(column_map=options.column_map, epoch_unit="ms"))
    assert info.value.problems[0].row == 1 and info.value.problems[0].code == "bad_timestamp"
    assert info.value.problems[0].value == "1791190800"


def test_unknown_mapped_column_is_a_usage_error():
    with pytest.raises(UsageError, match="'phone' is not a column"):
        LoadOptions(column_map={"phone": "x"})


def test_input_tz_for_naive_timestamps(tmp_path):
    p = tmp_path / "naive.csv"
    p.write_text("message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
                 "m1,2026-10-05T12:00:00,shop,+7,in,text\nm2,2026-10-05T12:00:00Z,shop,+7,in,text\n")
    log = load(str(p), LoadOptions(input_tz="Europe/Moscow"))
    assert iso_utc(log.timestamp).to_pylist() == ["2026-10-05T09:00:00Z", "2026-10-05T12:00:00Z"]


def test_identifiers_stay_strings_in_parquet_and_csv(tmp_path):
    table = pa.table({"message_id": ["001", "002"], "timestamp": ["2026-10-05T09:00:00Z", "2026-10-05T09:01:00Z"],
                      "business_id": ["007", "007"], "subscriber_id": ["+79001234567", "+79001234567"],
                      "direction": ["inbound", "outbound"], "message_type": ["text", "text"]})
    pq.write_table(table, tmp_path / "a.parquet")
    pa.csv.write_csv(table, tmp_path / "a.csv")
    for name in ("a.parquet", "a.csv"):
        log = load(str(tmp_path / name))
        assert log.message_id.to_pylist() == ["001", "002"]
        assert log.businesses.to_pylist() == ["007"]
        assert log.subscribers.to_pylist() == ["+79001234567"]


def test_parquet_native_timestamps_with_and_without_zone(tmp_path):
    base = {"message_id": ["a"], "business_id": ["b"], "subscriber_id": ["s"], "direction": ["in"],
            "message_type": ["text"]}
    ns = 1_791_190_800 * 10**9
    pq.write_table(pa.table({**base, "timestamp": pa.array([ns // 1000], pa.timestamp("us", tz="Europe/Moscow"))}),
                   tmp_path / "tz.parquet")
    pq.write_table(pa.table({**base, "timestamp": pa.array([ns // 10**6], pa.timestamp("ms"))}), tmp_path / "naive.parquet")
    pq.write_table(pa.table({**base, "timestamp": pa.array([1_791_190_800], pa.int64())}), tmp_path / "epoch.parquet")
    assert load(str(tmp_path / "tz.parquet")).timestamp.tolist() == [ns]
    assert load(str(tmp_path / "naive.parquet"), LoadOptions(input_tz="Europe/Moscow")).timestamp.tolist() == \
        [ns - 3 * 3600 * 10**9]
    assert load(str(tmp_path / "epoch.parquet")).timestamp.tolist() == [ns]


def test_float_identifiers_are_refused(tmp_path):
    table = pa.table({"message_id": ["a"], "timestamp": ["2026-10-05T09:00:00Z"], "business_id": ["b"],
                      "subscriber_id": pa.array([79001234567.0]), "direction": ["in"], "message_type": ["text"]})
    pq.write_table(table, tmp_path / "f.parquet")
    with pytest.raises(InputError, match="column must hold strings"):
        load(str(tmp_path / "f.parquet"))


def test_gzip_directory_glob_and_stdin(tmp_path):
    src = CASES / "01_basic.csv"
    with open(src, "rb") as fh, gzip.open(tmp_path / "x.csv.gz", "wb") as out:
        shutil.copyfileobj(fh, out)
    (tmp_path / "sub").mkdir()
    shutil.copy(CASES / "02_image_cannot_open.csv", tmp_path / "sub" / "y.csv")
    (tmp_path / "notes.txt").write_text("not a log")
    log = load(str(tmp_path))
    assert log.sources == [str(tmp_path / "sub" / "y.csv"), str(tmp_path / "x.csv.gz")]
    assert log.rows_read == 8
    assert load(str(tmp_path / "*.csv.gz")).rows_read == 3
    result = _invoice("-", input=src.read_bytes())
    assert result.exit_code == 0, result.stderr
    import json
    assert json.loads(result.stdout)["rows"]["read"] == 3


def test_status_and_duplicates():
    log = load(str(CORPUS / "status_and_duplicates.csv"))
    assert log.statuses == ["delivered", "failed"]
    assert log.status.tolist() == [-1, 1, 0, -1]
    assert log.inbound.tolist() == [True, False, False, True]


def test_small_codes_sorted_names_empty_last_in_one_pass():
    from viber_sessions.load.typed import code_numbers, per_row, small_codes

    arr = pa.array([" Text", "image", None, "", "TEXT", "video", "image"]).dictionary_encode()
    parts, names = small_codes(arr)
    assert names == ["image", "text", "video", ""]
    assert per_row(parts, code_numbers(names)).tolist() == [1, 0, -1, 3, 1, 2, 0]
    # chunks with dictionaries of their own (and plain text) share one code space, none copied
    chunks = pa.chunked_array([pa.array(["b", "a"]).dictionary_encode(), pa.array(["c", None, "A "]).dictionary_encode()])
    parts, names = small_codes(chunks)
    assert names == ["a", "b", "c"] and len(parts) == 2
    assert per_row(parts, code_numbers(names)).tolist() == [1, 0, 2, -1, 0]
    parts, names = small_codes(pa.array(["x", None, "y"]))
    assert per_row(parts, np.array([10, 20, 99], np.int8)).tolist() == [10, 99, 20]


def test_low_cardinality_codes_across_row_groups_and_files(tmp_path):
    """Types and statuses read from several row groups and two files whose names differ get one
    sorted code space; an empty status is "none given" (-1) and no status name."""
    first = pa.table({
        "message_id": [f"m{i}" for i in range(6)], "timestamp": ["2026-10-01T10:00:00Z"] * 6,
        "business_id": ["b"] * 6, "subscriber_id": ["+1"] * 6,
        "direction": ["inbound", "outbound"] * 3, "message_type": ["text", "image", "text", "video", "text", "image"],
        "status": ["", "read", "", "failed", "read", ""],
    })
    second = first.set_column(5, "message_type", pa.array(["audio"] * 6)).set_column(
        6, "status", pa.array(["delivered"] * 6)).set_column(0, "message_id", pa.array([f"n{i}" for i in range(6)]))
    pq.write_table(first, tmp_path / "a.parquet", row_group_size=2)
    pq.write_table(second, tmp_path / "b.parquet", row_group_size=4)
    one = load([str(tmp_path / "a.parquet")])
    assert one.message_types == ["image", "text", "video"] and one.statuses == ["failed", "read"]
    assert one.mtype.tolist() == [1, 0, 1, 2, 1, 0] and one.status.tolist() == [-1, 1, -1, 0, 1, -1]
    assert one.row.tolist() == list(range(6))
    both = load([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")])
    assert both.message_types == ["audio", "image", "text", "video"]
    assert both.statuses == ["delivered", "failed", "read"]
    assert both.mtype.tolist() == [2, 1, 2, 3, 2, 1] + [0] * 6
    assert both.status.tolist() == [-1, 2, -1, 1, 2, -1] + [0] * 6
    assert both.row.tolist() == list(range(12))


def test_large_dictionaries_of_several_row_groups_keep_every_id(tmp_path):
    """Row groups whose id dictionaries together exceed Arrow's cheap unify are put on one
    dictionary by translating their indices: every row keeps its id, a null id is rejected."""
    n = 9_000
    subscribers = [f"+7{(i * 7919) % 6_000:07d}" for i in range(n)]
    subscribers[4_500] = None
    table = pa.table({
        "message_id": [f"m{i}" for i in range(n)], "timestamp": ["2026-10-01T10:00:00Z"] * n,
        "business_id": ["b"] * n, "subscriber_id": subscribers, "direction": ["inbound"] * n,
        "message_type": ["text"] * n,
    })
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=3_000)
    log = load([str(tmp_path / "big.parquet")], LoadOptions(on_invalid="skip"))
    kept = [s for s in subscribers if s is not None]
    assert log.subscribers.take(pa.array(log.subscriber)).to_pylist() == kept
    assert len(set(log.subscribers.to_pylist())) == len(log.subscribers) == len(set(kept))
    assert log.row.tolist() == [i for i in range(n) if i != 4_500] and log.n_rejected == 1


def _log_view(log) -> tuple:
    return (log.message_id.to_pylist(), log.businesses.to_pylist(), log.business.tolist(),
            log.subscribers.to_pylist(), log.subscriber.tolist(), log.timestamp.tolist(), log.row.tolist(),
            log.rejected.to_pylist(), [str(p) for p in log.problems], [str(p) for p in log.notices])


@pytest.mark.parametrize("name", ["status_and_duplicates.csv", "missing_subscriber.csv", "bad_timestamp.csv",
                                  "dst_berlin.csv"])
def test_subscribers_put_together_on_a_thread_load_the_same(name, tmp_path, monkeypatch):
    """A large file's subscriber column is put together on a thread while the timestamps are
    typed: the same log, rejects and problems as in line (forced here on small files, CSV and
    Parquet in several row groups)."""
    import importlib

    typed = importlib.import_module("viber_sessions.load.typed")
    src = CORPUS / name
    parquet = tmp_path / "log.parquet"
    pq.write_table(pa.csv.read_csv(src, convert_options=pa.csv.ConvertOptions(
        column_types={c: pa.string() for c in ("message_id", "business_id", "subscriber_id", "timestamp")})),
        parquet, row_group_size=3)
    options = LoadOptions(on_invalid="skip")
    inline = [_log_view(load([str(p)], options)) for p in (src, parquet)]
    monkeypatch.setattr(typed, "THREADED_ROWS", 0)
    assert [_log_view(load([str(p)], options)) for p in (src, parquet)] == inline


def test_a_bad_subscriber_column_on_the_thread_is_the_same_one_error(tmp_path, monkeypatch):
    import importlib

    typed = importlib.import_module("viber_sessions.load.typed")
    path = tmp_path / "floats.parquet"
    pq.write_table(pa.table({"message_id": ["m1"], "timestamp": ["not a time"], "business_id": ["b"],
                             "subscriber_id": [1.5], "direction": ["inbound"], "message_type": ["text"]}), path)
    with pytest.raises(InputError) as inline:
        load([str(path)])
    monkeypatch.setattr(typed, "THREADED_ROWS", 0)
    with pytest.raises(InputError) as threaded:
        load([str(path)])
    assert str(threaded.value) == str(inline.value) and "bad_column_type" in repr(threaded.value.problems[0].code)


def test_the_spellings_check_on_a_thread_gives_the_same_notice(tmp_path, monkeypatch):
    """With many subscribers the spellings check runs on a thread while the log is segmented:
    the same notices, in the same order; an error there is raised where they are read."""
    import importlib

    assembly = importlib.import_module("viber_sessions.load.assembly")
    path = tmp_path / "spelled.csv"
    path.write_text("message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
                    "m1,2026-10-01T10:00:00Z,b,+79000006885,inbound,text\n"
                    "m2,2026-10-01T10:01:00Z,b,79000006885,outbound,text")       # no line end: a notice too
    inline = [str(p) for p in load([str(path)]).notices]
    assert len(inline) == 2 and "spelling" in inline[1]
    monkeypatch.setattr(assembly, "SPELLINGS_ON_A_THREAD", 0)
    log = load([str(path)])
    assert isinstance(log.__dict__["_notices_later"], assembly.Future)
    assert [str(p) for p in log.notices] == inline

    def broken(values):
        raise RuntimeError("spellings check failed")

    monkeypatch.setattr(assembly.phones, "subscriber_spellings", broken)
    log = load([str(path)])
    with pytest.raises(RuntimeError, match="spellings check failed"):
        log.notices


def test_empty_table_is_schema_empty_table_without_pandas():
    """load.empty_table gives what Schema.empty_table gives (one empty chunk per column) without
    importing pandas: an explanation builds one before its readers start."""
    import subprocess
    import sys

    code = ("import sys, pyarrow as pa; from viber_sessions.load import empty_table; "
            "s = pa.schema([('a', pa.string()), ('b', pa.timestamp('ns', tz='UTC')), "
            "('c', pa.dictionary(pa.int32(), pa.string())), ('d', pa.decimal128(18, 2))]); "
            "t = empty_table(s); print('pandas' in sys.modules, [c.num_chunks for c in t.columns], "
            "t.equals(s.empty_table()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "[1,", "1,", "1,", "1]", "True"]


@pytest.mark.parametrize("block", [1, 3, 1 << 20])
def test_has_empty_reads_the_offsets_of_slices_and_large_strings(monkeypatch, block):
    """has_empty (the check that spares missing_mask a full-length array) agrees with looking at
    the values, across its blocks, on sliced arrays and on 64-bit offsets."""
    from viber_sessions.load import raw

    monkeypatch.setattr(raw, "EMPTY_BLOCK", block)
    rng = np.random.default_rng(7)
    for _ in range(200):
        values = [str(v) if v else "" for v in rng.integers(0, 30, rng.integers(0, 12))]
        for kind in (pa.string(), pa.large_string(), pa.binary()):
            arr = pa.array([v.encode() for v in values] if kind == pa.binary() else values, kind)
            start = int(rng.integers(0, len(values) + 1))
            part = arr.slice(start, int(rng.integers(0, len(values) - start + 1)))
            expected = any(len(v) == 0 for v in part.to_pylist())
            assert raw.has_empty(part) is expected, (values, kind, start, len(part))
            assert (raw.missing_mask(part) == np.array([len(v) == 0 for v in part.to_pylist()], dtype=bool)).all()


def test_check_utf8_reads_the_bytes_of_slices_and_large_strings():
    """check_utf8 looks at the bytes of the values in the array only (a slice's neighbours do
    not count), for 32- and 64-bit offsets, and names the first value that is not UTF-8."""
    from viber_sessions.load.damage import check_utf8

    for kind in (pa.string(), pa.large_string()):
        raw = pa.array([b"ok", b"\xff\xfe", "ё".encode(), b""], pa.large_binary() if kind == pa.large_string()
                       else pa.binary()).view(kind)
        check_utf8("f", "message_id", raw.slice(2))                 # 'ё' and '': valid
        check_utf8("f", "message_id", raw.slice(0, 1))
        check_utf8("f", "message_id", raw.slice(0, 0))
        with pytest.raises(InputError) as exc:
            check_utf8("f", "message_id", raw.slice(1, 2))
        problem = exc.value.problems[0]
        assert (problem.column, problem.code, problem.value) == ("message_id", "damaged_column", "\ufffd\ufffd")


def test_a_damaged_column_refused_while_subscribers_are_parsed_ends_the_parsing_thread(tmp_path):
    """With e164 subscribers, a large file's numbers are parsed on a thread while its other
    columns are read; a damaged column's refusal ends that thread (it went on, and the
    process's thread-switch interval stayed lowered)."""
    import sys
    import threading

    n = 30_000
    mids = [f"m{i}".encode() for i in range(n)]
    mids[-1] = b"m\xff"
    path = tmp_path / "e164.parquet"
    pq.write_table(pa.table({
        "message_id": pa.array(mids, pa.binary()).view(pa.string()),
        "timestamp": pa.array(np.arange(n, dtype=np.int64) * 1000 + 1_791_000_000_000, pa.timestamp("ms", "UTC")),
        "business_id": ["shop"] * n, "subscriber_id": [f"8900{i:07d}" for i in range(n)],
        "direction": ["inbound"] * n, "message_type": ["text"] * n}), path)
    switch = sys.getswitchinterval()
    with pytest.raises(InputError, match="not UTF-8 text"):
        load([str(path)], LoadOptions(subscriber_format="e164", default_region="RU"))
    assert not [t for t in threading.enumerate() if t.name == "viber-sessions-e164" and t.is_alive()]
    assert sys.getswitchinterval() == switch


def test_a_json_lines_lone_surrogate_is_a_bad_cell_not_an_internal_error(tmp_path):
    """``"\\udc80"`` in a JSON Lines value is no text (UTF-8 cannot hold it): that row is refused
    naming its row, column and value, and set aside under --on-invalid skip (it was exit 3)."""
    path = tmp_path / "s.jsonl"
    line = ('{"message_id": "%s", "timestamp": "2026-10-01T10:0%d:00Z", "business_id": "shop", '
            '"subscriber_id": "+7901", "direction": "inbound", "message_type": "text"}\n')
    path.write_text(line % ("m\\udc80", 0) + line % ("\\u0441\\ud83d\\ude00", 1))
    with pytest.raises(InputError) as exc:
        load([str(path)])
    problem = exc.value.problems[0]
    assert (problem.row, problem.column, problem.code, problem.value) == (1, "message_id", "bad_value", "m\\udc80")
    log = load([str(path)], LoadOptions(on_invalid="skip"))
    assert log.message_id.to_pylist() == ["с\U0001F600"] and len(log.rejected) == 1


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("row_group", [1, 7, 1000])
def test_the_columns_read_on_threads_are_those_of_one_whole_read(tmp_path, threads, row_group):
    """Plain columns read whole, dictionary columns row group by row group, on ``threads``
    threads: the table of pyarrow's one whole read, chunk for chunk."""
    from viber_sessions.load.parquet import read_columns

    rng = np.random.default_rng(row_group)
    n = 50
    table = pa.table({
        "message_id": pa.array([None if k % 9 == 4 else f"m{k}" for k in range(n)], pa.string()),
        "timestamp": pa.array(rng.integers(1.7e12, 1.8e12, n), pa.timestamp("ms", tz="UTC")),
        "business_id": pa.array(rng.choice(["bank", "shop", ""], n)),
        "subscriber_id": pa.array([None if k % 7 == 0 else f"+7900{v}" for k, v in enumerate(rng.integers(0, 20, n))]),
        "direction": pa.array(rng.choice(["inbound", "outbound"], n)),
        "message_type": pa.array(rng.integers(0, 3, n)),          # not text: read as it is
    })
    path = str(tmp_path / "log.parquet")
    pq.write_table(table, path, row_group_size=row_group)
    pf = pq.ParquetFile(path, read_dictionary=["business_id", "subscriber_id", "direction"])
    columns = table.column_names[::-1]
    whole = pf.read(columns=columns)
    got = read_columns(path, pf, columns, threads=threads)
    assert got.schema == whole.schema and got.equals(whole)
    assert [got.column(c).num_chunks for c in columns] == [whole.column(c).num_chunks for c in columns]
    for c in columns:
        for a, b in zip(got.column(c).chunks, whole.column(c).chunks):
            assert a.equals(b), c


def test_a_damaged_row_group_read_on_threads_is_the_files_one_line_error(tmp_path):
    """A row group whose bytes are overwritten stops the read with the file's error, whichever
    thread met it (the others end)."""
    path = tmp_path / "log.parquet"
    n = 4000
    pq.write_table(pa.table({"message_id": [f"m{k}" for k in range(n)],
                             "timestamp": [f"2026-10-01T09:{k % 60:02d}:00Z" for k in range(n)],
                             "business_id": ["bank"] * n, "subscriber_id": [f"+7900{k % 50}" for k in range(n)],
                             "direction": ["inbound", "outbound"] * (n // 2), "message_type": ["text"] * n}),
                   path, row_group_size=500, compression="zstd")
    meta = pq.ParquetFile(path).metadata
    chunk = meta.row_group(5).column(3)                     # subscriber_id of row group 5
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[start + 20:start + chunk.total_compressed_size - 10] = b"\x07" * (chunk.total_compressed_size - 30)
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as exc:
        load([str(path)])
    assert str(exc.value).startswith(f"{path}") and "\n" not in str(exc.value)


@pytest.mark.parametrize("sizes,tasks", [([5] * 40, 8), ([1] * 3, 8), ([100, 1, 1, 1, 100], 2), ([7], 4)])
def test_row_groups_are_read_in_a_few_runs_of_consecutive_groups(tmp_path, sizes, tasks):
    """A file of many small row groups is read in about ``tasks`` calls (one call a group took
    1.5 times as long as pyarrow's own read for 20,000 groups of 10 rows), every group once,
    in order."""
    from viber_sessions.load.parquet import group_ranges

    path = str(tmp_path / "groups.parquet")
    with pq.ParquetWriter(path, pa.schema([("message_id", pa.string())])) as writer:
        for k, n in enumerate(sizes):
            writer.write_table(pa.table({"message_id": [f"m{k}-{i}" for i in range(n)]}), row_group_size=n)
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == sizes
    ranges = group_ranges(meta, tasks)
    assert [g for a, b in ranges for g in range(a, b)] == list(range(len(sizes)))
    assert all(a < b for a, b in ranges) and len(ranges) <= tasks


def test_the_threads_read_the_file_that_was_opened_even_when_it_is_replaced(tmp_path):
    """Every reading thread reads through one open file: a file replaced by name meanwhile (log
    rotation) is not read in part with the other file's footer."""
    import os

    from viber_sessions.load.parquet import Held, open_parquet, read_columns

    n = 2000

    def log(shift: int) -> pa.Table:
        return pa.table({"message_id": [f"m{i:05d}" for i in range(n)],
                         "timestamp": pa.array(np.arange(n, dtype=np.int64) * 1000 + 1_791_000_000_000 + shift,
                                               pa.timestamp("ms", "UTC")),
                         "business_id": ["bank"] * n, "subscriber_id": [f"+7900{i % 99:04d}" for i in range(n)],
                         "direction": ["inbound"] * n, "message_type": ["text"] * n})

    live, other = tmp_path / "live.parquet", tmp_path / "other.parquet"
    for path, shift in ((live, 0), (other, 3_600_000)):         # the same bytes but the timestamps
        pq.write_table(log(shift), path, compression="none", use_dictionary=False, write_statistics=False,
                       row_group_size=500)
    pf, present, _ = open_parquet(str(live), LoadOptions())
    with Held(str(live)) as held:
        os.replace(other, live)
        table = read_columns(str(live), pf, present, threads=2, held=held)
    assert table.column("timestamp").equals(log(0).column("timestamp"))
