"""Hostile and careless input to the loader (issue 12, "No silent harm"): every case has one
exact answer, the same in every engine (in memory, --memory-limit, Dask)."""

from __future__ import annotations

import dataclasses
import gzip
import os
import signal
import struct
import subprocess
import sys
import zlib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from viber_sessions import chunked, core
from viber_sessions.cli import cli
from viber_sessions.errors import InputError, Problem, UsageError
from viber_sessions.load import LoadOptions, csvread, csvscan, load, parquet
from viber_sessions.timeutil import MAX_NS, MIN_NS, NS, iso_utc, local_to_utc

LOADER = sys.modules["viber_sessions.load"]
HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
CASES = HERE / "cases"
TARIFF = str(CASES / "invoice" / "tariff.toml")
HEADER = "message_id,timestamp,business_id,subscriber_id,direction,message_type"
BASE = (CASES / "invoice" / "messages.csv").read_bytes()          # 18 rows, 3 accounts
SKIP = LoadOptions(on_invalid="skip")


def write(path: Path, data: bytes | str) -> str:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def ts(text: str, tz: str = "UTC") -> int:
    """Python's reading of a wall time (fold=0), in nanoseconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()) * NS


def table(n: int, **columns) -> pa.Table:
    base = {"message_id": [f"m{i}" for i in range(n)], "timestamp": ["2026-10-05T09:00:00Z"] * n,
            "business_id": ["shop"] * n, "subscriber_id": ["+79000000001"] * n,
            "direction": ["inbound", "outbound"] * (n // 2) + ["inbound"] * (n % 2), "message_type": ["text"] * n}
    base.update(columns)
    return pa.table(base)


def invoice(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["invoice", *args, "--tariff", TARIFF, "--period", "2026-10", "--format", "json", "-q"])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def engines(paths, dask_client=None, **request):
    """The invoice, rejected rows and notices of each engine (in memory, partitioned, Dask)."""
    from viber_sessions import dask_engine

    req = core.Request(**{"inputs": [str(p) for p in paths], "tariff": TARIFF, "period": "2026-10", **request})
    whole = core.run_invoice(req)
    out = {"memory": (whole.invoice.rows, whole.log.rejected, tuple(whole.log.notices))}
    parts = core.run_invoice_chunked(req, memory_limit=4000)
    out["chunked"] = (parts.invoice.rows, parts.rejected, tuple(parts.notices))
    assert parts.invoice.accounts == whole.invoice.accounts and parts.invoice.total == whole.invoice.total
    if dask_client is not None:
        cluster = dask_engine.run_invoice(req, client=dask_client, buckets=3)
        out["dask"] = (cluster.invoice.rows, cluster.rejected, tuple(cluster.notices))
        assert cluster.invoice.accounts == whole.invoice.accounts and cluster.invoice.total == whole.invoice.total
    return out


def same_everywhere(results: dict):
    """The value every engine agrees on (rows, rejected rows as dicts, notices)."""
    first = None
    for name, (rows, rejected, notices) in results.items():
        value = (rows, rejected.to_pylist(), notices)
        assert rows.balanced(), (name, rows)
        if first is None:
            first = value
        assert value == first, name
    return first


def raises_everywhere(paths, dask_client=None, **request) -> str:
    """The one-line error every engine gives (the same line)."""
    from viber_sessions import dask_engine

    req = core.Request(inputs=[str(p) for p in paths], tariff=TARIFF, period="2026-10", **request)
    messages = []
    runs = [lambda: core.run_invoice(req), lambda: core.run_invoice_chunked(req, memory_limit=4000)]
    if dask_client is not None:
        runs.append(lambda: dask_engine.run_invoice(req, client=dask_client, buckets=3))
    for run in runs:
        with pytest.raises(InputError) as info:
            run()
        messages.append(str(info.value))
    assert len(set(messages)) == 1, messages
    assert "\n" not in messages[0]
    return messages[0]


# --- 1. timestamps: [2000-01-01, 2100-01-01) UTC, never wrapped --------------------------------


def test_out_of_range_epochs_and_iso_texts_are_bad_timestamps(dask_client):
    path = CORPUS / "out_of_range_epochs.csv"
    rows, rejected, _ = same_everywhere(engines([path], dask_client, on_invalid="skip"))
    assert rows.read == 13 and rows.rejected == 9
    assert [r["file_row"] for r in rejected] == list(range(1, 10))
    assert {r["code"] for r in rejected} == {"bad_timestamp"}
    assert [r["timestamp"] for r in rejected][:5] == ["20237934874", "99999999999", "9223372036854775807",
                                                      "-1791190800", "18446744073709551616"]
    log = load(str(path), SKIP)
    assert iso_utc(log.timestamp).to_pylist() == ["2026-10-05T09:00:00Z", "2026-10-05T09:01:00Z",
                                                  "2000-01-01T00:00:00Z", "2099-12-31T23:59:59Z"]


def test_an_epoch_outside_the_range_is_an_error_naming_row_and_value():
    with pytest.raises(InputError) as info:
        load(str(CORPUS / "out_of_range_epochs.csv"))
    p = info.value.problems[0]
    assert (p.row, p.column, p.code, p.value, info.value.total) == (1, "timestamp", "bad_timestamp", "20237934874", 9)
    assert "[2000-01-01, 2100-01-01)" in p.message


@pytest.mark.parametrize("unit, values, valid", [
    ("ns", ["1791190800000000000", "4102444799999999999", "4102444800000000000", "9223372036854775807",
            "946684799999999999", "99999999999999999999"], [True, True, False, False, False, False]),
    ("s", ["1791190800", "4102444800", "946684800", "9223372036854775807"], [True, False, True, False]),
    ("us", ["1791190800000000", "9223372036854775807", "1"], [True, False, False]),
])
def test_explicit_epoch_units_never_overflow(tmp_path, unit, values, valid):
    data = HEADER + "\n" + "".join(f"m{i},{v},shop,+7,inbound,text\n" for i, v in enumerate(values))
    log = load(write(tmp_path / "e.csv", data), LoadOptions(on_invalid="skip", epoch_unit=unit))
    assert log.rejected.column("file_row").to_pylist() == [i + 1 for i, ok in enumerate(valid) if not ok]
    assert ((log.timestamp >= MIN_NS) & (log.timestamp < MAX_NS)).all()
    assert len(log) == sum(valid)


REAL_S = 1_791_190_800                    # 2026-10-05T09:00:00Z
PARQUET_TIMESTAMPS = {
    # a value v in these units is v * unit ns: shifted by 2^64 ns it wraps onto the real instant
    "int64 ms shifted by 2^64 ns": pa.array([REAL_S * 1000, REAL_S * 1000 + 2**64 // 10**6]),
    "int64 s shifted by 2^64 ns": pa.array([REAL_S, REAL_S + 2**64 // 10**9]),
    "int64 max": pa.array([REAL_S, 2**63 - 1]),
    "timestamp[s] year 2611": pa.array([REAL_S, 20_237_934_874], pa.timestamp("s", "UTC")),
    "timestamp[ms] shifted": pa.array([REAL_S * 1000, REAL_S * 1000 + 2**64 // 10**6], pa.timestamp("ms", "UTC")),
    "timestamp[us] naive shifted": pa.array([REAL_S * 10**6, REAL_S * 10**6 + 2**64 // 1000], pa.timestamp("us")),
    "timestamp[ns] 1969": pa.array([REAL_S * NS, -1], pa.timestamp("ns", "UTC")),
    "uint64 2^64-1": pa.array([REAL_S, 2**64 - 1], pa.uint64()),
    "int32 negative": pa.array([REAL_S, -5], pa.int32()),
    "date32 1970": pa.array([20366, 0], pa.int32()).cast(pa.date32()),
}


@pytest.mark.parametrize("kind", sorted(PARQUET_TIMESTAMPS))
def test_parquet_timestamps_outside_the_range_are_rejected(tmp_path, kind):
    path = tmp_path / "t.parquet"
    pq.write_table(table(2, timestamp=PARQUET_TIMESTAMPS[kind]), path)
    rows, rejected, _ = same_everywhere(engines([path], on_invalid="skip"))
    assert (rows.read, rows.rejected) == (2, 1)
    assert [(r["file_row"], r["code"]) for r in rejected] == [(2, "bad_timestamp")]
    log = load(str(path), SKIP)
    expected = "2025-10-05T00:00:00Z" if kind.startswith("date32") else "2026-10-05T09:00:00Z"
    assert iso_utc(log.timestamp).to_pylist() == [expected]


def test_a_parquet_column_wrapped_by_2_64_ns_is_never_billed(tmp_path):
    """Every timestamp outside [2000, 2100): every row rejected, so nothing is billed."""
    path = tmp_path / "wrapped.parquet"
    pq.write_table(table(4, timestamp=pa.array([REAL_S * 1000 + 2**64 // 10**6 + k for k in range(4)])), path)
    code, out, err = invoice(str(path), "--on-invalid", "skip")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        f"error: {path}, row 1, column 'timestamp': all 4 rows were rejected (--on-invalid skip); the first: "
        "not a timestamp in [2000-01-01, 2100-01-01) UTC (ISO-8601 such as 2026-10-05T09:00:00+03:00, or epoch "
        f"seconds/milliseconds): '{REAL_S * 1000 + 2**64 // 10**6}'"]
    code, _, err = invoice(str(path))
    assert code == 1 and "(and 3 more problems;" in err


# --- 2. daylight-saving gaps: the offset before the change (fold=0) ----------------------------


def test_naive_times_in_a_gap_keep_order_and_spacing(dask_client):
    path = CORPUS / "dst_berlin.csv"
    log = load(str(path), LoadOptions(input_tz="Europe/Berlin"))
    texts = ["2026-03-29 01:59:59", "2026-03-29 02:00:01", "2026-03-29 02:30:00", "2026-03-29 02:59:59",
             "2026-03-29 03:00:00", "2026-10-25 02:30:00"]
    assert log.timestamp.tolist() == [ts(t, "Europe/Berlin") for t in texts]
    assert iso_utc(log.timestamp).to_pylist() == ["2026-03-29T00:59:59Z", "2026-03-29T01:00:01Z", "2026-03-29T01:30:00Z",
                                                  "2026-03-29T01:59:59Z", "2026-03-29T01:00:00Z",
                                                  "2026-10-25T00:30:00Z"]   # ambiguous: the earlier instant
    assert (log.timestamp[3] - log.timestamp[1]) // NS == 3598
    same_everywhere(engines([path], dask_client, input_tz="Europe/Berlin"))


def test_gap_in_parquet_naive_timestamps_and_dates(tmp_path):
    wall = pa.array(["2026-03-08T02:30:00", "2026-03-08T01:59:59", "2026-11-01T01:30:00"]).cast(pa.timestamp("ns"))
    path = tmp_path / "ny.parquet"
    pq.write_table(table(3, timestamp=wall.cast(pa.timestamp("us"))), path)
    log = load(str(path), LoadOptions(input_tz="America/New_York"))
    assert log.timestamp.tolist() == [ts("2026-03-08T02:30:00", "America/New_York"),
                                      ts("2026-03-08T01:59:59", "America/New_York"),
                                      ts("2026-11-01T01:30:00", "America/New_York")]
    assert iso_utc(log.timestamp).to_pylist() == ["2026-03-08T07:30:00Z", "2026-03-08T06:59:59Z", "2026-11-01T05:30:00Z"]


def test_local_to_utc_only_moves_gap_values():
    wall = pa.array(["2026-03-29T02:00:00", "2026-03-29T01:59:59.999999999", "2026-03-29T02:59:59.999999999",
                     None, "2026-07-01T12:00:00"]).cast(pa.timestamp("ns"))
    out = local_to_utc(wall, "Europe/Berlin")
    assert out.type == pa.timestamp("ns", tz="UTC") and out.null_count == 1
    assert out.cast(pa.int64()).to_pylist() == [ts("2026-03-29T01:00:00"), ts("2026-03-29T00:59:59") + NS - 1,
                                                ts("2026-03-29T01:59:59") + NS - 1, None, ts("2026-07-01T10:00:00")]
    assert local_to_utc(wall, "UTC").cast(pa.int64()).to_pylist()[0] == ts("2026-03-29T02:00:00")


# --- 3. a last line without a line end; a truncated .gz ----------------------------------------


def test_a_last_line_without_line_end_is_read_with_a_notice(dask_client):
    path = CORPUS / "no_final_newline.csv"
    rows, rejected, notices = same_everywhere(engines([path], dask_client))
    assert rows.read == 18 and not rejected
    assert notices == (Problem(str(path), 18, None, "no_final_newline",
                               "the last line has no line end (the file may have been cut short); it was read as it stands"),)
    assert load(str(CASES / "invoice" / "messages.csv")).notices == ()


@pytest.mark.parametrize("tail, read, rejected, notice", [
    (b"g2,2026-09-20T10:01:00+03:00,old,+79000000007,outbound,te", 18, 0, 18),       # cut mid-field: as it stands
    (b'g2,2026-09-20T10:01:00+03:00,old,+79000000007,outbound,"te', 18, 1, 18),      # cut inside quotes: invalid
    (b"g2,2026-09-20T10:01:00+03:00,old", 18, 1, 18),                                # cut short: wrong field count
    (b"   ", 17, 0, None),                                                            # a blank last line
    (b"g2,2026-09-20T10:01:00+03:00,old,+79000000007,outbound,text\r\n", 18, 0, None),
])
def test_cut_last_lines(tmp_path, tail, read, rejected, notice):
    body = BASE[:BASE.rindex(b"\ng2,") + 1] + tail
    tariff = write(tmp_path / "t.toml", Path(TARIFF).read_text().replace("[outbound_prices]",
                                                                           '[outbound_prices]\ndefault = "2.00"'))
    for name, data in (("cut.csv", body), ("cut.csv.gz", gzip.compress(body, mtime=0))):
        path = write(tmp_path / name, data)
        rows, rej, notices = same_everywhere(engines([path], on_invalid="skip", tariff=tariff))
        assert (rows.read, rows.rejected) == (read, rejected)
        assert [(p.code, p.row) for p in notices] == ([("no_final_newline", notice)] if notice else [])


def test_a_truncated_gz_is_an_error_naming_the_file(tmp_path, dask_client):
    data = gzip.compress(BASE * 50, mtime=0)
    path = write(tmp_path / "cut.csv.gz", data[:len(data) - 9])          # the trailer and a byte of data
    message = raises_everywhere([path], dask_client, on_invalid="skip")
    assert message == f"{path}: the compressed file is cut short (the end of its compressed stream is missing)"


# --- 4. no field holds a line break: a record over several lines is one invalid row --------------


def test_a_stray_quote_rejects_one_row_only(dask_client):
    path = CORPUS / "stray_quote.csv"
    rows, rejected, _ = same_everywhere(engines([path], dask_client, on_invalid="skip"))
    assert (rows.read, rows.rejected, rows.duplicates) == (18, 1, 1)
    assert [(r["row"], r["file_row"], r["code"], r["message_id"]) for r in rejected] == [(5, 5, "malformed_line", None)]
    assert rejected[0]["error"].startswith(f"{path}, row 5: a quoted field is not closed on its line (fields may not "
                                           "contain line breaks")
    assert rejected[0]["error"].endswith(": 'b2,2026-10-10T12:00:00+03:00,shop,\"+79000000002,inbound,text'")
    log = load(str(path), SKIP)
    assert log.businesses.to_pylist() == ["shop", "taxi", "old"]          # nothing after row 5 vanished


def test_quoted_line_breaks_and_commas(tmp_path):
    data = (HEADER + "\n"
            '"q1","2026-10-05T09:00:00Z","a,b","+7","inbound","text"\n'        # a quoted delimiter: fine
            '"q2","2026-10-05T09:01:00Z","sh""op","+7","outbound","text"\n'     # a doubled quote: fine
            '"q3","2026-10-05T09:02:00Z","multi\n'                              # a field over two lines
            'line","+7","inbound","text"\n'
            'q4,2026-10-05T09:03:00Z,shop,+7,inbound,text\r\n')
    path = write(tmp_path / "q.csv", data)
    rows, rejected, _ = same_everywhere(engines([path], on_invalid="skip"))
    assert (rows.read, rows.rejected) == (5, 2)
    assert [(r["file_row"], r["code"]) for r in rejected] == [(3, "malformed_line"), (4, "malformed_row")]
    log = load(path, SKIP)
    assert log.businesses.to_pylist() == ["a,b", 'sh"op', "shop"]


def test_invalid_utf8_is_one_rejected_row_and_no_unraisable(tmp_path, capfd):
    lines = BASE.replace(b"\r\n", b"\n").split(b"\n")
    lines[3] = lines[3].replace(b"shop", b"sh\xffop") + b',"\xc3'               # malformed and not UTF-8
    lines[4] = lines[4].replace(b"shop", b"sh\xed\xa0\x80op")                   # not UTF-8 (a surrogate)
    path = write(tmp_path / "u.csv", b"\n".join(lines))
    rows, rejected, _ = same_everywhere(engines([path], on_invalid="skip"))
    assert (rows.read, rows.rejected) == (18, 2)
    assert [(r["file_row"], r["code"]) for r in rejected] == [(3, "malformed_line"), (4, "bad_encoding")]
    assert rejected[1]["error"].endswith("the text is not valid UTF-8 (for another encoding give --encoding, "
                                         "e.g. --encoding cp1251): "
                                         "'b1,2026-10-01T01:00:00+03:00,sh\\\\xed\\\\xa0\\\\x80op,+79000000002,outbound,"
                                         "text_button'")
    with pytest.raises(InputError) as info:
        load(path)
    assert (info.value.problems[0].row, info.value.total) == (3, 2)
    captured = capfd.readouterr()
    assert "Exception ignored" not in captured.err + captured.out


# --- 5. blank lines and rows ---------------------------------------------------------------------


def test_blank_lines_are_counted_outside_the_rows(dask_client):
    rows, rejected, _ = same_everywhere(engines([CORPUS / "blank_lines.csv"], dask_client))
    assert (rows.read, rows.blank_lines, rows.rejected) == (18, 7, 0)
    log = load(str(CORPUS / "blank_lines.csv"))
    assert (log.rows_read, log.blank_lines) == (18, 7)
    plain = core.run_invoice(core.Request(inputs=[str(CASES / "invoice" / "messages.csv")], tariff=TARIFF,
                                          period="2026-10")).invoice.rows
    assert rows == dataclasses.replace(plain, blank_lines=7)


def test_blank_lines_keep_row_numbers_of_data_lines(tmp_path, dask_client):
    data = HEADER + "\n\n\n" + "m1,2026-10-05T09:00:00Z,shop,+7,inbound,text\n" + ",,,,,\n \n" + \
        "m2,bad,shop,+7,inbound,text\n\n"
    path = write(tmp_path / "b.csv", data)
    rows, rejected, _ = same_everywhere(engines([path], dask_client, on_invalid="skip"))
    assert (rows.read, rows.rejected, rows.blank_lines) == (2, 1, 5)
    assert [(r["row"], r["file_row"]) for r in rejected] == [(2, 2)]


def test_all_empty_parquet_rows_are_blank(tmp_path, dask_client):
    t = table(5, message_id=["m0", None, "m2", "", "m4"], timestamp=["2026-10-05T09:00:00Z", None, "x", "", "x"],
              business_id=["shop", None, "shop", "", "shop"], subscriber_id=["+7", None, "+7", None, "+7"],
              direction=["in", None, "in", "", "out"], message_type=["text", None, "text", "", "text"])
    path = tmp_path / "p.parquet"
    pq.write_table(t, path, row_group_size=2)                    # several pieces for Dask
    rows, rejected, _ = same_everywhere(engines([path], dask_client, on_invalid="skip"))
    assert (rows.read, rows.blank_lines, rows.rejected) == (3, 2, 2)
    assert [(r["row"], r["file_row"], r["code"]) for r in rejected] == [(2, 2, "bad_timestamp"), (3, 3, "bad_timestamp")]


def test_no_data_rows_is_an_error_but_a_header_only_file_among_others_is_fine(tmp_path, dask_client):
    header_only = write(tmp_path / "h.csv", HEADER + "\n\n  \n")
    blank = write(tmp_path / "blank.csv", "\n\n")
    empty = write(tmp_path / "empty.csv", "")
    pq.write_table(table(0), tmp_path / "zero.parquet")
    assert raises_everywhere([header_only], dask_client) == \
        f"{header_only}: no data rows: the file holds a header and 2 blank lines"
    assert raises_everywhere([empty]) == f"{empty}: the file is empty"
    assert raises_everywhere([blank]) == f"{blank}: no data rows: the file holds no header and 2 blank lines"
    assert raises_everywhere([header_only, blank, empty, tmp_path / "zero.parquet"]) == \
        f"{header_only}, {blank}, {empty}, ...: no data rows in any of the 4 files (headers and blank lines only)"
    rows, _, _ = same_everywhere(engines([header_only, blank, CASES / "invoice" / "messages.csv", empty,
                                          tmp_path / "zero.parquet"], dask_client))
    assert (rows.read, rows.blank_lines) == (18, 4)
    code, out, err = invoice(header_only)
    assert code == 1 and out == "" and err == f"error: {header_only}: no data rows: the file holds a header and 2 blank lines\n"


# --- 6. every row rejected ---------------------------------------------------------------------


def test_every_row_rejected_is_an_error(tmp_path, dask_client):
    path = write(tmp_path / "bad.csv", HEADER + "\nm1,x,shop,+7,inbound,text\nm2,y,shop,+7,inbound,text\n\n")
    message = raises_everywhere([path], dask_client, on_invalid="skip")
    assert message == (f"{path}, row 1, column 'timestamp': all 2 rows were rejected (--on-invalid skip); the first: "
                       "not a timestamp in [2000-01-01, 2100-01-01) UTC (ISO-8601 such as 2026-10-05T09:00:00+03:00, "
                       "or epoch seconds/milliseconds): 'x'")
    code, out, err = invoice(path, "--on-invalid", "skip")
    assert code == 1 and out == "" and err == f"error: {message}\n"
    # validate still lists every problem (it reads with skip and collects file problems)
    log = LOADER.load([path], SKIP, file_problems=[])
    assert (log.n_rejected, log.rows_read) == (2, 2)


# --- 7. two columns of one name ----------------------------------------------------------------


def test_duplicate_csv_column_is_an_error(tmp_path, dask_client):
    path = write(tmp_path / "d.csv", HEADER + ",business_id\nm1,2026-10-05T09:00:00Z,shop,+7,inbound,text,bank\n")
    assert raises_everywhere([path], dask_client) == \
        f"{path}, column 'business_id': 2 columns have this name; rename or drop all but one"
    # unread columns may repeat (an export's trailing empty names)
    ok = write(tmp_path / "ok.csv", HEADER + ",,\nm1,2026-10-05T09:00:00Z,shop,+7,inbound,text,,\n")
    assert load(ok).rows_read == 1


def test_duplicate_after_map_and_map_collisions(tmp_path):
    path = write(tmp_path / "m.csv", "id,message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
                                     "i1,m1,2026-10-05T09:00:00Z,shop,+7,inbound,text\n")
    with pytest.raises(InputError) as info:
        load(path, LoadOptions(column_map={"message_id": "id"}))
    assert str(info.value) == (f"{path}, column 'id': columns 'id', 'message_id' would all be 'message_id' after "
                               "--map; rename or drop the others")
    swapped = load(path, LoadOptions(column_map={"business_id": "subscriber_id", "subscriber_id": "business_id"}))
    assert swapped.businesses.to_pylist() == ["+7"]
    with pytest.raises(UsageError):
        LoadOptions(column_map={"message_id": "x", "business_id": "x"})


def test_duplicate_parquet_column_is_an_error(tmp_path, dask_client):
    t = table(2)
    t = t.append_column("business_id", pa.array(["x", "y"]))
    path = tmp_path / "d.parquet"
    pq.write_table(t, path)
    assert raises_everywhere([path], dask_client) == \
        f"{path}, column 'business_id': 2 columns have this name; rename or drop all but one"


# --- 8. no input crashes the process -----------------------------------------------------------


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A real process (a crash is a death by a signal), with 4 GiB of address space at most."""
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    return subprocess.run([sys.executable, "-m", "viber_sessions", "invoice", *args, "--tariff", TARIFF,
                           "--period", "2026-10", "--format", "json", "-q"], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=cap)


