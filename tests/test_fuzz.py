"""Fuzz `invoice` with mutated CSV, Parquet and tariff files (issue 12, "Must show").

Every run of `viber-sessions invoice LOG --tariff T --period 2026-10 -q -o out/inv.json`
(once with `--on-invalid skip --rejects out/r.csv`, once without) must end in one of two ways:

* exit 0: nothing on stderr (`-q`) or stdout; the JSON's `rows` keep the accounting identity
  `read = duplicates + rejected + excluded + before_cut + in_session + out_of_session`
  (RULES.md section 7, DECISIONS "Rows and accounting"; `blank_lines` stands outside it);
  `rows.read` equals the data lines of the input (the non-blank lines after the header; for
  Parquet the rows minus the all-empty ones) whenever the test can count them; no row is
  rejected without `--on-invalid skip`, and not every row is; the rejects file holds one row per
  rejected row; the invoice's money adds up exactly (lines, account totals, grand total); only
  the requested files appear in the output folder;
* exit 1 or 2: exactly one line on stderr, `error: ...` (for exit 2 also click's usage block
  ending in `Error: ...`), no traceback, and no file (output or temporary) in the output folder.

Some mutations have a known answer whatever the implementation does (issue 12, DECISIONS), and
those are checked too: a CSV or Parquet file with two columns of the same name, or without a
data row, is refused; a row with a timestamp outside [2000, 2100) (in any unit: int64
nanoseconds wrapped by 2^64 included) or not a timestamp at all, or an empty required field, is
rejected (an error without `skip`); floating-point identifier columns, a truncated `.csv.gz` and
the tariff values RULES.md/DECISIONS refuse (`"1_000"`, `"１２３"`, `"NaN"`, `window_hours = inf`,
counts over 10^9, keys differing only by case or spaces, ...) are refused; a CSV whose last line
has no line end gets a warning naming the file; an account id with spaces, control or
zero-width characters gets a warning naming it; the rejects file numbers rows from 1 and
neutralises cells a spreadsheet would run.

Most runs go through click's CliRunner in this process, under an address-space cap, so that
hundreds of examples fit in the time budget; `test_crash_safety_in_real_processes` runs a
fixed batch as real processes, so that a crash (death by a signal) is seen as one. Hypothesis
runs derandomized (fixed seeds) with no example database: the same examples every run.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings
from hypothesis import example, given
from hypothesis import strategies as st

from viber_sessions.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PERIOD = "2026-10"

# ---------------------------------------------------------------------------------------------
# Valid starting points


def _case_log() -> bytes:
    """The worked invoice example (18 rows, sessions, a duplicate) with a status column."""
    lines = (ROOT / "tests" / "cases" / "invoice" / "messages.csv").read_bytes().decode().splitlines()
    statuses = ["", "delivered", "read", "FAILED", "", "delivered"]
    out = [lines[0] + ",status"] + [f"{line},{statuses[i % len(statuses)]}" for i, line in enumerate(lines[1:])]
    return ("\n".join(out) + "\n").encode()


def _sample_log(n: int = 24) -> bytes:
    """The first n rows of the shipped sample (every field quoted)."""
    with open(ROOT / "sample_data" / "messages.csv", "rb") as fh:
        return b"".join(fh.readline() for _ in range(n + 1))


BASE_LOGS = [_case_log(), _sample_log()]

# the tariff, as (key, TOML literal) pairs per table, so that values and keys can be mutated
TARIFF_TOP = [("currency", '"RUB"'), ("monthly_fee", '"5000.00"'), ("session_price", '"1.20"'),
              ("inbound_price", '"0"')]
TARIFF_OUT = [("text", '"0.85"'), ("image", '"1.10"'), ("video", '"1.50"'), ("file", '"1.50"'),
              ("text_button", '"1.00"'), ("image_text_button", '"1.25"')]
TARIFF_LIMITS = [("window_hours", "24"), ("max_business_messages", "60"), ("max_unanswered", "10"),
                 ("non_opening_types", '["image"]'), ("session_types", '["text", "image"]'),
                 ("after_message_limit", '"new_session"'),
                 ("unbilled_statuses", '["failed", "rejected", "expired", "undelivered"]')]


def render_tariff(top, out, limits, extra_top=()) -> bytes:
    def key(k):
        return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)

    lines = [f"{key(k)} = {v}" for k, v in [*top, *extra_top]]
    lines += ["", "[outbound_prices]"] + [f"{key(k)} = {v}" for k, v in out]
    if limits is not None:
        lines += ["", "[limits]"] + [f"{key(k)} = {v}" for k, v in limits]
    return ("\n".join(lines) + "\n").encode()


BASE_TARIFF = render_tariff(TARIFF_TOP, TARIFF_OUT, TARIFF_LIMITS)

# ---------------------------------------------------------------------------------------------
# Mutation material

ZERO_WIDTH = "\u200b"
FIELD_VALUES = [
    # huge and odd numbers (epoch values far outside [2000, 2100), int64 edges, overflow)
    "99999999999", "20237934874", "9223372036854775807", "-9223372036854775808", "18446744073709551616",
    "1e308", "1" + "0" * 40, "-1", "0", "1791190800", "1791190800000", "1791190800000000000", "nan", "inf",
    # timestamps
    "2026-10-05T09:00:00Z", "2026-10-05 09:00", "2026-10-05T09:00:00.123456789123Z", "2026-02-30T00:00:00Z",
    "2026-10-05T09:00:00+25:00", "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "2026-03-29T02:30:00",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-10-05T24:00:00Z", "NaT",
    # identifiers: spaces, zero-width and control characters, spreadsheet formulas, links
    "shop ", " shop", "sh" + ZERO_WIDTH + "op", "shop\t", "\ufeffshop", "shop\x00", "shop\x1b[31m", "a/b",
    '=HYPERLINK("http://x","y")', "@SUM(1+1)", "+cmd|' /C calc'!A0", "-1+1", "'quoted", "+79001234567", "007",
    "", " ", "\u00a0", "x" * 300,
    # directions, types, statuses
    "IN", " outbound", "Outbound ", "mo", "x", "inbound" + ZERO_WIDTH, "TEXT", " text ", "unknown_type", "Image",
    "default", "FAILED", "fa", "failed ", "Rejected",
]
# timestamps every implementation must reject (bad_timestamp): not ISO-8601, or outside [2000, 2100)
# in the default epoch unit (seconds below 1e11, else milliseconds); the rest of FIELD_VALUES are
# valid timestamps or have no fixed reading (24:00, 12 fractional digits)
TS_VALID_OR_UNSURE = {"2026-10-05T09:00:00Z", "2026-10-05 09:00", "2026-03-29T02:30:00", "1791190800", "1791190800000",
                      "2026-10-05T24:00:00Z", "2026-10-05T09:00:00.123456789123Z"}
TS_INVALID = [v for v in FIELD_VALUES if v not in TS_VALID_OR_UNSURE]
INSERT_TOKENS = [b'"', b",", b"\n", b"\r\n", b"\x00", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b'""', b'"\n',
                 b",,,,,,\n", b"\n\n", b"\\", b"\t", b"'"]
BLANK_LINES = [b"", b"   ", b"\t", b",,,,,,", b",,,", b",,,,,,,,,,"]


def _quote(value: str) -> bytes:
    if any(c in value for c in ',"\r\n'):
        value = '"' + value.replace('"', '""') + '"'
    return value.encode("utf-8")


def split_lines(data: bytes) -> tuple[list[bytes], bool]:
    parts = data.split(b"\n")
    if parts[-1] == b"":
        return parts[:-1], True
    return parts, False


def join_lines(parts: list[bytes], final_nl: bool) -> bytes:
    return b"\n".join(parts) + (b"\n" if final_nl and parts else b"")


@dataclass
class Case:
    """One fuzz input: the files to write, and what the test knows about it."""

    log_name: str
    log: bytes = b""
    table: pa.Table | None = None              # Parquet: written from this (and then maybe corrupted)
    parquet_corrupt: list = field(default_factory=list)
    parquet_options: dict = field(default_factory=dict)
    tariff: bytes = BASE_TARIFF
    tz: str = "UTC"
    expected_read: int | None = None           # data lines / non-empty rows, when countable
    must_fail: str | None = None               # why a success would be wrong
    no_final_newline: bool = False             # a CSV whose last data line has no line end
    min_rejected: int = 0                      # rows that are invalid whatever else the file holds
    description: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# CSV


def classify_line(line: bytes) -> str:
    """'blank', 'data', or 'ambiguous' (no fixed reading, so the file is not counted)."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line.strip(b" \t"):
        return "blank"
    if set(line) <= set(b","):
        return "blank"                          # every field empty
    if set(line) <= set(b', \t"'):
        return "ambiguous"                      # `"",""`, `, ,`: blank or not, the rules do not say
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "data"
    if not text.strip():
        return "ambiguous"                      # \x0b, \x0c, \x1c, NBSP-only lines
    return "data"


