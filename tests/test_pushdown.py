"""explain by pushdown (viber_sessions/pushdown/) equals the explain of the whole log loaded in
memory: random generated logs, CSV and Parquet, several files, conversations whose message ids
occur earlier in other conversations, sessions still open at the end of the data, and bad rows
elsewhere in the log."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from viber_sessions import explain as ex
from viber_sessions import pushdown
from viber_sessions.cli import cli
from viber_sessions.errors import InputError, UsageError
from viber_sessions.generate import GeneratorOptions, write_log
from viber_sessions.load import LoadOptions, load
from viber_sessions.segment import CLOSE_NAMES, segment
from viber_sessions.tariff import load_tariff

TARIFF = "sample_data/tariff.toml"


def _generated(tmp_path, rows: int, seed: int) -> pa.Table:
    path = str(tmp_path / f"gen-{seed}.parquet")
    write_log(path, GeneratorOptions(rows=rows, seed=seed, start="2026-10-01", days=3))
    return pq.read_table(path)


def _with_foreign_duplicates(table: pa.Table, rng) -> tuple[pa.Table, list[tuple[str, str]]]:
    """Give an early row of another conversation the message id of a later row of each of a few
    conversations: those later rows become duplicates whose first occurrence lies elsewhere."""
    mid = table.column("message_id").to_pylist()
    b, s = table.column("business_id").to_pylist(), table.column("subscriber_id").to_pylist()
    chosen = []
    for r in rng.choice(np.arange(len(mid) // 2, len(mid)), 6, replace=False).tolist():
        e = int(rng.integers(0, len(mid) // 4))
        if (b[e], s[e]) != (b[r], s[r]):
            mid[e] = mid[r]
            chosen.append((b[r], s[r]))
    return table.set_column(0, "message_id", pa.array(mid, pa.string())), chosen


def _write(table: pa.Table, folder, kind: str, parts: int, row_group: int) -> list[str]:
    """The rows over ``parts`` files, in order."""
    bounds = np.linspace(0, table.num_rows, parts + 1).astype(int)
    files = []
    for i in range(parts):
        part = table.slice(bounds[i], bounds[i + 1] - bounds[i])
        path = str(folder / f"part-{i}.{kind}")
        if kind == "parquet":
            pq.write_table(part, path, row_group_size=row_group)
        else:
            ts = pc.strftime(part.column("timestamp"), "%Y-%m-%dT%H:%M:%SZ")
            pacsv.write_csv(part.set_column(1, "timestamp", ts), path)
        files.append(path)
    return files


def _full(files, tariff, options=None):
    return segment(load(files, options), tariff)


def _conversations(seg, picks, rng, extra=(), need_open=True) -> list[tuple[str, str]]:
    """Some random conversations, the ones named, and conversations with a session still open."""
    log = seg.log
    out = list(extra)
    for r in rng.choice(len(log), picks, replace=False).tolist():
        out.append((log.businesses[int(log.business[r])].as_py(), log.subscribers[int(log.subscriber[r])].as_py()))
    open_ = [k for k in range(seg.n_sessions) if CLOSE_NAMES[seg.s_close[k]] == "open"][:3]
    assert open_ or not need_open, "the log should end with open sessions"
    for k in open_:
        out.append((log.businesses[int(seg.s_business[k])].as_py(), log.subscribers[int(seg.s_subscriber[k])].as_py()))
    return list(dict.fromkeys(out))


@pytest.fixture(params=[1, 7])
def small_batches(request, monkeypatch):
    """Batches of a few rows too: ids first met in a later batch of a row group or file."""
    if request.param == 7:
        monkeypatch.setattr(pushdown, "BATCH_ROWS", 7)
        monkeypatch.setattr(pushdown, "CSV_BLOCK", 1000)
    return request.param


@pytest.mark.parametrize("kind,seed", [("parquet", 1), ("csv", 2), ("parquet", 3)])
def test_pushdown_equals_the_full_load(tmp_path, kind, seed, small_batches):
    rng = np.random.default_rng(seed)
    table, foreign = _with_foreign_duplicates(_generated(tmp_path, 3000, seed), rng)
    if seed == 3:      # sorted by account: row group statistics rule most row groups out
        table = table.take(pc.sort_indices(table, [("business_id", "ascending")]))
    files = _write(table, tmp_path, kind, parts=3, row_group=250)
    tariff = load_tariff(TARIFF)
    seg = _full(files, tariff)
    checked_dups = 0
    for b, s in _conversations(seg, 12, rng, foreign):
        full = ex.explain(seg, tariff, b, s, "UTC")
        assert pushdown.explain(files, tariff, b, s, "UTC") == full, (b, s)
        checked_dups += sum(e.get("billing") == "duplicate" for e in full["events"])
    assert checked_dups >= 3          # the foreign duplicates were explained


def test_a_foreign_earlier_id_makes_a_duplicate(tmp_path):
    """The first occurrence of the id lies in another conversation, in another file: only the
    message-id scan can tell that this row is a duplicate."""
    rows = {"message_id": ["x1", "m1", "m2", "x1"],
            "timestamp": ["2026-10-01T08:00:00Z", "2026-10-02T09:00:00Z", "2026-10-02T09:01:00Z",
                          "2026-10-02T09:02:00Z"],
            "business_id": ["bank", "shop", "shop", "shop"],
            "subscriber_id": ["+79000000001", "+79000000002", "+79000000002", "+79000000002"],
            "direction": ["outbound", "inbound", "outbound", "outbound"],
            "message_type": ["text"] * 4}
    t = pa.table(rows)
    a, b = str(tmp_path / "a.csv"), str(tmp_path / "b.parquet")
    pacsv.write_csv(t.slice(0, 1), a)
    pq.write_table(t.slice(1), b)
    tariff = load_tariff(TARIFF)
    facts = pushdown.explain([a, b], tariff, "shop", "+79000000002", "UTC")
    assert facts == ex.explain(_full([a, b], tariff), tariff, "shop", "+79000000002", "UTC")
    last = [e for e in facts["events"] if e["kind"] == "message"][-1]
    assert (last["billing"], last["source"]) == ("duplicate", f"{b}:3")
    close = [e for e in facts["events"] if e["kind"] == "session_close"][-1]
    assert close["close_reason"] == "open"


def test_the_latest_instant_comes_from_other_conversations(tmp_path):
    """Open or expired depends on rows of other conversations (the latest loaded instant)."""
    base = {"business_id": ["shop", "shop", "bank"], "subscriber_id": ["+7901", "+7901", "+7902"],
            "direction": ["inbound", "outbound", "outbound"], "message_type": ["text"] * 3,
            "message_id": ["a", "b", "c"]}
    tariff = load_tariff(TARIFF)
    for last, reason in (("2026-10-01T12:00:00Z", "open"), ("2026-10-03T00:00:00Z", "expired")):
        path = str(tmp_path / f"{reason}.parquet")
        pq.write_table(pa.table({**base, "timestamp": ["2026-10-01T09:00:00Z", "2026-10-01T09:01:00Z", last]}), path)
        facts = pushdown.explain(path, tariff, "shop", "+7901", "UTC")
        assert facts == ex.explain(_full([path], tariff), tariff, "shop", "+7901", "UTC")
        assert [e["close_reason"] for e in facts["events"] if e["kind"] == "session_close"] == [reason]


def _bad_elsewhere(tmp_path, kind: str) -> list[str]:
    table = _generated(tmp_path, 2000, 5)
    files = _write(table, tmp_path, kind, parts=2, row_group=300)
    bad = {"message_id": ["zz1"], "timestamp": ["not a time"], "business_id": ["bank"],
           "subscriber_id": ["+70000000000"], "direction": ["outbound"], "message_type": ["text"],
           "status": ["delivered"]}
    path = str(tmp_path / f"bad.{kind}")
    if kind == "parquet":
        pq.write_table(pa.table(bad), path)
    else:
        pacsv.write_csv(pa.table(bad), path)
        with open(path, "a") as fh:                     # and a line that cannot be split into fields
            fh.write('"open quote,2026-10-01T00:00:00Z,bank\n')
    return [files[0], path, files[1]]


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_bad_row_elsewhere_does_not_stop_an_explain(tmp_path, kind):
    files = _bad_elsewhere(tmp_path, kind)
    tariff = load_tariff(TARIFF)
    with pytest.raises(InputError):
        load(files)
    seg = _full(files, tariff, LoadOptions(on_invalid="skip"))
    rng = np.random.default_rng(0)
    for b, s in _conversations(seg, 8, rng, need_open=False):
        full = ex.explain(seg, tariff, b, s, "UTC")
        assert pushdown.explain(files, tariff, b, s, "UTC") == full
        assert pushdown.explain(files, tariff, b, s, "UTC", options=LoadOptions(on_invalid="skip")) == full


def test_a_bad_candidate_is_an_error_as_in_memory(tmp_path):
    rows = {"message_id": ["m1", "m2"], "timestamp": ["2026-10-01T09:00:00Z", "yesterday"],
            "business_id": ["shop", "shop"], "subscriber_id": ["+7901", "+7901"],
            "direction": ["inbound", "outbound"], "message_type": ["text", "text"]}
    path = str(tmp_path / "log.csv")
    pacsv.write_csv(pa.table(rows), path)
    tariff = load_tariff(TARIFF)
    with pytest.raises(InputError, match="row 2"):
        pushdown.explain(path, tariff, "shop", "+7901", "UTC")
    facts = pushdown.explain(path, tariff, "shop", "+7901", "UTC", options=LoadOptions(on_invalid="skip"))
    assert facts == ex.explain(_full([path], tariff, LoadOptions(on_invalid="skip")), tariff, "shop", "+7901", "UTC")
    with pytest.raises(UsageError, match="no message"):
        pushdown.explain(path, tariff, "shop", "+7999", "UTC")


def test_blank_parquet_rows_keep_the_row_numbers(tmp_path):
    """Blank rows (every column empty) are not data rows: the rows after them are numbered as
    in memory, even in row groups the statistics rule out."""
    n = 40
    rows = {"message_id": [f"m{i}" for i in range(n)],
            "timestamp": [f"2026-10-01T09:{i:02d}:00Z" for i in range(n)],
            "business_id": ["bank"] * 20 + ["shop"] * 20, "subscriber_id": ["+7901"] * n,
            "direction": ["inbound", "outbound"] * 20, "message_type": ["text"] * n}
    t = pa.table(rows)
    mask = [i in (3, 4, 25) for i in range(n)]
    blank = {k: pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), v) for k, v in zip(t.column_names, t.columns)}
    path = str(tmp_path / "blank.parquet")
    pq.write_table(pa.table(blank), path, row_group_size=8)
    tariff = load_tariff(TARIFF)
    facts = pushdown.explain(path, tariff, "shop", "+7901", "UTC")
    assert facts == ex.explain(_full([path], tariff), tariff, "shop", "+7901", "UTC")
    assert facts["events"][1]["source"].endswith(":19")      # row 21 of the file, after two blank rows


def test_a_row_group_without_candidates_is_read_for_its_ids_only(tmp_path, monkeypatch):
    """A row group its statistics do not rule out is read first for the columns that tell
    (ids, account, subscriber, type); its other columns only when a row may be kept: here the
    one whose rows have those columns empty (a blank row, and a bad row that is not blank),
    which keep the row numbers of the conversation's rows as in memory."""
    from viber_sessions.pushdown import sources

    n = 40
    rows = {"message_id": [f"m{i}" for i in range(n)],
            "timestamp": [f"2026-10-01T09:{i:02d}:00Z" for i in range(n)],
            "business_id": ["bank", "shop"] * 20,
            "subscriber_id": ["+7901", "+7909"] * 16 + ["+7902"] * 8,
            "direction": ["inbound", "outbound"] * 20, "message_type": ["text"] * n}
    t = pa.table(rows)
    first = ("message_id", "business_id", "subscriber_id", "message_type")
    empty = {10: t.column_names, 12: first}           # row 10 blank; row 12 bad (its timestamp is kept)
    cols = {k: pa.array([None if k in empty.get(i, ()) else v for i, v in enumerate(t.column(k).to_pylist())],
                        pa.string()) for k in t.column_names}
    # instants, whose statistics bound each row group's latest instant
    cols["timestamp"] = pc.assume_timezone(pc.strptime(cols["timestamp"], "%Y-%m-%dT%H:%M:%SZ", "ms"), "UTC")
    path = str(tmp_path / "groups.parquet")
    pq.write_table(pa.table(cols), path, row_group_size=8)
    whole = []
    real = sources.ParquetSource._whole
    monkeypatch.setattr(sources.ParquetSource, "_whole", lambda self, g, f: whole.append(g) or real(self, g, f))
    tariff = load_tariff(TARIFF)
    facts = pushdown.explain(path, tariff, "shop", "+7902", "UTC")
    assert facts == ex.explain(_full([path], tariff, LoadOptions(on_invalid="skip")), tariff, "shop", "+7902", "UTC")
    assert facts["events"][0]["source"].endswith(":33")      # the file's row 34 (after one blank row)
    assert whole == [1]               # the last group is read whole at once; groups 3, 2 and 0 for their ids only