@pytest.mark.parametrize("extra", [[], ["--memory-limit", "64MB"]])
def test_a_header_and_many_blank_lines_do_not_crash(tmp_path, extra):
    """A gzipped header and 20 MiB of line ends (a gibibyte crashed Arrow's streaming reader);
    192 MiB of line ends between two rows: never a row (or a block) per blank line in memory."""
    row = b"m1,2026-10-05T09:00:00Z,shop,+79000000001,inbound,text\n"
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    blank = c.compress(HEADER.encode() + b"\n") + c.compress(b"\n" * (20 << 20)) + c.flush()
    path = write(tmp_path / "blank.csv.gz", blank)
    r = _run(path, *extra)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"error: {path}: no data rows: the file holds a header and {20 << 20} blank lines\n"
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [c.compress(HEADER.encode() + b"\n" + row)]
    parts += [c.compress(b"\n" * (16 << 20)) for _ in range(12)]
    parts += [c.compress(b"\r\n" * 1000 + b"  \n" * 1000 + row.replace(b"m1", b"m2")), c.flush()]
    path = write(tmp_path / "rows.csv.gz", b"".join(parts))
    r = _run(path, *extra)
    assert r.returncode == 0, r.stderr
    import json
    rows = json.loads(r.stdout)["rows"]
    assert (rows["read"], rows["blank_lines"]) == (2, (192 << 20) + 2000)