def count_data_lines(data: bytes) -> int | None:
    """The data lines (non-blank lines after the header), or None when that is not well defined."""
    if b"\r" in data.replace(b"\r\n", b""):
        return None                             # a bare CR: line end or not, the rules do not say
    parts, _ = split_lines(data)
    if not parts:
        return 0
    header = parts[0][3:] if parts[0].startswith(b"\xef\xbb\xbf") else parts[0]
    if classify_line(header) != "data":
        return None                             # blank lines before the header
    n = 0
    for line in parts[1:]:
        kind = classify_line(line)
        if kind == "ambiguous":
            return None
        n += kind == "data"
    return n


def mutate_csv(data: bytes, mutations) -> tuple[bytes, set[str], list[str], list[bytes]]:
    """Apply the mutations in order; returns the bytes, flags for known answers, a log, and the
    lines made invalid on purpose (a bad timestamp, an empty required field)."""
    flags: set[str] = set()
    done: list[str] = []
    invalid: list[bytes] = []
    for m in mutations:
        kind = m[0]
        parts, final_nl = split_lines(data)
        n_data = max(0, len(parts) - 1)
        if kind == "flip":
            if data:
                pos = m[1] % len(data)
                data = data[:pos] + bytes([m[2]]) + data[pos + 1:]
        elif kind == "truncate":
            if data:
                data = data[: m[1] % (len(data) + 1)]
                if m[2] and not data.endswith(b"\n"):
                    data += b"\n"
        elif kind == "insert":
            pos = m[1] % (len(data) + 1)
            data = data[:pos] + m[2] + data[pos:]
        elif kind == "field" and n_data > 0:
            k = 1 + m[1] % n_data
            cells = parts[k].split(b",")
            i = m[2] % len(cells)
            cells[i] = _quote(m[3])
            parts[k] = b",".join(cells)
            data = join_lines(parts, final_nl)
            if (i == 1 and m[3] in TS_INVALID) or (i < 6 and m[3] == ""):
                invalid.append(parts[k].rstrip(b"\r"))
        elif kind == "stray_quote" and n_data > 0:
            k = 1 + m[1] % n_data
            cells = parts[k].split(b",")
            i = m[2] % len(cells)
            cells[i] = b'"' + cells[i].lstrip(b'"')
            parts[k] = b",".join(cells)
            data = join_lines(parts, final_nl)
        elif kind == "blank":
            k = 1 + m[1] % (n_data + 1)
            parts.insert(k, m[2])
            data = join_lines(parts, final_nl or k == len(parts) - 1)
        elif kind == "shuffle" and n_data > 1:
            body = parts[1:]
            random.Random(m[1]).shuffle(body)
            data = join_lines([parts[0], *body], final_nl)
        elif kind == "dup_line" and n_data > 0:
            k = 1 + m[1] % n_data
            parts.insert(k, parts[k])
            data = join_lines(parts, final_nl)
        elif kind == "del_line" and n_data > 0:
            del parts[1 + m[1] % n_data]
            data = join_lines(parts, final_nl)
        elif kind == "dup_header" and parts:
            names = parts[0].split(b",")
            dup = names[m[1] % len(names)]
            parts[0] += b"," + dup
            parts[1:] = [line + b',"other' + str(i).encode() + b'"' for i, line in enumerate(parts[1:])]
            data = join_lines(parts, final_nl)
            if b"\r" not in data and any(c not in b"\r\n" for c in data[len(parts[0]):]):
                flags.add("dup_header")
        elif kind == "crlf":
            data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        elif kind == "no_final_newline":
            data = data.rstrip(b"\r\n")
        elif kind == "bom":
            data = b"\xef\xbb\xbf" + data
        else:
            continue
        done.append(repr(m))
    if "dup_header" in flags:
        # the duplicate must still be in the header as written
        header = split_lines(data)[0][0] if data else b""
        names = [n.strip(b'"') for n in header.rstrip(b"\r").split(b",")]
        canonical = {b"message_id", b"timestamp", b"business_id", b"subscriber_id", b"direction", b"message_type",
                     b"status"}
        if not any(names.count(n) > 1 for n in canonical):
            flags.discard("dup_header")
    return data, flags, done, invalid


csv_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.booleans()),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.sampled_from(INSERT_TOKENS)),
    st.tuples(st.just("field"), st.integers(0, 10**6), st.integers(0, 10), st.sampled_from(FIELD_VALUES)),
    st.tuples(st.just("stray_quote"), st.integers(0, 10**6), st.integers(0, 10)),
    st.tuples(st.just("blank"), st.integers(0, 10**6), st.sampled_from(BLANK_LINES)),
    st.tuples(st.just("shuffle"), st.integers(0, 2**32)),
    st.tuples(st.just("dup_line"), st.integers(0, 10**6)),
    st.tuples(st.just("del_line"), st.integers(0, 10**6)),
    st.tuples(st.just("dup_header"), st.integers(0, 10)),
    st.tuples(st.just("crlf")),
    st.tuples(st.just("no_final_newline")),
    st.tuples(st.just("bom")),
)


