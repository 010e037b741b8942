"""validate: severities, suspicious identifiers, the report's JSON and its terminal table."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from rich.console import Console

from viber_sessions import cli as cli_module
from viber_sessions import ids
from viber_sessions import validate as v
from viber_sessions.errors import Problem, UsageError
from viber_sessions.load import LoadOptions
from viber_sessions.tariff import load_tariff
from viber_sessions.timeutil import to_ns

HERE = Path(__file__).parent
ROOT = HERE.parent
SAMPLE = str(ROOT / "sample_data" / "messages.parquet")
TARIFF_PATH = str(ROOT / "sample_data" / "tariff.toml")
TARIFF = load_tariff(TARIFF_PATH)
BASIC = str(HERE / "cases" / "01_basic.csv")
MISSING_COLUMN = str(HERE / "corpus" / "missing_column.csv")
HEADER = "message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
NOW = 1_798_761_600 * 10**9          # 2027-01-01T00:00:00Z


def write(path: Path, rows: list[str], header: str = HEADER) -> str:
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(autouse=True)
def many_buckets(monkeypatch):
    """--memory-limit runs in these tests use several buckets and small Parquet batches."""
    from viber_sessions.chunked import Plan
    from viber_sessions.validate import bounded

    monkeypatch.setattr(bounded, "plan", lambda files, limit: Plan(buckets=3, batch_rows=1000, rows_estimate=0))


def check(inputs, tariff=None, bounded=True, **kw) -> v.Report:
    """The in-memory report, held equal to the one made within a memory limit (unless
    ``bounded`` is False; never for standard input)."""
    inputs = inputs if isinstance(inputs, list) else [inputs]
    now_ns = kw.pop("now_ns", NOW)
    report = v.validate(inputs, LoadOptions(), tariff, now_ns=now_ns, **kw)
    if bounded and "stdin" not in kw and "-" not in inputs:
        bounded = v.validate(inputs, LoadOptions(), tariff, now_ns=now_ns, memory_limit=64 * 2**20, **kw)
        assert v.report_dict(bounded) == v.report_dict(report)
    return report


def table_text(report: v.Report, width: int = 60, **kw) -> str:
    buf = io.StringIO()
    v.render_table(report, Console(file=buf, width=width, highlight=False, no_color=True), **kw)
    return buf.getvalue()


# --- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, reason", [
    ("shop ", "trailing whitespace (U+0020 SPACE)"),
    (" shop", "leading whitespace (U+0020 SPACE)"),
    ("\tshop\r\n", "leading whitespace (U+0009 TAB); trailing whitespace (U+000D CARRIAGE RETURN, U+000A LINE FEED)"),
    ("sh\u200bop", "an invisible format character U+200B ZERO WIDTH SPACE at position 3"),
    ("sh\u200cop", "an invisible format character U+200C ZERO WIDTH NON-JOINER at position 3"),
    ("sh\u200dop", "an invisible format character U+200D ZERO WIDTH JOINER at position 3"),
    ("\ufeffshop", "an invisible format character U+FEFF ZERO WIDTH NO-BREAK SPACE at position 1"),
    ("sh\u2060op", "an invisible format character U+2060 WORD JOINER at position 3"),
    ("shop\u200e", "an invisible format character U+200E LEFT-TO-RIGHT MARK at position 5"),
    ("\u202eshop", "an invisible format character U+202E RIGHT-TO-LEFT OVERRIDE at position 1"),
    ("sh\x07op", "a control character U+0007 at position 3"),
    ("sh\x00op", "a control character U+0000 NULL at position 3"),
    ("my\u00a0shop", "an unusual space U+00A0 NO-BREAK SPACE at position 3"),
    ("sh\u034fop", "an invisible character U+034F COMBINING GRAPHEME JOINER at position 3"),
    ("shop\u3164", "an invisible character U+3164 HANGUL FILLER at position 5"),
    ("a\ue000b", "a private-use character U+E000 at position 2"),
    (" s\u200bh\u200bo\u200bp", "leading whitespace (U+0020 SPACE); an invisible format character U+200B ZERO WIDTH "
                                "SPACE at position 3; an invisible format character U+200B ZERO WIDTH SPACE at "
                                "position 5; and 1 more"),
])
def test_suspicious_reasons(value, reason):
    assert ids.suspicious(value) == reason


@pytest.mark.parametrize("value", ["shop", "my shop", "+79001234567", "007", "viber:9f", "магазин", "店铺",
                                   "shop😀", "a-b_c.d@e", "", "\u0cf3"])
def test_ordinary_ids_are_not_suspicious(value):
    assert ids.suspicious(value) is None


def test_suspicious_values_distinct_in_order_from_any_array():
    values = ["shop", "shop ", None, "sh\u200bop", "shop ", "+7900"]
    want = [("shop ", "trailing whitespace (U+0020 SPACE)"),
            ("sh\u200bop", "an invisible format character U+200B ZERO WIDTH SPACE at position 3")]
    assert ids.suspicious_values(values) == want
    assert ids.suspicious_values(pa.array(values)) == want
    assert ids.suspicious_values(pa.array(values).dictionary_encode()) == want
    assert ids.suspicious_values(pa.chunked_array([values[:3], values[3:]])) == want
    assert ids.suspicious_values(pa.array(values, pa.large_string())) == want
    assert ids.suspicious_values([]) == [] and ids.suspicious_values(["a", "b"]) == []


def test_prefilter_is_a_superset_of_suspicious():
    """The vectorised regular expression never misses what the Python check reports, for every
    code point alone and inside."""
    code_points = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    for template in ("a{}b", "{}"):
        values = [template.format(chr(c)) for c in code_points]
        passed = ids.prefilter(pa.array(values)).to_numpy(zero_copy_only=False)
        missed = [v for v, p in zip(values, passed) if not p and ids.suspicious(v) is not None]
        assert missed == []


def test_warning_lines_name_the_account_and_its_twin():
    lines = ids.warning_lines(["shop", "shop ", "sh\u200bop", "other\u200b", "shop "])
    assert lines == [
        "account 'shop ': the id has trailing whitespace (U+0020 SPACE); it is billed as written, as an account of "
        "its own with its own monthly fee, apart from 'shop' (if both are one account, correct business_id in the log)",
        "account 'sh\\u200bop': the id has an invisible format character U+200B ZERO WIDTH SPACE at position 3; it is "
        "billed as written, as an account of its own with its own monthly fee, apart from 'shop' (if both are one "
        "account, correct business_id in the log)",
        "account 'other\\u200b': the id has an invisible format character U+200B ZERO WIDTH SPACE at position 6; it "
        "is billed as written, as an account of its own with its own monthly fee (if that is a mistake, correct "
        "business_id in the log)",
    ]
    assert ids.warning_lines(["shop", "+79001234567"]) == []


# --- validate: findings and severities ----------------------------------------------------------


def test_sample_has_only_notes_and_exits_0():
    report = check(SAMPLE, TARIFF)
    assert report.exit_code == 0
    assert report.rows_read == 50_000 and report.files == (SAMPLE,) and report.unreadable == ()
    assert report.counts() == {"type_not_allowed_in_session": 2243}
    assert report.by_severity() == {"error": 0, "warning": 0, "note": 2243}
    assert {p.severity for p in report.findings} == {"note"}


def test_suspicious_business_ids_are_two_warnings(tmp_path):
    log = write(tmp_path / "log.csv", [
        "m1,2026-10-05T09:00:00Z,shop,+79001234567,in,text",
        "m2,2026-10-05T09:01:00Z,shop ,+79001234567,in,text",
        "m3,2026-10-05T09:02:00Z,sh\u200bop,+79001234567,in,text",
        "m4,2026-10-05T09:03:00Z,shop ,+79001234568,in,text",
    ])
    report = check(log, TARIFF)
    found = [p for p in report.findings if p.code == "suspicious_id"]
    assert [(p.file, p.row, p.column, p.value, p.severity) for p in found] == [
        (log, 2, "business_id", "shop ", "warning"),
        (log, 3, "business_id", "sh\u200bop", "warning"),
    ]
    assert found[0].message == ("business_id has trailing whitespace (U+0020 SPACE); ids are kept as written, so "
                                "this is an account of its own, apart from 'shop' (also in the log); first of its rows")
    assert "U+200B ZERO WIDTH SPACE at position 3" in found[1].message
    assert report.counts() == {"suspicious_id": 2} and report.exit_code == 0


def test_suspicious_subscriber_id_without_twin(tmp_path):
    log = write(tmp_path / "log.csv", [
        "m1,2026-10-05T09:00:00Z,shop,+79001234567,in,text",
        "m2,2026-10-05T09:01:00Z,shop,+7900123\u20604568,in,text",
        "m3,2026-10-05T09:02:00Z,shop,+7900123\u20604568,out,text",
    ])
    report = check(log)
    assert [(p.row, p.column, p.code, p.value, p.severity) for p in report.findings] == [
        (2, "subscriber_id", "suspicious_id", "+7900123\u20604568", "warning")]
    assert report.findings[0].message == (
        "subscriber_id has an invisible format character U+2060 WORD JOINER at position 9; ids are kept as written, "
        "so this is a subscriber of its own; first of its rows")


def test_suspicious_id_of_a_rejected_row_only_is_not_reported_twice(tmp_path):
    log = write(tmp_path / "log.csv", [
        "m1,2026-10-05T09:00:00Z,shop,+79001234567,in,text",
        "m2,not a time,shop ,+79001234567,in,text",
    ])
    report = check(log)
    assert [(p.code, p.severity) for p in report.findings] == [("bad_timestamp", "error")]
    assert report.exit_code == 1


def test_severities_and_exit_code(tmp_path):
    log = write(tmp_path / "log.csv", [
        "x1,2026-10-05T09:00:00Z,shop,+7,in,text",
        "x2,2026-10-05T09:01:00Z,shop,+7,out,video",           # note: not allowed in a session
        "x1,2026-10-05T09:05:00Z,shop,+7,in,text",             # warning: conflicting duplicate
        "x3,2027-02-01T00:00:00Z,shop,+7,out,text",            # warning: future
        "x4,2026-09-01T00:00:00Z,shop,+7,out,text",            # warning: before --since
        "x5,2026-12-01T00:00:00Z,shop,+7,out,text",            # warning: after --until
    ])
    report = check(log, TARIFF, since_ns=to_ns_text("2026-09-30"), until_ns=to_ns_text("2026-11-01"))
    assert [(p.row, p.code, p.severity) for p in report.findings] == [
        (2, "type_not_allowed_in_session", "note"), (3, "conflicting_duplicate", "warning"),
        (4, "after_range", "warning"), (4, "future_timestamp", "warning"), (5, "before_range", "warning"),
        (6, "after_range", "warning")]
    assert report.exit_code == 0
    assert report.by_severity() == {"error": 0, "warning": 5, "note": 1}
    # an unpriced type is an error
    sticker = write(tmp_path / "sticker.csv", ["s1,2026-10-05T09:00:00Z,shop,+7,out,sticker"])
    report = check(sticker, TARIFF)
    assert [(p.code, p.severity, p.value) for p in report.findings] == [("unpriced_type", "error", "sticker")]
    assert report.exit_code == 1


def to_ns_text(day: str) -> int:
    from datetime import datetime, timezone

    return to_ns(datetime.fromisoformat(day).replace(tzinfo=timezone.utc))


def test_invalid_values_are_errors():
    report = check([str(HERE / "corpus" / "bad_timestamp.csv"), str(HERE / "corpus" / "bad_direction.csv")])
    assert [(p.code, p.severity) for p in report.findings] == [("bad_timestamp", "error"), ("bad_direction", "error")]
    assert report.exit_code == 1


def test_every_load_notice_is_a_warning(monkeypatch):
    real_load = v.load

    def load_with_notices(*a, **kw):
        log = real_load(*a, **kw)
        log.notices = (Problem(BASIC, 3, None, "no_final_newline", "the last line has no line end"),
                       Problem(BASIC, None, None, "some_future_notice", "anything the loader notices"))
        return log

    monkeypatch.setattr(v, "load", load_with_notices)
    report = check(BASIC, TARIFF, bounded=False)          # the notices are made up in memory only
    assert [(p.row, p.code, p.severity) for p in report.findings] == [
        (None, "some_future_notice", "warning"), (3, "no_final_newline", "warning")]
    assert report.exit_code == 0
    assert isinstance(report.findings[0], Problem)   # a Finding is a Problem with a severity


def test_unreadable_files_are_listed_and_counted(tmp_path):
    missing = str(tmp_path / "nowhere.csv")
    report = check([MISSING_COLUMN, BASIC, missing])
    assert report.files == (MISSING_COLUMN, BASIC, missing)
    assert report.unreadable == (MISSING_COLUMN, missing)
    assert [(p.file, p.code, p.severity) for p in report.findings] == [
        (MISSING_COLUMN, "missing_column", "error"), (missing, "missing_file", "error")]
    assert report.rows_read == 3 and report.exit_code == 1
    assert v.summary_line(report) == "3 rows in 3 file(s) (2 unreadable): 2 errors; cannot be billed as it is"
    assert v.report_dict(report)["files"] == [MISSING_COLUMN, BASIC, missing]


def test_only_unreadable_files(tmp_path):
    report = check([MISSING_COLUMN])
    assert report.files == (MISSING_COLUMN,) and report.rows_read == 0 and report.exit_code == 1
    assert [p.code for p in report.findings] == ["missing_column"]


def test_no_data_rows_is_an_error(tmp_path):
    log = write(tmp_path / "empty.csv", [])
    report = check(log)
    assert report.exit_code == 1 and report.rows_read == 0
    assert [(p.code, p.severity) for p in report.findings] == [("no_data_rows", "error")]
    assert "no data row" in report.findings[0].message
    assert report.files == (log,) and report.unreadable == ()      # readable, only empty


def test_last_line_without_line_end_is_a_warning(tmp_path):
    log = tmp_path / "cut.csv"
    log.write_text(HEADER + "m1,2026-10-05T09:00:00Z,shop,+7,in,text\nm2,2026-10-05T09:01:00Z,shop,+7,out,te",
                   encoding="utf-8")
    report = check(str(log), TARIFF)
    assert [(p.file, p.row, p.code, p.severity, p.value) for p in report.findings] == [
        (str(log), 2, "no_final_newline", "warning", None),
        (str(log), 2, "type_not_allowed_in_session", "note", "te"),
        (str(log), 2, "unpriced_type", "error", "te")]              # "text" cut to "te": unpriced
    assert report.exit_code == 1
    log.write_text(HEADER + "m1,2026-10-05T09:00:00Z,shop,+7,in,text", encoding="utf-8")
    report = check(str(log), TARIFF)
    assert [(p.row, p.code, p.severity) for p in report.findings] == [(1, "no_final_newline", "warning")]
    assert report.exit_code == 0


def test_no_inputs_is_a_usage_error():
    with pytest.raises(UsageError):
        v.validate([], LoadOptions())


# --- report_dict --------------------------------------------------------------------------------


def test_report_dict_keeps_keys_and_adds_severity(tmp_path):
    report = check([MISSING_COLUMN, BASIC], TARIFF)
    doc = v.report_dict(report)
    assert list(doc) == ["rows_read", "files", "counts", "by_severity", "findings"]
    assert doc == {
        "rows_read": 3, "files": [MISSING_COLUMN, BASIC], "counts": {"missing_column": 1},
        "by_severity": {"error": 1, "warning": 0, "note": 0},
        "findings": [{"file": MISSING_COLUMN, "row": None, "column": "message_type", "code": "missing_column",
                      "severity": "error", "message": report.findings[0].message, "value": None}]}
    assert json.loads(json.dumps(doc)) == doc


def test_report_dict_of_the_sample():
    doc = v.report_dict(check(SAMPLE, TARIFF))
    assert doc["by_severity"] == {"error": 0, "warning": 0, "note": 2243}
    assert len(doc["findings"]) == 2243 and {f["severity"] for f in doc["findings"]} == {"note"}
    assert doc["findings"][0] == {"file": SAMPLE, "row": 34, "column": "message_type",
                                  "code": "type_not_allowed_in_session", "severity": "note",
                                  "message": "business message of a type not allowed in a session, sent while one "
                                             "was open (billed per message)", "value": "text_button"}


# --- render_table -------------------------------------------------------------------------------


def test_table_of_the_sample_at_60_columns(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = table_text(check("sample_data/messages.parquet", TARIFF), 60)
    assert [line.rstrip() for line in text.splitlines()] == [
        "Findings by code",
        "code                                        severity   count",
        "────────────────────────────────────────────────────────────",
        "type_not_allowed_in_session                 note        2243",
        "  e.g. sample_data/messages.parquet, row",
        "  34, column 'message_type': business",
        "  message of a type not allowed in a",
        "  session, sent while one was open",
        "  (billed per message): 'text_button'",
        "50000 rows in 1 file(s): 2243 notes; no errors",
    ]
    assert all(len(line) <= 60 for line in text.splitlines())


def test_table_of_the_sample_wide_has_four_columns():
    text = table_text(check(SAMPLE, TARIFF), 200)
    lines = text.splitlines()
    assert lines[1].split() == ["code", "severity", "count", "first", "example"]
    assert lines[3].split()[:4] == ["type_not_allowed_in_session", "note", "2243", SAMPLE + ","]
    assert lines[-1] == "50000 rows in 1 file(s): 2243 notes; no errors"


def test_table_shows_errors_and_warnings_at_most_limit(tmp_path):
    rows = [f"m{i},2027-02-01T00:00:{i:02d}Z,shop,+7,in,text" for i in range(55)]       # 55 future: warnings
    rows += ["bad,yesterday,shop,+7,in,text"]                                          # 1 error
    rows += ["v1,2026-10-05T09:00:00Z,shop,+8,in,text", "v2,2026-10-05T09:01:00Z,shop,+8,out,video"]  # 1 note
    report = check(write(tmp_path / "log.csv", rows), TARIFF)
    assert report.by_severity() == {"error": 1, "warning": 55, "note": 1}
    text = table_text(report, 60)
    lines = text.splitlines()
    assert all(len(line) <= 60 for line in lines)
    summary_codes = [line.split()[0] for line in lines[3:] if line and not line.startswith(" ")][:3]
    assert summary_codes == ["bad_timestamp", "future_timestamp", "type_not_allowed_in_session"]
    start = lines.index("Errors and warnings")
    details = [line for line in lines[start + 1:] if line.startswith(("error:", "warning:"))]
    assert len(details) == 50
    assert details[0].startswith("error: ") and all(d.startswith("warning: ") for d in details[1:])
    assert "... 6 more (use --format json)" in lines
    assert " ".join(line.strip() for line in lines[-2:]) == \
        "58 rows in 1 file(s): 1 error, 55 warnings, 1 note; cannot be billed as it is"
    assert len([line for line in lines if line.startswith("... ")]) == 1
    assert "... 1 more (use --format json)" in table_text(report, 60, limit=55).splitlines()


def test_table_of_a_clean_log_is_one_line():
    assert table_text(check(BASIC, TARIFF), 60) == "3 rows in 1 file(s): no findings\n"


def test_table_never_cuts_a_long_value(tmp_path):
    name = "a-very-long-business-account-identifier-that-cannot-fit-in-sixty-columns "
    report = check(write(tmp_path / "log.csv", [f"m1,2026-10-05T09:00:00Z,{name},+7,in,text"]))
    text = table_text(report, 60)
    assert all(len(line) <= 60 for line in text.splitlines())
    flat = "".join(line.strip() for line in text.splitlines())
    assert repr(name).replace(" ", "") in flat.replace(" ", "")


# --- the CLI ------------------------------------------------------------------------------------


def run(*args, env=None):
    return CliRunner().invoke(cli_module.cli, [str(a) for a in args], env=env)


def test_cli_sample_exits_0_with_notes():
    r = run("validate", SAMPLE, "--tariff", TARIFF_PATH, "--now", "2027-01-01", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["by_severity"] == {"error": 0, "warning": 0, "note": 2243}
    assert doc == v.report_dict(check(SAMPLE, TARIFF))


def test_cli_table_at_60_columns():
    r = run("validate", SAMPLE, "--tariff", TARIFF_PATH, "--now", "2027-01-01", "--format", "table",
            env={"COLUMNS": "60"})
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert all(len(line) <= 60 for line in lines)
    assert ["type_not_allowed_in_session", "note", "2243"] in [line.split() for line in lines]
    assert lines[-1] == "50000 rows in 1 file(s): 2243 notes; no errors"


def test_cli_unreadable_file_is_listed(tmp_path):
    r = run("validate", MISSING_COLUMN, BASIC, "--format", "json", "--now", "2027-01-01")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["files"] == [MISSING_COLUMN, BASIC] and doc["by_severity"]["error"] == 1


def test_cli_suspicious_ids_exit_0(tmp_path):
    log = write(tmp_path / "log.csv", ["m1,2026-10-05T09:00:00Z,shop ,+7,in,text",
                                       "m2,2026-10-05T09:00:00Z,sh\u200bop,+7,in,text"])
    r = run("validate", log, "--format", "json", "--now", "2027-01-01")
    assert r.exit_code == 0
    assert [(f["code"], f["severity"], f["value"]) for f in json.loads(r.stdout)["findings"]] == [
        ("suspicious_id", "warning", "shop "), ("suspicious_id", "warning", "sh\u200bop")]


def test_finding_keeps_problem_fields():
    f = v.finding(Problem("f.csv", 2, "business_id", "suspicious_id", "m", "shop "))
    assert f.severity == "warning" and str(f) == "f.csv, row 2, column 'business_id': m: 'shop '"
    assert v.finding(Problem("f.csv", 2, None, "anything_else", "m")).severity == "error"
    assert replace(f, severity="note").severity == "note"


# --- unpriced types under price plans -------------------------------------------------------------


def plan_tariff(extra: str, top_default: bool = False):
    import tomllib

    from viber_sessions.tariff import parse_tariff

    text = Path(TARIFF_PATH).read_text(encoding="utf-8")
    if top_default:
        text = text.replace('text = "0.85"', 'text = "0.85"\ndefault = "1.50"', 1)
    text += extra
    return parse_tariff(tomllib.loads(text), "plans.toml")


def test_a_type_priced_by_an_accounts_default_is_not_unpriced(tmp_path):
    tariff = plan_tariff('\n[accounts."shop"]\n[accounts."shop".outbound_prices]\ndefault = "2.00"\n')
    log = write(tmp_path / "log.csv", [
        "s1,2026-10-05T09:00:00Z,shop,+79001234567,out,sticker",      # shop's default prices it
        "s2,2026-10-05T09:01:00Z,shop,+79001234568,out,sticker",
        "s3,2026-10-05T09:02:00Z,bank,+79001234567,in,sticker",       # inbound: inbound_price
    ])
    report = check(log, tariff)
    assert [p.code for p in report.findings] == []
    assert report.exit_code == 0
    # the invoice agrees: it prices the stickers at shop's default
    from viber_sessions import segment
    from viber_sessions.billing import bill
    from viber_sessions.load import load
    from viber_sessions.timeutil import Period

    inv = bill(segment(load([log], LoadOptions()), tariff), tariff, Period.parse("2026-10", "UTC"))
    shop = next(a for a in inv.accounts if a.business_id == "shop")
    assert [(l.message_type, l.count, str(l.amount)) for l in shop.out_of_session] == [("sticker", 2, "4.00")]


def test_an_account_without_a_price_is_named_and_counted_alone(tmp_path):
    tariff = plan_tariff('\n[accounts."shop"]\n[accounts."shop".outbound_prices]\ndefault = "2.00"\n'
                         '[accounts."taxi"]\nsession_price = "1.00"\n')
    log = write(tmp_path / "log.csv", [
        "s1,2026-10-05T09:00:00Z,shop,+79001234567,out,sticker",      # priced by shop's default
        "s2,2026-10-05T09:01:00Z,bank,+79001234567,out,sticker",      # bank: top-level plan, no price
        "s3,2026-10-05T09:02:00Z,taxi,+79001234567,out,sticker",      # taxi's override has no default either
        "s4,2026-10-05T09:03:00Z,bank,+79001234568,out,sticker",
        "s5,2026-10-05T09:04:00Z,shop,+79001234568,out,sticker",
    ])
    report = check(log, tariff)
    assert [(p.row, p.code, p.severity, p.value, p.message) for p in report.findings] == [
        (2, "unpriced_type", "error", "sticker", "the tariff has no outbound price for this type (3 rows; first "
                                                 "shown); in the plan of accounts 'bank', 'taxi'")]
    assert report.exit_code == 1


def test_a_top_level_default_with_an_override_leaves_nothing_unpriced(tmp_path):
    tariff = plan_tariff('\n[accounts."shop"]\nsession_price = "1.00"\n', top_default=True)
    log = write(tmp_path / "log.csv", ["s1,2026-10-05T09:00:00Z,shop,+79001234567,out,sticker",
                                       "s2,2026-10-05T09:01:00Z,bank,+79001234567,out,sticker"])
    assert check(log, tariff).findings == ()


EXPORTS = ROOT / "tests" / "corpus" / "exports"


@pytest.mark.parametrize("export, profile", [("cp1251_semicolon.csv", "cp1251_semicolon.toml"),
                                             ("messages.jsonl", "messages.toml"),
                                             ("messages.xlsx", "messages_xlsx.toml"),
                                             ("excel_utf16.tsv", "excel_utf16.toml")])
def test_cli_reads_exports_with_their_profile_like_the_canonical_csv(export, profile):
    """validate takes --source and the reading options like every command: each export of the
    same log gives the canonical CSV's findings."""
    def counts(*args):
        r = run("validate", *args, "--tariff", TARIFF_PATH, "--now", "2027-01-01", "--format", "json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        return doc["rows_read"], doc["counts"]

    assert counts(EXPORTS / export, "--source", EXPORTS / profile) == counts(EXPORTS / "canonical.csv")


def test_cli_e164_collapses_the_spellings_it_was_asked_to():
    def codes(*args):
        r = run("validate", EXPORTS / "mixed_phones.csv", *args, "--tariff", TARIFF_PATH, "--now", "2027-01-01",
                "--format", "json")
        return json.loads(r.stdout)["counts"]

    assert "subscriber_spellings" in codes()
    normalised = codes("--source", EXPORTS / "mixed_phones.toml")
    assert "subscriber_spellings" not in normalised and "conflicting_duplicate" not in normalised