def test_long_header_lines(tmp_path):
    names = ",".join(f"extra_{i:06d}" for i in range(14_000))                 # about 140 KB
    path = write(tmp_path / "wide.csv", HEADER + "," + names + "\n" +
                 "m1,2026-10-05T09:00:00Z,shop,+7,inbound,text" + "," * 14_000 + "\n")
    log = load(path)
    assert (log.rows_read, log.businesses.to_pylist()) == (1, ["shop"])
    assert chunked.run_invoice([path], LoadOptions(), core.load_tariff(TARIFF), core.Period.parse("2026-10"),
                               4000).rows_read == 1
    one_name = write(tmp_path / "one_name.csv", HEADER + "," + "x" * 140_000 + "\n" +
                     "m1,2026-10-05T09:00:00Z,shop,+7,inbound,text,\n")     # one field over csv's 128 KiB default
    assert load(one_name).rows_read == 1
    huge = write(tmp_path / "huge.csv", "x" * (2 << 20) + "\n")
    with pytest.raises(InputError) as info:
        load(huge)
    assert str(info.value) == f"{huge}: the first line is longer than 1 MiB: not a CSV header"


# --- 9. Parquet metadata that declares more than the file holds ------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def claim_rows(path: Path, real: int, fake: int, out: Path) -> int:
    """Rewrite every Thrift-encoded row/value count ``real`` of the footer as ``fake``."""
    data = path.read_bytes()
    n = struct.unpack("<I", data[-8:-4])[0]
    footer = data[-8 - n:-8]
    old, new = _varint(real << 1), _varint(fake << 1)            # zigzag of a positive number
    edited = footer.replace(old, new)
    out.write_bytes(data[:-8 - n] + edited + struct.pack("<I", len(edited)) + b"PAR1")
    return footer.count(old)