def csv_case(base: int, mutations, container: str, tz: str = "UTC") -> Case:
    data, flags, done, invalid = mutate_csv(BASE_LOGS[base], mutations)
    case = Case(log_name="log.csv", log=data, tz=tz, description=[f"base={base}", *done, f"container={container}"])
    case.expected_read = count_data_lines(data)
    parts, _ = split_lines(data)
    original_header = split_lines(BASE_LOGS[base])[0][0]
    if parts and parts[0].rstrip(b"\r").removeprefix(b"\xef\xbb\xbf") == original_header and invalid:
        # lines still exactly as made invalid, under the original header: each is a rejected row
        lines = [p.rstrip(b"\r") for p in parts[1:]]
        case.min_rejected = sum(lines.count(line) for line in set(invalid) if classify_line(line) == "data")
    if "dup_header" in flags:
        case.must_fail = "a CSV with two columns of the same name must be refused"
        case.expected_read = None               # is a line blank when only the extra column holds a value?
    parts, final_nl = split_lines(data)
    if data and not final_nl and len(parts) > 1 and classify_line(parts[-1]) == "data" and b"\r" not in parts[-1]:
        case.no_final_newline = True
    if case.expected_read == 0 and case.must_fail is None:
        case.must_fail = "a log without a data row is an error ('no data rows')"
    if container != "plain":
        case.log_name = "log.csv.gz"
        case.log = gzip.compress(data, mtime=0)
        if container == "gz_truncated":
            case.log = case.log[: max(10, len(case.log) - 9)]    # drop the trailer and a byte of data
            case.expected_read = None
            case.no_final_newline = False
            case.must_fail = "a truncated .gz is an error"
    return case


# ---------------------------------------------------------------------------------------------
# Parquet

TS_KINDS = ["string", "large_string", "ts_ns_utc", "ts_us_naive", "ts_ms_moscow", "ts_s_utc", "int_s", "int_ms",
            "int32_s", "uint64_s", "float_s", "date32", "dict",
            # every value outside [2000, 2100): they must all be rejected, never wrap into the month
            "int_ns", "ts_us_wrap", "ts_ms_wrap", "int_ms_wrap", "int_s_wrap", "int_max"]
WRAPPING = {"int_ns", "ts_us_wrap", "ts_ms_wrap", "int_ms_wrap", "int_s_wrap", "int_max"}
ID_KINDS = ["string", "large_string", "binary", "dict", "int64", "float64"]
ID_COLUMNS = ["message_id", "business_id", "subscriber_id"]


