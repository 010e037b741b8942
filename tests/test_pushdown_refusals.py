"""``sessions --account/--subscriber`` and ``explain`` by pushdown refuse a log as the whole
log loaded in memory refuses it: a message type the tariff does not price (anywhere in the
log), every row rejected under ``--on-invalid skip``, and an ``--account`` no row has."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from viber_sessions import pushdown
from viber_sessions.cli import cli
from viber_sessions.errors import BillingError
from viber_sessions.load import LoadOptions
from viber_sessions.sessionlist import Filter
from viber_sessions.tariff import load_tariff

TARIFF = "sample_data/tariff.toml"
HEADER = ["message_id", "timestamp", "business_id", "subscriber_id", "direction", "message_type"]
STICKER = ("error: sample_data/tariff.toml: outbound_prices has no price for message type 'sticker' (1 row); "
           "add it, or a `default` price, to [outbound_prices]\n")


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _log(tmp_path, rows, kind="csv", row_group=None, name="log") -> str:
    table = pa.table({c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(HEADER)})
    path = tmp_path / f"{name}.{kind}"
    if kind == "parquet":
        pq.write_table(table, path, row_group_size=row_group or len(rows))
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(dict(zip(HEADER, r))) + "\n" for r in rows))
    else:
        pacsv.write_csv(table, path)
    return str(path)


def _rows(n: int, business: str = "shop", start: int = 0) -> list[tuple]:
    """A conversation of ``n`` priced messages, alternating inbound and outbound."""
    return [(f"{business}-{start + i}", f"2026-10-01T10:{start + i:02d}:00Z", business, "+79001",
             "outbound" if i % 2 else "inbound", "text") for i in range(n)]


def _both(path, *extra):
    """(the run by pushdown, the run of the whole log): sessions of shop, then all sessions."""
    pushed = _run("sessions", path, "--tariff", TARIFF, "--account", "shop", "--format", "csv", *extra)
    full = _run("sessions", path, "--tariff", TARIFF, "--format", "csv", *extra)
    return pushed, full


@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl"])
def test_an_unpriced_type_in_another_conversation_is_refused(tmp_path, kind):
    rows = _rows(4) + [("x1", "2026-10-02T00:00:00Z", "bank", "+79002", "outbound", "sticker")]
    path = _log(tmp_path, rows, kind)
    pushed, full = _both(path)
    assert (pushed.exit_code, pushed.stderr) == (full.exit_code, full.stderr) == (1, STICKER)
    r = _run("explain", path, "--tariff", TARIFF, "--business", "shop", "--subscriber", "+79001")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", STICKER)


def test_an_unpriced_type_in_a_row_group_that_cannot_hold_the_conversation(tmp_path):
    # row groups of 4 rows sorted by account: the statistics of the last one rule "shop" out,
    # so only its message_id, timestamp and message_type are read first
    rows = _rows(4, "bank") + _rows(4, "shop", 10) + _rows(3, "zoo", 20) + [
        ("z9", "2026-10-01T09:00:00Z", "zoo", "+79009", "outbound", "Sticker")]
    path = _log(tmp_path, rows, "parquet", row_group=4)
    pushed, full = _both(path)
    assert (pushed.exit_code, pushed.stderr) == (full.exit_code, full.stderr) == (1, STICKER)   # read lowercase
    with pytest.raises(BillingError, match="no price for message type 'sticker'"):
        pushdown.sessions([path], load_tariff(TARIFF), "UTC", Filter(accounts=("shop",)), LoadOptions())


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_an_unpriced_duplicate_or_rejected_row_is_not_refused(tmp_path, kind):
    rows = _rows(4) + [
        ("shop-1", "2026-10-02T00:00:00Z", "bank", "+79002", "outbound", "sticker"),   # a duplicate: free
        ("x2", "not a time", "bank", "+79002", "outbound", "sticker"),                 # rejected
        ("x3", "2026-10-02T00:00:00Z", "bank", "+79002", "inbound", "sticker")]        # inbound: priced
    path = _log(tmp_path, rows, kind)
    pushed, full = _both(path, "--on-invalid", "skip")
    assert pushed.exit_code == full.exit_code == 0, pushed.output + full.output
    assert pushed.stdout.splitlines() == [full.stdout.splitlines()[0],
                                          *[l for l in full.stdout.splitlines() if '"shop"' in l]]


@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl"])
@pytest.mark.parametrize("account", ["shop", "nope"])
def test_every_row_rejected_is_refused(tmp_path, kind, account):
    rows = [("m1", "bad", "shop", "+7900", "inbound", "text"),
            ("m2", "2026-10-01T00:00:00Z", "shop", "+7900", "sideways", "text")]
    path = _log(tmp_path, rows, kind)
    pushed = _run("sessions", path, "--tariff", TARIFF, "--account", account, "--on-invalid", "skip")
    full = _run("sessions", path, "--tariff", TARIFF, "--on-invalid", "skip")
    assert (pushed.exit_code, pushed.stdout, pushed.stderr) == (full.exit_code, "", full.stderr)
    assert pushed.stderr == (f"error: {path}, row 1, column 'timestamp': all 2 rows were rejected "
                             "(--on-invalid skip); the first: not a timestamp in [2000-01-01, 2100-01-01) UTC "
                             "(ISO-8601 such as 2026-10-05T09:00:00+03:00, or epoch seconds/milliseconds): 'bad'\n")


def test_every_row_rejected_counts_lines_set_aside(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(",".join(HEADER) + "\nm1,2026-10-01T00:00:00Z,shop\n\nm2,bad,shop,+7900,inbound,text\n")
    pushed = _run("sessions", path, "--tariff", TARIFF, "--account", "shop", "--on-invalid", "skip")
    full = _run("sessions", path, "--tariff", TARIFF, "--on-invalid", "skip")
    assert pushed.exit_code == full.exit_code == 1
    assert pushed.stderr == full.stderr and "all 2 rows were rejected" in full.stderr


@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl"])
def test_an_account_no_row_has_is_refused(tmp_path, kind):
    path = _log(tmp_path, _rows(4) + _rows(2, "bank", 10), kind)
    r = _run("sessions", path, "--tariff", TARIFF, "--account", "shpo")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == "error: --account 'shpo': no row of the loaded log belongs to this account (did you mean 'shop'?)\n"
    r = _run("sessions", path, "--tariff", TARIFF, "--account", "nope", "--subscriber", "+79001")
    assert r.stderr == "error: --account 'nope': no row of the loaded log belongs to this account\n"
    # an account that has rows, only not with this subscriber: no session, no error
    r = _run("sessions", path, "--tariff", TARIFF, "--account", "bank", "--subscriber", "+79009")
    assert (r.exit_code, r.stderr) == (0, "0 sessions\n")
    # an account whose only rows are rejected has no row of the loaded log
    bad = _log(tmp_path, _rows(2) + [("b1", "bad", "bank", "+79001", "inbound", "text")], kind, name="bad")
    for extra in ((), ("--subscriber", "+79001")):       # read again for the account alone: rejected rows only
        r = _run("sessions", bad, "--tariff", TARIFF, "--account", "bank", "--on-invalid", "skip", *extra)
        assert r.exit_code == 1, r.output
        assert r.stderr == "error: --account 'bank': no row of the loaded log belongs to this account\n"


NOT_UTF8 = "a value is not UTF-8 text: the file is damaged, or (JSON Lines) in another encoding (see --encoding)"


@pytest.mark.parametrize("name,column,what", [
    ("code_outside_dictionary", "business_id", "the file is damaged: a value's code is outside the column's dictionary"),
    ("dictionary_not_utf8", "direction", f"{NOT_UTF8}: '\ufffdnbound'"),
])
def test_a_damaged_dictionary_is_one_line_for_explain_and_invoice(name, column, what):
    """Bytes overwritten in a Parquet file that its reader does not notice (a dictionary code
    past the dictionary's end, a dictionary entry that is not UTF-8): one line, exit 1."""
    path = f"tests/corpus/damaged/{name}.parquet"
    line = f"error: {path}, column '{column}': {what}\n"
    r = _run("explain", path, "--tariff", TARIFF, "--business", "shop", "--subscriber", "+79000000317")
    assert (r.exit_code, r.stderr) == (1, line)
    r = _run("invoice", path, "--tariff", TARIFF, "--period", "2026-10", "-q")
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "internal error" not in r.stderr, r.stderr


@pytest.mark.parametrize("skip", [False, True])
def test_a_parquet_file_of_blank_rows_has_no_data_rows(tmp_path, skip):
    """Blank rows are not data rows: as the invoice says it (it was 'no message between ...',
    and an internal error under --on-invalid skip)."""
    n = 5
    path = tmp_path / "blank.parquet"
    pq.write_table(pa.table({c: pa.array([None] * n, pa.string()) for c in HEADER}), path)
    extra = ["--on-invalid", "skip"] if skip else []
    r = _run("explain", path, "--tariff", TARIFF, "--business", "shop", "--subscriber", "+79001", *extra)
    assert (r.exit_code, r.stderr) == (1, f"error: {path}: no data rows: the file holds a header and {n} blank lines\n")


def test_integer_message_ids_find_their_duplicates(tmp_path):
    """A Parquet message_id column of integers: ids are their text, and an earlier row of
    another conversation with the same id makes a duplicate (pushdown said 'session')."""
    from viber_sessions import explain as ex
    from viber_sessions.load import load
    from viber_sessions.segment import segment

    path = str(tmp_path / "ints.parquet")
    pq.write_table(pa.table({
        "message_id": pa.array([7, 1, 7], pa.int64()),
        "timestamp": pa.array([1_791_000_000_000, 1_791_000_060_000, 1_791_000_120_000], pa.timestamp("ms", "UTC")),
        "business_id": ["bank", "shop", "shop"], "subscriber_id": ["+7902", "+7901", "+7901"],
        "direction": ["outbound", "inbound", "outbound"], "message_type": ["text"] * 3}), path)
    tariff = load_tariff(TARIFF)
    facts = pushdown.explain(path, tariff, "shop", "+7901", "UTC")
    assert facts == ex.explain(segment(load([path]), tariff), tariff, "shop", "+7901", "UTC")
    assert [e["billing"] for e in facts["events"] if e["kind"] == "message"] == ["out_of_session", "duplicate"]


@pytest.mark.parametrize("name", ["message_id_not_utf8", "message_id_not_utf8_plain_pages"])
def test_message_ids_that_are_not_utf8_are_one_line_for_every_reader(name):
    """A plain string column (message ids are not read dictionary-encoded) whose bytes are not
    UTF-8 text: the invoice billed it and wrote the bytes into --messages-out as they were,
    explain stopped with a message naming no column, validate found nothing. Now one line,
    exit 1, in memory, out of core, by pushdown and in validate."""
    path = f"tests/corpus/damaged/{name}.parquet"
    line = f"error: {path}, column 'message_id': {NOT_UTF8}: 'b\ufffd\ufffd'\n"
    r = _run("explain", path, "--tariff", TARIFF, "--business", "shop", "--subscriber", "+79001234567")
    assert (r.exit_code, r.stderr) == (1, line)
    for extra in ((), ("--memory-limit", "1GB")):
        r = _run("invoice", path, "--tariff", TARIFF, "--period", "2026-10", "-q", *extra)
        assert (r.exit_code, r.stderr) == (1, line)
    r = _run("validate", path, "--format", "json")
    assert r.exit_code == 1 and json.loads(r.stdout)["counts"] == {"damaged_column": 1}


def test_non_ascii_message_ids_that_are_utf8_are_read(tmp_path):
    """The check's fast path is for ASCII bytes; UTF-8 text beyond it is validated and kept."""
    path = tmp_path / "cyrillic.parquet"
    pq.write_table(pa.table({
        "message_id": ["сообщение-1", "ответ-2"],
        "timestamp": pa.array([1_791_000_000_000, 1_791_000_060_000], pa.timestamp("ms", "UTC")),
        "business_id": ["shop", "shop"], "subscriber_id": ["+7901", "+7901"],
        "direction": ["inbound", "outbound"], "message_type": ["text", "text"]}), path)
    r = _run("explain", str(path), "--tariff", TARIFF, "--business", "shop", "--subscriber", "+7901", "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert [e["message_id"] for e in json.loads(r.stdout)["events"] if e["kind"] == "message"] == \
        ["сообщение-1", "ответ-2"]


def test_a_json_lines_file_not_utf8_is_refused_by_explain_as_by_the_invoice(tmp_path):
    """explain reads a JSON Lines file whole: every row is checked, as in a full load, not only
    the rows it keeps (a bad byte in another conversation's row was answered, exit 0)."""
    path = tmp_path / "log.jsonl"
    good = '{"message_id": "a", "timestamp": "2026-10-01T09:00:00Z", "business_id": "shop", ' \
           '"subscriber_id": "+7901", "direction": "inbound", "message_type": "text"}\n'
    bad = good.replace('"a"', '"mQX"').replace("shop", "bank").replace("T09", "T08").encode().replace(b"mQX", b"m\xe9X")
    path.write_bytes(bad + good.encode())
    line = f"error: {path}, column 'message_id': {NOT_UTF8}: 'm\ufffdX'\n"
    for args in (("explain", "--business", "shop", "--subscriber", "+7901"), ("sessions", "--account", "shop"),
                 ("invoice", "--period", "2026-10", "-q")):
        r = _run(args[0], str(path), "--tariff", TARIFF, *args[1:])
        assert (r.exit_code, r.stderr) == (1, line), (args, r.stderr)