def test_a_small_parquet_file_claiming_10_12_rows_is_refused(tmp_path, dask_client):
    real = tmp_path / "real.parquet"
    pq.write_table(table(54_321), real)
    fake = tmp_path / "fake.parquet"
    assert claim_rows(real, 54_321, 10**12, fake) >= 8          # file, row group and column counts
    assert pq.ParquetFile(fake).metadata.num_rows == 10**12
    message = raises_everywhere([fake], dask_client)
    assert message.startswith(f"{fake}: row group 0 declares 1000000000000 rows in ")
    assert message.endswith(" bytes: the file is damaged or crafted")


def test_a_parquet_row_group_whose_counts_disagree_is_refused(tmp_path):
    real = tmp_path / "real.parquet"
    pq.write_table(table(54_321), real)
    data = real.read_bytes()
    n = struct.unpack("<I", data[-8:-4])[0]
    footer = data[-8 - n:-8]
    # only the last count (the row group's num_rows follows its columns) claims more rows
    at = footer.rindex(_varint(54_321 << 1))
    edited = footer[:at] + _varint(10**7 << 1) + footer[at + len(_varint(54_321 << 1)):]
    fake = write(tmp_path / "fake.parquet", data[:-8 - n] + edited + struct.pack("<I", len(edited)) + b"PAR1")
    with pytest.raises(InputError) as info:
        load(fake)
    assert str(info.value) == (f"{fake}: row group 0, column 'message_id' declares 54321 values for 10000000 rows: "
                               "the file is damaged or crafted")