def _parse_ts(value):
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _ts_array(values, kind):
    ns = [_parse_ts(v) for v in values]

    def scaled(div, shift=0, typ=pa.int64()):
        lo, hi = {pa.int64(): (-2**63, 2**63), pa.int32(): (-2**31, 2**31), pa.uint64(): (0, 2**64)}[typ]
        values = [None if n is None else n // div + shift for n in ns]
        return pa.array([v if v is not None and lo <= v < hi else None for v in values], typ)

    if kind == "string":
        return pa.array(values, pa.string())
    if kind == "large_string":
        return pa.array(values, pa.large_string())
    if kind == "dict":
        return pa.array(values, pa.string()).dictionary_encode()
    if kind == "ts_ns_utc":
        return scaled(1).cast(pa.timestamp("ns", "UTC"))
    if kind == "ts_us_naive":
        return scaled(1000).cast(pa.timestamp("us"))
    if kind == "ts_ms_moscow":
        return scaled(10**6).cast(pa.timestamp("ms", "Europe/Moscow"))
    if kind == "ts_s_utc":
        return scaled(10**9).cast(pa.timestamp("s", "UTC"))
    if kind == "int_s":
        return scaled(10**9)
    if kind == "int_ms":
        return scaled(10**6)
    if kind == "int32_s":
        return scaled(10**9, typ=pa.int32())
    if kind == "uint64_s":
        return scaled(10**9, typ=pa.uint64())
    if kind == "float_s":
        return pa.array([None if n is None else n / 1e9 for n in ns], pa.float64())
    if kind == "date32":
        return pa.array([None if n is None else n // (86400 * 10**9) for n in ns], pa.int32()).cast(pa.date32())
    # a value v in these units is v * unit nanoseconds: shifted by a multiple of 2**64 ns, it
    # wraps in int64 nanoseconds onto the real instant
    if kind == "int_ns":
        return scaled(1)                        # read as milliseconds by default: year ~58 million
    if kind == "ts_us_wrap":
        return scaled(1000, 2**61).cast(pa.timestamp("us", "UTC"))
    if kind == "ts_ms_wrap":                     # (Parquet stores seconds as milliseconds)
        return scaled(10**6, 2**58).cast(pa.timestamp("ms", "UTC"))
    if kind == "int_ms_wrap":
        return scaled(10**6, 2**58)
    if kind == "int_s_wrap":
        return scaled(10**9, 2**55)
    if kind == "int_max":
        return pa.array([None if n is None else 2**63 - 1 for n in ns], pa.int64())
    raise AssertionError(kind)


def _id_array(values, kind):
    if kind == "string":
        return pa.array(values, pa.string())
    if kind == "large_string":
        return pa.array(values, pa.large_string())
    if kind == "binary":
        return pa.array([None if v is None else v.encode() for v in values], pa.binary())
    if kind == "dict":
        return pa.array(values, pa.string()).dictionary_encode()

    def number(v):
        digits = re.sub(r"\D", "", v or "")[:18]
        return int(digits) if digits else None

    if kind == "int64":
        return pa.array([number(v) for v in values], pa.int64())
    if kind == "float64":
        return pa.array([None if number(v) is None else float(number(v)) for v in values], pa.float64())
    raise AssertionError(kind)


def _rows(base: int) -> tuple[list[str], list[list]]:
    reader = csv.reader(io.StringIO(BASE_LOGS[base].decode()))
    header = next(reader)
    return header, [list(r) for r in reader]


def _is_empty(v) -> str:
    if v is None or v == "" or v == b"":
        return "empty"
    if isinstance(v, (str, bytes)) and not v.strip():
        return "ambiguous"
    return "value"


def _cell_kinds(column) -> list[str]:
    """'empty' (null, or an empty string), 'ambiguous' (whitespace only) or 'value', per cell."""
    t = column.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
        return [_is_empty(v) for v in column.to_pylist()]
    return ["empty" if null else "value" for null in column.is_null().to_pylist()]


def parquet_case(base: int, value_muts, ts_kind, id_kinds, empty_rows, structure, corrupt, options, tz="UTC") -> Case:
    header, rows = _rows(base)
    desc = [f"base={base}", f"ts={ts_kind}", f"ids={id_kinds}"]
    for m in value_muts:
        if not rows:
            break
        r = rows[m[1] % len(rows)]
        r[m[2] % len(r)] = None if m[0] == "null" else m[3]
        desc.append(repr(m))
    for pos, fill in empty_rows:
        rows.insert(pos % (len(rows) + 1), [fill] * len(header))
        desc.append(f"empty_row({pos}, {fill!r})")
    if structure and structure[0] == "zero_rows":
        rows = []
    cols = {name: [r[i] for r in rows] for i, name in enumerate(header)}
    arrays, names = [], []
    for name in header:
        values = cols[name]
        if name == "timestamp":
            arr = _ts_array(values, ts_kind)
        elif name in ID_COLUMNS:
            arr = _id_array(values, id_kinds[ID_COLUMNS.index(name)])
        else:
            arr = pa.array(values, pa.string())
        arrays.append(arr)
        names.append(name)
    must_fail = None
    if structure:
        desc.append(repr(structure))
        kind = structure[0]
        n = len(rows)
        if kind == "dup_col":
            i = structure[1] % len(names)
            arrays.append(pa.array(["other"] * n) if n else pa.array([], pa.string()))
            names.append(names[i])
            must_fail = "a Parquet file with two columns of the same name must be refused"
        elif kind == "drop_col":
            i = structure[1] % len(names)
            del arrays[i], names[i]
        elif kind == "rename_col":
            i = structure[1] % len(names)
            names[i] = structure[2]
        elif kind == "extra_col":
            blank = [all(_is_empty(v) == "empty" for v in r) for r in rows]
            if structure[1] == "list":
                arrays.append(pa.array([None if b else [1, 2] for b in blank], pa.list_(pa.int64())))
            elif structure[1] == "struct":
                arrays.append(pa.array([None if b else {"a": 1} for b in blank], pa.struct([("a", pa.int64())])))
            elif structure[1] == "null":
                arrays.append(pa.nulls(n))
            else:
                arrays.append(pa.array([None if b else 7 for b in blank], pa.int64()))
            names.append("extra")
    table = pa.Table.from_arrays(arrays, names=names)
    case = Case(log_name="log.parquet", table=table, tz=tz, parquet_corrupt=list(corrupt),
                parquet_options=dict(options), description=desc + [repr(c) for c in corrupt] + [repr(options)])
    if not corrupt:
        data_rows, countable = 0, True
        canonical = [i for i, n in enumerate(names) if n in header]
        for row in zip(*[_cell_kinds(c) for c in table.columns]) if table.num_columns else []:
            kinds = set(row)
            if "value" not in kinds and "ambiguous" in kinds:
                countable = False               # whitespace-only strings: blank or not, the rules do not say
            if ("value" in kinds) != any(row[i] == "value" for i in canonical):
                countable = False               # only an extra column holds a value
            data_rows += "value" in kinds
        case.expected_read = data_rows if countable else None
        if ts_kind in WRAPPING and "timestamp" in names:
            must_fail = must_fail or "every timestamp lies outside [2000, 2100): every row is bad_timestamp"
        if "float64" in id_kinds:
            must_fail = must_fail or "floating-point identifier columns are refused"
        if data_rows == 0 and countable:
            must_fail = must_fail or "a log without a data row is an error ('no data rows')"
        case.must_fail = must_fail
    return case


def write_parquet(case: Case, path: Path) -> None:
    opts = case.parquet_options
    pq.write_table(case.table, path, row_group_size=opts.get("row_group_size"),
                   compression=opts.get("compression", "zstd"), use_dictionary=opts.get("use_dictionary", True))
    if case.parquet_corrupt:
        data = bytearray(path.read_bytes())
        for c in case.parquet_corrupt:
            if c[0] == "flip" and data:
                data[c[1] % len(data)] ^= c[2] or 1
            elif c[0] == "truncate":
                data = data[: c[1] % (len(data) + 1)]
            elif c[0] == "zero" and data:
                pos = c[1] % len(data)
                data[pos:pos + c[2]] = bytes(len(data[pos:pos + c[2]]))
            elif c[0] == "footer_flip" and len(data) > 12:
                # the footer (metadata: row counts, offsets, sizes) is just before the last 8 bytes
                foot = int.from_bytes(data[-8:-4], "little")
                lo = max(0, len(data) - 8 - min(foot, len(data) - 8))
                pos = lo + c[1] % max(1, len(data) - 8 - lo)
                data[pos] ^= c[2] or 1
        path.write_bytes(bytes(data))


value_mutation = st.one_of(
    st.tuples(st.just("null"), st.integers(0, 10**6), st.integers(0, 10)),
    st.tuples(st.just("value"), st.integers(0, 10**6), st.integers(0, 10), st.sampled_from(FIELD_VALUES)),
)
parquet_structure = st.one_of(
    st.none(),
    st.tuples(st.just("dup_col"), st.integers(0, 10)),
    st.tuples(st.just("drop_col"), st.integers(0, 10)),
    st.tuples(st.just("rename_col"), st.integers(0, 10),
              st.sampled_from(["Message_ID", "message_id ", "timestamp\u200b", "", "status", "x"])),
    st.tuples(st.just("extra_col"), st.sampled_from(["int", "list", "struct", "null"])),
    st.tuples(st.just("zero_rows")),
)
parquet_corruption = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6)),
    st.tuples(st.just("zero"), st.integers(0, 10**6), st.integers(1, 64)),
    st.tuples(st.just("footer_flip"), st.integers(0, 10**6), st.integers(0, 255)),
)
parquet_options = st.fixed_dictionaries({
    "row_group_size": st.sampled_from([None, 1, 5]),
    "compression": st.sampled_from(["zstd", "snappy", "none", "gzip"]),
    "use_dictionary": st.booleans(),
})

# ---------------------------------------------------------------------------------------------
# Tariff

REFUSED_PRICES = ['"1_000"', '"١٢٣"', '"１２３"', '"1e999"', '"NaN"', '"Infinity"', '"1e49"', '"1e-60"', '"-1"',
                  '""', '" 1"', '"+1"', '"0x10"', '"1,5"', '"1."', '".5"', "1.5", "true", "nan", "inf"]
# (a TOML integer price is exact: accepted today, although RULES.md says "every price is a decimal string")
OTHER_PRICES = ["1", '"-0"', '"1' + "1" * 49 + '"', '"0.' + "0" * 59 + '1"', '"999999999999999"', '"0.1234567890"',
                '"0"', '"0.00"', '"1000000000000000"', '"0.00000000001"', '"0.5"']
REFUSED_WINDOW = ["nan", "inf", "-inf", "1e308", "3000000", "0", "-1", "100000000000000000000",
                  "9223372036854775807", "true"]
REFUSED_COUNT = ["nan", "inf", "1e308", "0", "-1", "100000000000000000000", "1000000001", "9223372036854775807",
                 "true", "24.5"]
OTHER_LIMITS = ["1", "2", "3000000", "87600", "24.5", '"24"', "1000000000", "12"]
REFUSED_LISTS = ['"image"', "[1]", "[[]]"]
OTHER_LISTS = ["[]", '["IMAGE"]', '["text", "TEXT"]', '[" text"]', '["video", "file"]']
PRICE_KEYS = ["monthly_fee", "session_price", "inbound_price", "out:text", "out:image", "out:video"]