def test_cli_explain_reads_by_pushdown(tmp_path):
    files = _bad_elsewhere(tmp_path, "parquet")
    log = load(files, LoadOptions(on_invalid="skip"))
    b, s = log.businesses[int(log.business[0])].as_py(), log.subscribers[int(log.subscriber[0])].as_py()
    r = CliRunner().invoke(cli, ["explain", *files, "--tariff", TARIFF, "--business", b, "--subscriber", s,
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    tariff = load_tariff(TARIFF)
    assert json.loads(r.stdout) == ex.explain(segment(log, tariff), tariff, b, s, "UTC")


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_an_earlier_id_in_an_earlier_batch_of_the_same_row_group(tmp_path, monkeypatch, kind):
    """Row groups and CSV files are read batch by batch: an id first met in a later batch is
    looked for again in the earlier batches of the same row group or file."""
    monkeypatch.setattr(pushdown, "BATCH_ROWS", 2)
    monkeypatch.setattr(pushdown, "CSV_BLOCK", 100)
    n = 9
    rows = {"message_id": ["s5", "f1", "f2", "f3", "s4", "s5", "s6", "s7", "s8"],
            "timestamp": [f"2026-10-01T09:{i:02d}:00Z" for i in range(n)],
            "business_id": ["bank"] * 4 + ["shop"] * 5, "subscriber_id": ["+7901"] * n,
            "direction": ["inbound", "outbound", "outbound"] * 3, "message_type": ["text"] * n}
    path = str(tmp_path / f"one.{kind}")
    (pq.write_table if kind == "parquet" else pacsv.write_csv)(pa.table(rows), path)
    tariff = load_tariff(TARIFF)
    facts = pushdown.explain(path, tariff, "shop", "+7901", "UTC")
    assert facts == ex.explain(_full([path], tariff), tariff, "shop", "+7901", "UTC")
    assert [e["billing"] for e in facts["events"] if e["kind"] == "message"][1] == "duplicate"


@pytest.mark.parametrize("readers", [1, 3])
def test_the_readers_look_in_turn_whatever_their_number(tmp_path, monkeypatch, readers):
    """Row groups are read by ``READERS`` threads at once and looked at in turn, from the last."""
    monkeypatch.setattr(pushdown, "READERS", readers)
    rng = np.random.default_rng(readers)
    table, foreign = _with_foreign_duplicates(_generated(tmp_path, 2000, readers), rng)
    path = str(tmp_path / "one.parquet")
    pq.write_table(table, path, row_group_size=97)
    tariff = load_tariff(TARIFF)
    seg = _full([path], tariff)
    for b, s in _conversations(seg, 6, rng, foreign, need_open=False):
        assert pushdown.explain(path, tariff, b, s, "UTC") == ex.explain(seg, tariff, b, s, "UTC"), (b, s)


def test_a_damaged_row_group_is_one_error_and_the_readers_end(tmp_path):
    """A row group that cannot be read (its bytes overwritten) stops the reading with the file's
    one-line error: the other readers end, nothing waits for its turn forever."""
    import threading

    path = tmp_path / "damaged.parquet"
    table = _generated(tmp_path, 4000, 5)
    pq.write_table(table, str(path), row_group_size=500, compression="snappy")
    meta = pq.ParquetFile(str(path)).metadata
    chunk = meta.row_group(3).column(0)
    data = bytearray(path.read_bytes())
    start = chunk.data_page_offset
    data[start + 8:start + chunk.total_compressed_size - 8] = b"\xff" * (chunk.total_compressed_size - 16)
    path.write_bytes(bytes(data))
    b, s = table.column("business_id")[0].as_py(), table.column("subscriber_id")[0].as_py()
    before = threading.active_count()
    with pytest.raises(InputError) as err:
        pushdown.explain(str(path), load_tariff(TARIFF), b, s, "UTC")
    assert str(path) in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert threading.active_count() == before


def test_an_explanation_by_pushdown_does_not_start_numba(tmp_path):
    """One conversation's rows are segmented as Python (viber_sessions.segment.jit)."""
    import subprocess
    import sys

    path = str(tmp_path / "log.parquet")
    table = _generated(tmp_path, 3000, 8)
    pq.write_table(table, path, row_group_size=700)
    b, s = table.column("business_id")[0].as_py(), table.column("subscriber_id")[0].as_py()
    code = ("import sys, json; from viber_sessions import pushdown; from viber_sessions.tariff import load_tariff; "
            f"f = pushdown.explain({path!r}, load_tariff({TARIFF!r}), {b!r}, {s!r}, 'UTC'); "
            "print(json.dumps(f)); print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    tariff = load_tariff(TARIFF)
    assert out[-1] == "False"
    assert json.loads(out[0]) == json.loads(json.dumps(ex.explain(_full([path], tariff), tariff, b, s, "UTC")))


def test_closing_with_many_row_groups_pending_ends_every_reader(tmp_path):
    """The readers' shutdown cancels the tasks not started yet while the readers go on taking
    tasks: a task whose predecessor was cancelled must not wait for its turn (with 20,000 row
    groups of one row, every close hung before)."""
    import threading

    n = 20_000
    path = str(tmp_path / "tiny.parquet")
    pq.write_table(pa.table({"message_id": [f"m{i}" for i in range(n)],
                             "timestamp": pa.array([1_791_000_000_000] * n, pa.timestamp("ms", "UTC")),
                             "business_id": ["shop"] * n, "subscriber_id": ["+7901"] * n,
                             "direction": ["inbound"] * n, "message_type": ["text"] * n}), path, row_group_size=1)
    for _ in range(2):
        source = pushdown.source_of(0, path, LoadOptions())
        source.start(["no-such-account"], None)
        closing = threading.Thread(target=source.close, daemon=True)
        closing.start()
        closing.join(30)
        assert not closing.is_alive(), "the readers did not end"


def test_an_interrupt_while_the_readers_start_leaves_no_reader(tmp_path, monkeypatch):
    """A Ctrl-C while the row groups' tasks are being handed to the readers: the call ends and
    no reader thread is left waiting for its turn (the interpreter's exit would wait for it)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from viber_sessions.pushdown import sources

    path = str(tmp_path / "log.parquet")
    table = _generated(tmp_path, 2000, 4)
    pq.write_table(table, path, row_group_size=100)
    calls = []

    class Interrupted(ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(sources, "ThreadPoolExecutor", Interrupted)
    b, s = table.column("business_id")[0].as_py(), table.column("subscriber_id")[0].as_py()
    with pytest.raises(KeyboardInterrupt):
        pushdown.explain(path, load_tariff(TARIFF), b, s, "UTC")
    for t in threading.enumerate():
        if t.name.startswith("viber-sessions-reader"):
            t.join(10)
    assert not [t for t in threading.enumerate() if t.name.startswith("viber-sessions-reader")]


@pytest.mark.parametrize("log_kind", ["missing", "bad_columns", "good"])
def test_explain_reads_the_tariff_while_the_log_opens_and_refuses_a_bad_tariff_first(tmp_path, log_kind):
    """The tariff is read once the log's reading has started, but its error still comes first
    (as in every other command), and no reader is left behind."""
    import threading

    bad_tariff = tmp_path / "bad.toml"
    bad_tariff.write_text("[plan\n")
    log = tmp_path / "log.csv"
    if log_kind == "bad_columns":
        log.write_text("a,b\n1,2\n")
    elif log_kind == "good":
        log.write_text(open("tests/cases/04_unanswered_limit.csv").read())
    args = ["explain", str(log), "--business", "shop", "--subscriber", "+79001234567"]
    res = CliRunner().invoke(cli, args + ["--tariff", str(bad_tariff)])
    assert res.exit_code == 1 and "bad.toml" in res.output and "not valid TOML" in res.output, res.output
    assert not [t for t in threading.enumerate() if t.name.startswith("viber-sessions-reader")]
    if log_kind != "good":                  # with a good tariff, the log's own error
        res = CliRunner().invoke(cli, args + ["--tariff", TARIFF])
        assert res.exit_code == 1 and "log.csv" in res.output, res.output


@pytest.mark.parametrize("bad_tops", [1, 3, 12])
def test_the_latest_instant_skips_invalid_rows_at_the_top_of_a_timestamp_column(tmp_path, bad_tops):
    """A Parquet column of instants: the latest instant is found from the largest stored values
    down without converting the column; rows there that are invalid (a bad direction, a year
    past 2100) do not count, also when there are more of them than that search tries."""
    ms = lambda iso: int(np.datetime64(iso.rstrip("Z"), "ms").astype(np.int64))  # noqa: E731
    rows = [("a", "2026-10-01T09:00:00Z", "shop", "+7901", "inbound"),
            ("b", "2026-10-01T09:01:00Z", "shop", "+7901", "outbound"),
            ("c", "2026-10-01T12:00:00Z", "bank", "+7902", "outbound")]
    for k in range(bad_tops):                # later rows, each invalid
        when = f"2026-10-{3 + k % 20:02d}T00:00:{k // 20:02d}Z" if k % 3 else f"21{50 + k}-01-01T00:00:00Z"
        rows.append((f"x{k}", when, "bank", "+7903", "sideways" if k % 3 else "outbound"))
    table = pa.table({"message_id": [r[0] for r in rows],
                      "timestamp": pa.array([ms(r[1]) for r in rows], pa.timestamp("ms", "UTC")),
                      "business_id": [r[2] for r in rows], "subscriber_id": [r[3] for r in rows],
                      "direction": [r[4] for r in rows], "message_type": ["text"] * len(rows)})
    path = str(tmp_path / "instants.parquet")
    pq.write_table(table, path)
    tariff = load_tariff(TARIFF)
    opts = LoadOptions(on_invalid="skip")
    facts = pushdown.explain(path, tariff, "shop", "+7901", "UTC", options=opts)
    assert facts == ex.explain(_full([path], tariff, opts), tariff, "shop", "+7901", "UTC")
    assert [e["close_reason"] for e in facts["events"] if e["kind"] == "session_close"] == ["open"]


@pytest.mark.parametrize("subscriber_format", ["as_is", "e164"])
def test_conversation_rows_test_the_cheaper_column_first(monkeypatch, subscriber_format):
    """A batch's conversation rows: the subscribers compared first (one comparison a row), the
    businesses only when some row is left; with phone numbers normalised (a parse of each
    distinct value), the businesses first. The rows are the same either way."""
    from viber_sessions.pushdown import scan as scan_mod

    options = LoadOptions(subscriber_format=subscriber_format, default_region="RU")
    table = pa.table({"business_id": ["bank", "shop", "bank", "shop"],
                      "subscriber_id": ["+79001234567", "+79002345678", "+79002345678", "+79001234567"]})
    calls = []
    real_matches, real_subscribers = scan_mod.matches, scan_mod.Scan.subscriber_matches
    monkeypatch.setattr(scan_mod, "matches", lambda arr, values: (
        calls.append("business") if isinstance(arr, pa.ChunkedArray) and arr.equals(table.column("business_id"))
        else None) or real_matches(arr, values))
    monkeypatch.setattr(scan_mod.Scan, "subscriber_matches", lambda self, column: calls.append("subscriber") or
                        real_subscribers(self, column))
    first = "subscriber" if subscriber_format == "as_is" else "business"
    for business, subscriber, rows in (("bank", "+79002345678", [2]), ("taxi", "+79002345678", []),
                                       ("bank", "+79009999999", [])):
        calls.clear()
        got = scan_mod.Scan(options, [business], [subscriber]).conversation_rows(table)
        assert np.flatnonzero(got).tolist() == rows
        ruled_out = subscriber == "+79009999999" if first == "subscriber" else business == "taxi"
        assert calls == ([first] if ruled_out else [first, ({"subscriber", "business"} - {first}).pop()]), \
            (calls, business, subscriber)