def test_rows_beyond_the_available_memory_are_refused_before_reading(tmp_path, monkeypatch):
    """A run-length encoded column repeats one value millions of times in a few bytes."""
    n = 2_000_000
    codes = pa.array(np.zeros(n, np.int32))
    t = pa.table({c: pa.DictionaryArray.from_arrays(codes, pa.array([v])) for c, v in (
        ("message_id", "m1"), ("timestamp", "2026-10-05T09:00:00Z"), ("business_id", "shop"),
        ("subscriber_id", "+7"), ("direction", "inbound"), ("message_type", "text"))})
    path = tmp_path / "rle.parquet"
    pq.write_table(t, path, row_group_size=n)
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(parquet, "available_memory", lambda: 64 << 20)
    with pytest.raises(InputError) as info:
        load(str(path))
    assert str(info.value) == (f"{path}: declares 2000000 rows: more than the 64 MiB of available memory can hold "
                               "(bill it with --memory-limit)")


# --- 10. --rejects rows count from 1 ---------------------------------------------------------


def test_rejected_rows_are_numbered_from_1_in_the_whole_input(tmp_path, dask_client):
    a = tmp_path / "a.parquet"
    pq.write_table(table(5, timestamp=["2026-10-05T09:00:00Z", None, "x", "2026-10-05T09:00:00Z",
                                       "2026-10-05T09:00:00Z"],
                         message_id=["a0", None, "a2", "a3", None]), a, row_group_size=2)
    b = write(tmp_path / "b.csv", HEADER + "\nb1,2026-10-05T09:00:00Z,shop,+7,inbound,text\nb2,nope,shop,+7,in,text\n")
    rows, rejected, _ = same_everywhere(engines([a, b], dask_client, on_invalid="skip"))
    assert [(r["row"], r["file"], r["file_row"], r["code"]) for r in rejected] == [
        (2, str(a), 2, "missing_value"), (3, str(a), 3, "bad_timestamp"), (5, str(a), 5, "missing_value"),
        (7, b, 2, "bad_timestamp")]
    assert rows.read == 7