tariff_semantic = st.one_of(
    st.tuples(st.just("price"), st.sampled_from(PRICE_KEYS), st.sampled_from(REFUSED_PRICES + OTHER_PRICES)),
    st.tuples(st.just("limit"), st.sampled_from(["window_hours", "max_business_messages", "max_unanswered"]),
              st.sampled_from(sorted(set(REFUSED_WINDOW + REFUSED_COUNT + OTHER_LIMITS)))),
    st.tuples(st.just("list"), st.sampled_from(["non_opening_types", "session_types", "unbilled_statuses"]),
              st.sampled_from(REFUSED_LISTS + OTHER_LISTS)),
    st.tuples(st.just("after"), st.sampled_from(['"close"', '"CLOSE"', '"x"', "1"])),
    st.tuples(st.just("twin"), st.sampled_from(["TEXT", " text", "Text ", "text\u200b"])),
    st.tuples(st.just("unknown"), st.sampled_from(["top", "limits", "outbound_prices"])),
    st.tuples(st.just("remove"), st.sampled_from(["currency", "monthly_fee", "session_price", "inbound_price",
                                                   "limits", "out:text", "out:text_button"])),
    st.tuples(st.just("nested"), st.sampled_from([10, 1000, 5000])),
    st.tuples(st.just("currency"), st.sampled_from(['""', '"rub"', '"XXX"', '"€"', '"RUBX"', "1"])),
    st.tuples(st.just("default"), st.sampled_from(['"1.50"', '"NaN"', '"0"'])),
)
tariff_textual = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.booleans()),
    st.tuples(st.just("insert"), st.integers(0, 10**6),
              st.sampled_from([b'"', b"=", b"[", b"]", b"\n", b"\x00", b"\xff", b"#", b"[limits]\n", b"1e999",
                               b'"', b"'", b"\\u0000"])),
)


def _needed_types(base: int) -> set[str]:
    """Outbound types of the base log that must be priced whatever the limits say: rows with a
    status no tariff excludes, first occurrence of their id."""
    seen, needed = set(), set()
    for row in csv.DictReader(io.StringIO(BASE_LOGS[base].decode())):
        if row["message_id"] in seen:
            continue
        seen.add(row["message_id"])
        if row["direction"] == "outbound" and row.get("status", "") in ("", "delivered", "read"):
            needed.add(row["message_type"])
    return needed


def _tariff_must_fail(top, out, limits, extra_top, base) -> str | None:
    """Why this tariff (no text edits) must be refused, or None when it need not be."""
    topd, outd = dict(top), dict(out)
    for key in ("currency", "monthly_fee", "session_price"):
        if key not in topd:
            return f"the required field {key} is missing"
    for key in ("monthly_fee", "session_price", "inbound_price"):
        if topd.get(key) in REFUSED_PRICES:
            return f"price {key} = {topd[key]} must be refused"
    for key, value in out:
        if value in REFUSED_PRICES or (key == "default" and value == '"NaN"'):
            return f"price outbound_prices.{key} = {value} must be refused"
    norm = {}
    for key, _ in out:
        n = key.strip().lower().replace(ZERO_WIDTH, "")
        if n in norm:
            return f"outbound_prices keys {norm[n]!r} and {key!r} differ only by case, spaces or invisible characters"
        norm[n] = key
    if topd.get("currency") == "1":
        return "currency must be a string"
    if any(k in ("surprise", "deep") for k, _ in extra_top):
        return "an unknown top-level field must be refused"
    if limits is not None:
        limd = dict(limits)
        if "surprise" in limd:
            return "an unknown field limits.surprise must be refused"
        if limd.get("window_hours") in REFUSED_WINDOW:
            return f"limits.window_hours = {limd['window_hours']} must be refused"
        for key in ("max_business_messages", "max_unanswered"):
            if limd.get(key) in REFUSED_COUNT:
                return f"limits.{key} = {limd[key]} must be refused"
        for key in ("non_opening_types", "session_types", "unbilled_statuses"):
            if limd.get(key) in REFUSED_LISTS:
                return f"limits.{key} = {limd[key]} must be refused"
        if limd.get("after_message_limit") in ('"x"', "1"):
            return f"limits.after_message_limit = {limd['after_message_limit']} must be refused"
    if "default" not in outd:
        missing = sorted(t for t in _needed_types(base) if t not in norm)
        if missing:
            return f"the log sends {missing}, which the tariff does not price"
    return None


def tariff_case(semantic, textual, base: int = 0) -> Case:
    top, out, limits = [list(TARIFF_TOP), list(TARIFF_OUT), list(TARIFF_LIMITS)]
    extra_top = []

    def set_in(table, key, value):
        for i, (k, _) in enumerate(table):
            if k == key:
                table[i] = (k, value)
                return
        table.append((key, value))

    for m in semantic:
        kind = m[0]
        if kind == "price":
            if m[1].startswith("out:"):
                set_in(out, m[1][4:], m[2])
            else:
                set_in(top, m[1], m[2])
        elif kind in ("limit", "list") and limits is not None:
            set_in(limits, m[1], m[2])
        elif kind == "after" and limits is not None:
            set_in(limits, "after_message_limit", m[1])
        elif kind == "twin":
            out.append((m[1], '"0.5"'))
        elif kind == "unknown":
            if m[1] == "top":
                extra_top.append(("surprise", '"1"'))
            elif m[1] == "limits" and limits is not None:
                limits.append(("surprise", '"1"'))
            # an unknown key in outbound_prices is a message type: nothing to add
        elif kind == "remove":
            if m[1] == "limits":
                limits = None
            elif m[1].startswith("out:"):
                out = [(k, v) for k, v in out if k != m[1][4:]]
            else:
                top = [(k, v) for k, v in top if k != m[1]]
        elif kind == "nested":
            extra_top.append(("deep", "[" * m[1] + "]" * m[1]))
        elif kind == "currency":
            set_in(top, "currency", m[1])
        elif kind == "default":
            set_in(out, "default", m[1])
    data = render_tariff(top, out, limits, extra_top)
    done = []
    for m in textual:
        if m[0] == "flip" and data:
            pos = m[1] % len(data)
            data = data[:pos] + bytes([m[2]]) + data[pos + 1:]
        elif m[0] == "truncate":
            data = data[: m[1] % (len(data) + 1)] + (b"\n" if m[2] else b"")
        elif m[0] == "insert":
            pos = m[1] % (len(data) + 1)
            data = data[:pos] + m[2] + data[pos:]
        done.append(repr(m))
    case = Case(log_name="log.csv", log=BASE_LOGS[base], tariff=data,
                description=[f"base={base}", *map(repr, semantic), *done])
    case.expected_read = count_data_lines(BASE_LOGS[base])
    # a text edit may have removed the bad value again: then nothing is known
    case.must_fail = None if textual else _tariff_must_fail(top, out, limits, extra_top, base)
    return case


# ---------------------------------------------------------------------------------------------
# Running and checking