# --- 11. the work folder of --memory-limit goes away whatever happens ---------------------------


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit, MemoryError, InputError])
def test_work_folder_removed_on_any_exception(tmp_path, monkeypatch, exc):
    work = tmp_path / "work"
    work.mkdir()
    real = chunked.duplicate_rows

    def boom(paths):
        assert any(p.name.startswith("viber-sessions-") for p in work.iterdir())
        real(paths)
        raise exc(Problem("x", None, None, "x", "x")) if exc is InputError else exc()

    monkeypatch.setattr(chunked, "duplicate_rows", boom)
    with pytest.raises(exc):
        core.run_invoice_chunked(core.Request(inputs=[str(CASES / "invoice" / "messages.csv")], tariff=TARIFF,
                                              period="2026-10"), memory_limit=4000, workdir=str(work))
    assert list(work.iterdir()) == []


def test_work_folder_removed_when_a_signal_handler_raises(tmp_path, monkeypatch):
    class Terminated(BaseException):
        pass

    def handler(signum, frame):
        raise Terminated()

    work = tmp_path / "work"
    work.mkdir()
    real = chunked.partition

    def partition(*args, **kwargs):
        parts = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)                         # delivered here, in the main thread
        return parts

    old = signal.signal(signal.SIGTERM, handler)
    try:
        monkeypatch.setattr(chunked, "partition", partition)
        with pytest.raises(Terminated):
            core.run_invoice_chunked(core.Request(inputs=[str(CASES / "invoice" / "messages.csv")], tariff=TARIFF,
                                                  period="2026-10"), memory_limit=4000, workdir=str(work))
    finally:
        signal.signal(signal.SIGTERM, old)
    assert list(work.iterdir()) == []


def test_signals_during_the_removal_wait_for_it(tmp_path, monkeypatch):
    seen = []

    def handler(signum, frame):
        seen.append(os.path.exists(folder))
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with chunked.work_folder(str(tmp_path)) as folder:
                real = chunked.shutil.rmtree

                def rmtree(path, **kwargs):
                    os.kill(os.getpid(), signal.SIGINT)               # held until the folder is gone
                    real(path, **kwargs)

                monkeypatch.setattr(chunked.shutil, "rmtree", rmtree)
    finally:
        signal.signal(signal.SIGINT, old)
    assert seen == [False] and list(tmp_path.iterdir()) == []


# --- the fast reading and the exact reading agree --------------------------------------------

ROWS = [b"m%d,2026-10-05T09:%02d:00Z,shop,+7900%d,%s,text,%s" % (
    i, i % 60, i, b"inbound" if i % 2 else b"outbound", b"" if i % 3 else b"failed") for i in range(12)]
ROWS += [b'"q%d","2026-10-05T10:00:00Z","bank","+7","in","image",""' % i for i in range(4)]
TOKENS = [b'"', b",", b"\n", b"\r\n", b"\r", b"\x00", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b'""', b'"\n', b",,,,,,\n",
          b"\n\n", b"   \n", b"\t", b"x", b'"",""\n', b"\xef\xbb\xbf"]


def _outcome(path, options, read):
    """What the loader makes of the raw rows: valid rows (position, timestamp, message id),
    problems (row, code, value), rows, blank lines, notices."""
    try:
        raws = read()
    except InputError as exc:
        return str(exc)
    valid, problems, base, blank, notices = [], [], 0, 0, []
    for raw in raws:
        t = LOADER.type_columns(path, raw, options, base)
        base += t.n_rows
        blank += t.blank
        notices += t.notices
        keep = ~t.bad.mask
        valid += list(zip(t.positions[keep].tolist(), t.timestamp[keep].tolist(),
                          t.message_id.filter(pa.array(keep)).to_pylist()))
        problems += [(p.row, p.code, p.value) for _, p in (t.problems(limit=1) if options.on_invalid == "error"
                                                           else t.problems())]
    if options.on_invalid == "error":
        problems = sorted(problems)[:1]
    return valid, problems, base, blank, notices


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(st.sampled_from(ROWS), max_size=12), crlf=st.booleans(), final=st.booleans(),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(TOKENS + [b""])), max_size=4))
def test_fast_and_exact_readings_agree(tmp_path_factory, rows, crlf, final, edits):
    """Arrow's reading is kept only when it equals the exact line-by-line one; the partitioned
    path (which always reads line by line, streaming) gives the same rows."""
    nl = b"\r\n" if crlf else b"\n"
    data = (HEADER + ",status").encode() + nl + nl.join(rows) + (nl if final and rows else b"")
    for pos, token in edits:
        pos = pos % (len(data) + 1)
        data = data[:pos] + token + data[pos + (0 if token else 1):]
    path = write(tmp_path_factory.mktemp("fx") / "f.csv", data)
    for options in (SKIP, LoadOptions()):
        keep = None if options is SKIP else LOADER.KEEP_WHEN_ERROR
        auto = _outcome(path, options, lambda: [LOADER.read_csv(path, options)])
        opener = LOADER.csv_opener(path, None)
        exact = _outcome(path, options, lambda: [csvread._read_exact(path, opener, options, keep)
                                                 if LOADER.read_header(path, opener()).names is not None
                                                 else LOADER.read_csv(path, options)])
        streamed = _outcome(path, options, lambda: list(chunked._batches(path, options, 3)))
        assert auto == exact == streamed