@dataclass
class Outcome:
    code: int                                   # negative: killed by that signal
    stdout: str
    stderr: str
    exception: str | None = None                # in-process: an exception that escaped the command


@contextlib.contextmanager
def address_space_cap(extra: int = 6 << 30):
    """Cap this process's address space for the duration (a hostile Parquet footer must not eat the
    machine's memory; an allocation failure then shows up as an error the test sees)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        with open("/proc/self/statm") as fh:
            size = int(fh.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (size + extra, hard))
    except (OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def invoice_args(workdir: Path, case: Case, skip: bool) -> list[str]:
    args = ["invoice", str(workdir / "in" / case.log_name), "--tariff", str(workdir / "in" / "tariff.toml"),
            "--period", PERIOD, "--tz", case.tz, "-q", "--output", str(workdir / "out" / "inv.json")]
    if skip:
        args += ["--on-invalid", "skip", "--rejects", str(workdir / "out" / "r.csv")]
    return args


def prepare(workdir: Path, case: Case) -> None:
    for sub in ("in", "out"):
        shutil.rmtree(workdir / sub, ignore_errors=True)
        (workdir / sub).mkdir(parents=True)
    if case.table is not None:
        write_parquet(case, workdir / "in" / case.log_name)
    else:
        (workdir / "in" / case.log_name).write_bytes(case.log)
    (workdir / "in" / "tariff.toml").write_bytes(case.tariff)


def run_in_process(args: list[str]) -> Outcome:
    with address_space_cap():
        result = CliRunner().invoke(cli, args, catch_exceptions=True)
    exc = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        e = result.exception
        exc = f"{type(e).__module__}.{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
    return Outcome(result.exit_code, result.stdout, result.stderr, exc)


def run_process(args: list[str], env_extra: dict | None = None, timeout: float = 60) -> Outcome:
    env = {**os.environ, **(env_extra or {})}

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))

    proc = subprocess.run([sys.executable, "-m", "viber_sessions", *args], capture_output=True, env=env,
                          timeout=timeout, preexec_fn=cap)
    return Outcome(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


IDENTITY = ("duplicates", "rejected", "excluded", "before_cut", "in_session", "out_of_session")
MONEY = re.compile(r"^[0-9]+(\.[0-9]+)?$")
SUSPICIOUS_ID = re.compile(r"^\s|\s$|[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")


def _money(value, where, problems) -> Decimal | None:
    if not isinstance(value, str) or not MONEY.match(value):
        problems.append(f"money: {where} is not a plain non-negative decimal string: {value!r}")
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        problems.append(f"money: {where} = {value!r}")
        return None


def _names(warning: str, ident: str) -> bool:
    """Does the warning name this identifier (as written, or escaped, or cleaned and said why)?"""
    if any(form in warning for form in (ident, repr(ident)[1:-1], ascii(ident)[1:-1], json.dumps(ident)[1:-1])):
        return True
    cleaned = SUSPICIOUS_ID.sub("", ident).strip()
    words = ("suspicious", "space", "invisible", "zero-width", "zero width", "control", "u+")
    return bool(cleaned) and cleaned in warning and any(w in warning.lower() for w in words)


def check_invoice_money(doc, problems) -> None:
    grand = Decimal(0)
    for a in doc.get("accounts", []):
        bid = a.get("business_id")
        fee = _money(a.get("subscription_fee"), f"{bid}.subscription_fee", problems)
        total = _money(a.get("total"), f"{bid}.total", problems)
        s = a.get("sessions", {})
        s_price, s_amount = (_money(s.get("unit_price"), f"{bid}.sessions.unit_price", problems),
                             _money(s.get("amount"), f"{bid}.sessions.amount", problems))
        parts = [fee, s_amount]
        if None not in (s_price, s_amount) and s_price * s.get("count", 0) != s_amount:
            problems.append(f"money: {bid}: sessions {s.get('count')} x {s_price} != {s_amount}")
        for line in a.get("out_of_session", []):
            p = _money(line.get("unit_price"), f"{bid}.out_of_session.unit_price", problems)
            amt = _money(line.get("amount"), f"{bid}.out_of_session.amount", problems)
            parts.append(amt)
            if None not in (p, amt) and p * line.get("count", 0) != amt:
                problems.append(f"money: {bid}: {line.get('count')} x {p} != {amt}")
        if None not in parts and total is not None and sum(parts) != total:
            problems.append(f"money: {bid}: fee + sessions + out-of-session = {sum(parts)} != total {total}")
        if total is not None:
            grand += total
    total = _money(doc.get("total"), "total", problems)
    if total is not None and total != grand:
        problems.append(f"money: grand total {total} != sum of the account totals {grand}")


FORMULA = re.compile(r"^[=+\-@\t\r]")
PLAIN_NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


def check_rejects(path: Path, rows, problems) -> None:
    """One row per rejected row, numbered from 1, and no cell a spreadsheet would run."""
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        records = list(csv.reader(fh))
    header, body = (records[0], records[1:]) if records else ([], [])
    if len(body) != rows.get("rejected"):
        problems.append(f"rejects: r.csv holds {len(body)} rows, rows.rejected is {rows.get('rejected')}")
    for name in ("row", "file_row"):
        if name in header:
            values = [r[header.index(name)] for r in body if len(r) == len(header)]
            if any(not v.isdigit() or int(v) < 1 for v in values):
                problems.append(f"rejects: column {name!r} is not numbered from 1: {sorted(set(values))[:3]}")
    cells = [c for r in body for c in r if FORMULA.match(c) and not PLAIN_NUMBER.match(c)]
    if cells:
        problems.append(f"rejects: cells a spreadsheet would run are not neutralised: {cells[:2]!r}")


def check(outcome: Outcome, case: Case, workdir: Path, skip: bool) -> list[str]:
    """Every way this run broke a promise (an empty list: it kept them all)."""
    problems: list[str] = []
    text = outcome.stdout + outcome.stderr
    if outcome.code < 0:
        return [f"crash: killed by signal {-outcome.code}"]
    if outcome.exception or "Traceback (most recent call last)" in text:
        if outcome.exception:
            return [f"traceback: {outcome.exception}"]
        names = [ln for ln in text.splitlines() if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b", ln)]
        return [f"traceback: {(names or [ln for ln in text.splitlines() if ln.strip()])[-1][:300]}"]
    if "Exception ignored" in text:
        problems.append("stderr: 'Exception ignored' (an unraisable exception)")
    out_files = sorted(p.name for p in (workdir / "out").iterdir())
    lines = outcome.stderr.splitlines()
    if outcome.code == 0:
        if outcome.stderr:
            problems.append(f"stderr: exit 0 with -q but stderr holds {outcome.stderr[:200]!r}")
        if outcome.stdout:
            problems.append(f"stdout: exit 0 with --output but stdout holds {outcome.stdout[:200]!r}")
        expected_files = {"inv.json", "r.csv"} if skip else {"inv.json"}
        if not set(out_files) <= expected_files or "inv.json" not in out_files:
            problems.append(f"files: the output folder holds {out_files}")
        if "inv.json" not in out_files:
            return problems
        try:
            doc = json.loads((workdir / "out" / "inv.json").read_text(encoding="utf-8"))
        except ValueError as exc:
            return problems + [f"output: inv.json is not JSON: {exc}"]
        rows = doc.get("rows", {})
        parts = {k: rows.get(k, 0) for k in IDENTITY}
        if rows.get("read") != sum(parts.values()):
            problems.append(f"identity: read {rows.get('read')} != {' + '.join(f'{k} {v}' for k, v in parts.items())}")
        if case.expected_read is not None and rows.get("read") != case.expected_read:
            problems.append(f"read: rows.read {rows.get('read')} != {case.expected_read} data lines/rows")
        if case.min_rejected and not skip:
            problems.append(f"accepted: exit 0 without --on-invalid skip, but {case.min_rejected} row(s) have a bad "
                            f"timestamp or an empty required field")
        if case.min_rejected and skip and rows.get("rejected", 0) < case.min_rejected:
            problems.append(f"rejected: {rows.get('rejected')} rows rejected, but at least {case.min_rejected} have a "
                            f"bad timestamp or an empty required field")
        if not skip and rows.get("rejected", 0):
            problems.append(f"rejected: {rows['rejected']} rows rejected without --on-invalid skip")
        if rows.get("read", 0) and rows.get("rejected") == rows.get("read"):
            problems.append(f"all rejected: all {rows['read']} rows were rejected, yet exit 0")
        if case.must_fail:
            problems.append(f"accepted: exit 0, but {case.must_fail}")
        if skip and "r.csv" in out_files:
            check_rejects(workdir / "out" / "r.csv", rows, problems)
        warnings = doc.get("warnings", [])
        if case.no_final_newline and not any(case.log_name in str(w) for w in warnings):
            problems.append("warning: the last line has no line end, but no warning names the file")
        odd = [a.get("business_id") for a in doc.get("accounts", []) if SUSPICIOUS_ID.search(str(a.get("business_id")))]
        unnamed = [i for i in odd if not any(_names(str(w), i) for w in warnings)]
        if unnamed:
            problems.append(f"warning: accounts {unnamed!r} have suspicious ids (spaces, control or zero-width "
                            f"characters), but no warning names them")
        check_invoice_money(doc, problems)
    elif outcome.code in (1, 2):
        usage = outcome.code == 2 and lines and lines[0].startswith("Usage:") and lines[-1].startswith("Error:")
        if not usage and (len(lines) != 1 or not lines[0].startswith("error: ")):
            raw = "\n" not in outcome.stderr.rstrip("\n") and len(lines) > 1
            problems.append(f"stderr: exit {outcome.code} with {len(lines)} lines on stderr"
                            f"{' (raw control characters from the input break the line)' if raw else ''}: "
                            f"{outcome.stderr[:300]!r}")
        if out_files:
            problems.append(f"files: exit {outcome.code} left {out_files} in the output folder")
    else:
        problems.append(f"exit: code {outcome.code}; stderr {outcome.stderr[:200]!r}")
    return problems


def run_case(case: Case, workdir: Path, runner=run_in_process) -> dict[bool, tuple[Outcome, list[str]]]:
    """Both modes (error, skip), with the problems of each and of their comparison."""
    results = {}
    docs = {}
    for skip in (False, True):
        prepare(workdir, case)
        outcome = runner(invoice_args(workdir, case, skip))
        problems = check(outcome, case, workdir, skip)
        results[skip] = (outcome, problems)
        inv = workdir / "out" / "inv.json"
        if outcome.code == 0 and inv.exists():
            with contextlib.suppress(ValueError):
                docs[skip] = json.loads(inv.read_text(encoding="utf-8"))
    # without invalid rows, skip and error mode are the same run
    e_out, s_out = results[False][0], results[True][0]
    if e_out.code == 0 and not (s_out.code == 0 and True in docs):
        results[True][1].append(f"modes: exit 0 without skip, but exit {s_out.code} with --on-invalid skip")
    if s_out.code == 0 and True in docs and docs[True].get("rows", {}).get("rejected") == 0 and e_out.code != 0:
        results[False][1].append(f"modes: nothing rejected with skip, yet exit {e_out.code} without: "
                                 f"{e_out.stderr.strip()[:200]!r}")
    if False in docs and True in docs:
        a, b = docs[False], docs[True]
        if (a.get("rows"), a.get("accounts"), a.get("total")) != (b.get("rows"), b.get("accounts"), b.get("total")):
            results[True][1].append("modes: the invoice differs between skip and error mode without invalid rows")
    return results


def assert_case(case: Case, workdir: Path, runner=run_in_process) -> None:
    results = run_case(case, workdir, runner)
    report = []
    for skip, (outcome, problems) in results.items():
        for p in problems:
            report.append(f"[{'skip' if skip else 'error'}] {p}")
    assert not report, "\n".join(report + ["case: " + "; ".join(case.description)])


# ---------------------------------------------------------------------------------------------
# The tests

FUZZ = dict(deadline=None, derandomize=True, database=None, print_blob=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def test_the_starting_points_are_valid(workdir):
    """Unmutated, every starting point bills (so that the fuzz tests cannot pass by refusing all)."""
    for base, log in enumerate(BASE_LOGS):
        cases = [csv_case(base, [], "plain"), csv_case(base, [], "gz")]
        cases += [parquet_case(base, [], ts, ["string"] * 3, [], None, [], {})
                  for ts in ("string", "dict", "ts_ns_utc", "ts_ms_moscow", "int_s", "int_ms")]
        cases += [parquet_case(base, [], "string", [kind] * 3, [], None, [], {}) for kind in ("large_string", "dict")]
        for case in cases:
            assert case.expected_read == len(log.splitlines()) - 1 and case.must_fail is None
            results = run_case(case, workdir)
            for skip, (outcome, problems) in results.items():
                assert outcome.code == 0 and not problems, (case.description, outcome, problems)


# The cases of issue 12 (and those this fuzzer found while it was fixed) run first, every time.
CSV_CASES = [
    [("stray_quote", 13, 6)],                                   # a stray quote swallowed the rows after it
    [("stray_quote", 2, 0), ("stray_quote", 9, 3)],
    [("blank", 1, b"   "), ("blank", 3, b",,,,,,"), ("blank", 5, b",,,"), ("blank", 7, b"\t")],
    [("dup_header", 2)],                                        # two columns of the same name
    [("flip", 0, 11)], [("flip", 12, 12)], [("flip", 40, 0x1c)],  # control characters in the header
    [("insert", 100, b"\xff\xfe"), ("insert", 100, b",")],      # invalid UTF-8 in a malformed line
    [("insert", 100, b"\xed\xa0\x80"), ("stray_quote", 1, 2)],
    [("truncate", 137, False)], [("truncate", 150, False)],     # cut mid-line, no final line end
    [("truncate", 78, True)], [("truncate", 78, False)], [("truncate", 0, False)],  # header only, empty
    [("field", 5, 1, "20237934874")], [("field", 5, 1, "99999999999")], [("field", 5, 1, "9223372036854775807")],
    [("field", 5, 1, "1999-12-31T23:59:59Z")], [("field", 5, 1, "1791190800000000000")],
    [("field", 5, 2, "shop ")], [("field", 5, 2, "sh\u200bop")], [("field", 5, 2, "\x1fshop")],
    [("field", 5, 2, '=HYPERLINK("http://x","y")'), ("field", 5, 1, "not-a-date")],
    [("field", 5, 6, "fa"), ("no_final_newline",)],
    [("bom",), ("crlf",), ("no_final_newline",)],
]


def examples(items):
    """Decorate with hypothesis ``@example`` for each of ``items``."""
    def apply(test):
        for item in reversed(items):
            test = item(test)
        return test
    return apply


@settings(max_examples=800, **FUZZ)
@given(base=st.sampled_from([0, 1]), mutations=st.lists(csv_mutation, min_size=1, max_size=4),
       container=st.sampled_from(["plain"] * 8 + ["gz", "gz_truncated"]), tz=st.sampled_from(["UTC", "Europe/Moscow"]))
@examples([example(base=0, mutations=m, container="plain", tz="UTC") for m in CSV_CASES]
          + [example(base=0, mutations=[("crlf",)], container="gz_truncated", tz="UTC"),
             example(base=1, mutations=[("no_final_newline",)], container="gz", tz="UTC")])
def test_fuzz_csv(workdir, base, mutations, container, tz):
    assert_case(csv_case(base, mutations, container, tz), workdir)


@settings(max_examples=350, **FUZZ)
@given(base=st.sampled_from([0, 1]), value_muts=st.lists(value_mutation, max_size=3),
       ts_kind=st.sampled_from(TS_KINDS), id_kinds=st.lists(st.sampled_from(ID_KINDS[:5] * 3 + ID_KINDS[5:]),
                                                              min_size=3, max_size=3),
       empty_rows=st.lists(st.tuples(st.integers(0, 100), st.sampled_from([None, None, ""])), max_size=2),
       structure=parquet_structure, corrupt=st.one_of(st.just([]), st.just([]), st.lists(parquet_corruption,
                                                                                          min_size=1, max_size=3)),
       options=parquet_options)
@examples([
    example(base=0, value_muts=[], ts_kind=ts, id_kinds=["string"] * 3, empty_rows=[], structure=None, corrupt=[],
            options={}) for ts in sorted(WRAPPING)] + [
    example(base=0, value_muts=[], ts_kind="string", id_kinds=["string"] * 3, empty_rows=[], structure=structure,
            corrupt=[], options={}) for structure in [("dup_col", 0), ("dup_col", 2), ("zero_rows",)]] + [
    example(base=0, value_muts=[], ts_kind="ts_ns_utc", id_kinds=["string"] * 3, empty_rows=[(3, None), (7, "")],
            structure=None, corrupt=[], options={}),
    example(base=1, value_muts=[("value", 4, 1, "20237934874")], ts_kind="string", id_kinds=["string"] * 3,
            empty_rows=[], structure=None, corrupt=[], options={}),
    example(base=0, value_muts=[], ts_kind="string", id_kinds=["float64", "string", "string"], empty_rows=[],
            structure=None, corrupt=[], options={})])
def test_fuzz_parquet(workdir, base, value_muts, ts_kind, id_kinds, empty_rows, structure, corrupt, options):
    assert_case(parquet_case(base, value_muts, ts_kind, id_kinds, empty_rows, structure, corrupt, options), workdir)


@settings(max_examples=400, **FUZZ)
@given(base=st.sampled_from([0, 1]), semantic=st.lists(tariff_semantic, max_size=2),
       textual=st.one_of(st.just([]), st.just([]), st.lists(tariff_textual, min_size=1, max_size=3)))
@examples([example(base=0, semantic=m, textual=[]) for m in [
    [("price", "out:text", v)] for v in ['"1_000"', '"١٢٣"', '"１２３"', '"1e999"', '"NaN"', '"-0"', '"1e49"', '"1e-60"',
                                         '"1' + "1" * 49 + '"']] + [
    [("twin", "TEXT")], [("twin", " text")], [("nested", 5000)], [("limit", "window_hours", "nan")],
    [("limit", "window_hours", "inf")], [("limit", "window_hours", "1e308")], [("limit", "window_hours", "3000000")],
    [("limit", "max_unanswered", "100000000000000000000")], [("limit", "max_business_messages", "true")]]])
def test_fuzz_tariff(workdir, base, semantic, textual):
    assert_case(tariff_case(semantic, textual, base), workdir)


# A fixed batch as real processes: a crash is a signal death, not a failed assertion in pytest.
def _process_cases() -> list[Case]:
    rng = random.Random(12)
    cases = []
    for i in range(5):
        muts = [("insert", rng.randrange(10**6), rng.choice(INSERT_TOKENS)),
                ("flip", rng.randrange(10**6), rng.randrange(256)),
                ("truncate", rng.randrange(10**6), rng.random() < 0.5)]
        cases.append(csv_case(i % 2, muts[: 1 + i % 3], "plain"))
    header = BASE_LOGS[0].split(b"\n", 1)[0]
    blank = Case(log_name="log.csv.gz", log=gzip.compress(header + b"\n" + b"\n" * (8 << 20) + b"\n", 1, mtime=0),
                 description=["header and 8 MiB of blank lines, gzipped"], expected_read=0,
                 must_fail="a log without a data row is an error ('no data rows')")
    cases.append(blank)
    blank2 = Case(log_name="log.csv", log=header + b"\n" + b"  \n" * (1 << 16) + BASE_LOGS[0].split(b"\n", 1)[1],
                  description=["header, 64 Ki whitespace-only lines, then the rows"],
                  expected_read=count_data_lines(BASE_LOGS[0]))
    cases.append(blank2)
    for i in range(3):
        corrupt = [("footer_flip", rng.randrange(10**6), rng.randrange(256))]
        cases.append(parquet_case(i % 2, [], TS_KINDS[i], ["string"] * 3, [], None, corrupt, {}))
    cases.append(tariff_case([("nested", 5000)], []))
    cases.append(tariff_case([("limit", "max_unanswered", "100000000000000000000")], []))
    return cases


def test_crash_safety_in_real_processes(tmp_path):
    cases = _process_cases()

    def one(i):
        workdir = tmp_path / str(i)
        case = cases[i]
        prepare(workdir, case)
        outcome = run_process(invoice_args(workdir, case, True), {"TMPDIR": str(tmp_path)})
        return [f"{p} | case: {'; '.join(case.description)}" for p in check(outcome, case, workdir, True)]

    with ThreadPoolExecutor(2) as pool:
        problems = [p for ps in pool.map(one, range(len(cases))) for p in ps]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("viber-sessions")]
    assert not leftovers, f"temporary folders left behind: {leftovers}"
    assert not problems, "\n".join(problems)