def test_invalid_lines_across_many_batches(tmp_path):
    """Lines set aside while Arrow's streaming reader reads blocks ahead land in their batch."""
    import random

    rng = random.Random(7)
    lines = []
    for i in range(6000):
        k = rng.random()
        line = f"m{i},2026-10-05T09:00:00Z,shop,+7{i},{'inbound' if i % 2 else 'outbound'},text"
        if k < 0.02:
            line = line.replace(",shop,", ',"shop,')                   # a quote left open
        elif k < 0.04:
            line = line + ",extra"                                      # a field too many
        elif k < 0.06:
            line = line.replace("09:00", "99:00")                       # a bad timestamp
        elif k < 0.08:
            lines.append(rng.choice(["", "  ", ",,,,,"]))              # blank
        lines.append(line)
    path = write(tmp_path / "many.csv", HEADER + "\n" + "\n".join(lines))
    outcomes = {}
    for name, options in (("skip", SKIP), ("error", LoadOptions())):
        outcomes[name] = _outcome(path, options, lambda: [LOADER.read_csv(path, options)])
        parts = list(chunked._batches(path, options, 100))
        assert len(parts) > 3
        assert _outcome(path, options, lambda: parts) == outcomes[name]
    skip, error = outcomes["skip"], outcomes["error"]
    assert error[1] == [min(skip[1])] and len(skip[1]) > 300
    assert {code for _, code, _ in skip[1]} == {"malformed_line", "malformed_row", "bad_timestamp"}


def test_a_signal_while_the_work_folder_is_made_removes_it(tmp_path, monkeypatch):
    real = chunked.tempfile.mkdtemp

    def mkdtemp(**kwargs):
        os.kill(os.getpid(), signal.SIGINT)                           # held until the folder exists
        return real(**kwargs)

    monkeypatch.setattr(chunked.tempfile, "mkdtemp", mkdtemp)
    with pytest.raises(KeyboardInterrupt):
        with chunked.work_folder(str(tmp_path)):
            pytest.fail("the held signal is raised before the block runs")
    assert list(tmp_path.iterdir()) == []


def test_line_feed_count_and_utf8_check_are_exact():
    rng = np.random.default_rng(12)
    csvscan.ensure_kernels()
    for value in range(256):
        for offset in range(8):
            arr = rng.integers(0, 256, 48).astype(np.uint8)
            arr[offset + value % 8] = value
            arr[offset + (value + 3) % 8] = 10
            part = arr[offset:offset + 37]
            assert csvscan.count_lf(part) == int((part == 10).sum())
    check = np.array([False, False, True, False, False, False])
    for _ in range(3000):
        text = bytes(rng.choice([b for b in range(256) if b not in (10, 13, 34, 44)], int(rng.integers(1, 6))))
        try:
            text.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        line = b"m1,2026-10-05T09:00:00Z," + text + b",+7,inbound,text"
        kind = csvscan.line_kind(line, check)
        assert kind == ("data", LOADER.LINE_OK if valid else LOADER.LINE_ENCODING), text
        assert csvscan.line_kind(line.replace(b",+7,", b",+7,x,"), check) == ("data", LOADER.LINE_FIELDS)
    for cp in list(range(0x80, 0x800, 7)) + list(range(0x800, 0x11000, 97)) + [0xD800, 0xDFFF, 0x10FFFF, 0xFFFD]:
        text = chr(cp).encode("utf-8", "surrogatepass")
        line = b"m1,2026-10-05T09:00:00Z,a" + text + b",+7,inbound,text"
        expected = LOADER.LINE_ENCODING if 0xD800 <= cp <= 0xDFFF else LOADER.LINE_OK
        assert csvscan.line_kind(line, check) == ("data", expected), hex(cp)
        cut = b"m1,2026-10-05T09:00:00Z,a" + text[:-1] + b",+7,inbound,text"     # a sequence cut short
        assert csvscan.line_kind(cut, check) == ("data", LOADER.LINE_ENCODING), hex(cp)


def test_check_dictionaries_refuses_damage_and_accepts_nulls():
    """load.typed.check_dictionaries: a code past the dictionary or a dictionary entry that is
    not UTF-8 is one InputError naming the column; codes that are all null are fine."""
    from viber_sessions.load.damage import check_dictionaries

    def table(indices, dictionary):
        return pa.table({"direction": pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), dictionary)})

    options = LoadOptions()
    check_dictionaries("f.parquet", table([None, None], pa.array([], pa.string())), options)
    check_dictionaries("f.parquet", table([0, 1, None], pa.array(["inbound", "outbound"])), options)
    outside = pa.DictionaryArray.from_arrays(pa.array([0, 2], pa.int32()), pa.array(["a", "b"]), safe=False)
    with pytest.raises(InputError, match="f.parquet, column 'direction': the file is damaged: a value's code"):
        check_dictionaries("f.parquet", pa.table({"direction": outside}), options)
    not_text = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(bytes([0, 0, 0, 0, 1, 0, 0, 0])),
                                                      pa.py_buffer(b"\x8a")])
    with pytest.raises(InputError, match="column .direction.: a value is not UTF-8 text"):
        check_dictionaries("f.parquet", table([0], not_text), options)
