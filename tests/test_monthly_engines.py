"""The monthly run on every engine (README, "Monthly runs"): several periods from one load equal
single-period runs, and November billed from its own log with the state of the October run
equals November billed from the whole history, in memory, out of core (several buckets) and on
Dask; every output file is byte-identical across engines and re-runs."""

from __future__ import annotations

import json
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import viber_sessions as vs
from viber_sessions import chunked, core
from viber_sessions.cli import cli
from viber_sessions.cli import invoice as invoice_cli
from viber_sessions.render import invoice_dict
from viber_sessions.segment import first_occurrences, join_state, state_at, state_part
from viber_sessions.state import read_state, write_state
from viber_sessions.timeutil import Period

from test_dask_engine import client  # noqa: F401  (the one cluster of the test session)
from test_dask_engine import shared_client
from test_state import TARIFF as SMALL
from test_state import frame

HERE = Path(__file__).parent
TARIFF = str(HERE.parent / "sample_data" / "tariff.toml")
CUT = Period.parse("2026-11").start_ns
UTC = timezone.utc
BIG = 64 << 20


def engines():
    """Every engine, out of core twice: 64 MB in several buckets (each bucket a few thousand
    rows), and a tiny limit whose buckets are split again into parts for the audit tables."""
    return {"local": core.Local(), "64MB": core.OutOfCore(BIG), "tiny": core.OutOfCore(40_000),
            "dask": core.Dask(shared_client().scheduler.address)}


@pytest.fixture(autouse=True)
def several_buckets(monkeypatch):
    # 64 MB holds about 2,000 rows a bucket here (the real figure is 400 bytes a row)
    monkeypatch.setattr(chunked, "BYTES_PER_ROW", BIG // 2000)


def at(day: int, hour: float, month: int = 10) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC) + timedelta(hours=hour)


def crafted() -> pd.DataFrame:
    """Conversations across the October/November cut: a session that rolls over after 60
    business messages on both sides of the cut, messages re-delivered after the cut (one in
    another conversation, so another bucket), a session opened just before the cut."""
    rows = []
    for k in range(40):                                  # 80 business messages from 23:00 on Oct 31
        t = at(31, 23) + timedelta(minutes=3 * k)
        rows += [(f"roll-in{k}", t, "shop", "+79990000001", "inbound", "text"),
                 (f"roll-out{k}", t + timedelta(minutes=1), "shop", "+79990000001", "outbound", "text"),
                 (f"roll-out{k}b", t + timedelta(minutes=2), "shop", "+79990000001", "outbound", "text")]
    rows += [("near-1", at(31, 22), "shop", "+79990000002", "inbound", "text"),
             ("near-2", at(31, 22.5), "shop", "+79990000002", "outbound", "text"),
             ("near-2", at(1, 1, 11), "taxi", "+79990000003", "outbound", "text"),     # a copy, elsewhere
             ("near-1", at(1, 2, 11), "shop", "+79990000002", "inbound", "text"),      # a copy, same chat
             ("near-3", at(1, 3, 11), "shop", "+79990000002", "outbound", "text"),
             ("late-1", at(31, 23.9), "taxi", "+79990000004", "inbound", "text"),
             ("late-2", at(1, 0.1, 11), "taxi", "+79990000004", "outbound", "image")]
    return pd.DataFrame(rows, columns=["message_id", "timestamp", "business_id", "subscriber_id", "direction",
                                       "message_type"])


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """whole.parquet (September 20 to December 6), its October part (up to one window into
    November) and its November part (from six hours before the cut)."""
    root = tmp_path_factory.mktemp("monthly")
    gen = root / "gen.parquet"
    r = CliRunner().invoke(cli, ["generate", str(gen), "--rows", "12000", "--seed", "11", "--start", "2026-09-20",
                                 "--days", "77"])
    assert r.exit_code == 0, r.output
    table = pq.read_table(gen)
    extra = pa.Table.from_pandas(crafted(), preserve_index=False)
    extra = extra.append_column("status", pa.nulls(extra.num_rows, pa.string())).cast(table.schema)
    whole = pa.concat_tables([table, extra])
    ns = whole.column("timestamp").cast(pa.int64()).to_numpy() * 1_000_000
    day = 86400 * 10**9
    paths = {"whole": root / "whole.parquet", "oct": root / "oct.parquet", "nov": root / "nov.parquet"}
    pq.write_table(whole, paths["whole"], row_group_size=3000)
    pq.write_table(whole.filter(pa.array(ns < CUT + day)), paths["oct"])
    pq.write_table(whole.filter(pa.array(ns >= CUT - 6 * 3600 * 10**9)), paths["nov"])
    return {k: str(v) for k, v in paths.items()}


def request(inputs, **kw) -> core.Request:
    return core.Request(inputs=[inputs], tariff=TARIFF, **kw)


def test_several_periods_equal_single_periods_on_every_engine(client, logs):  # noqa: F811
    reference = None
    for name, engine in engines().items():
        with core.run(request(logs["whole"], periods=["2026-09..2026-11"]), engine) as many:
            got = [invoice_dict(inv) for inv in many.invoices]
            if name == "64MB":
                assert len(many.parts.counts()) >= 6            # several buckets
        assert [g["period"] for g in got] == ["2026-09", "2026-10", "2026-11"]
        for p, doc in zip(["2026-09", "2026-10", "2026-11"], got):
            with core.run(request(logs["whole"], period=p), engine) as one:
                assert invoice_dict(one.invoice) == doc, (name, p)
        reference = reference or got
        assert got == reference, name
    assert [d["status"] for d in reference] == ["provisional", "final", "final"]


def test_state_carry_equals_the_whole_history_on_every_engine(client, logs, tmp_path):  # noqa: F811
    with core.run(request(logs["whole"], period="2026-11")) as whole:
        expected = invoice_dict(whole.invoice)["accounts"]
    nov_rows = pq.read_table(logs["nov"]).column("timestamp").cast(pa.int64()).to_numpy() * 1_000_000
    files = {}
    for name, engine in engines().items():
        state = tmp_path / f"{name}-state.parquet"
        oct_request = request(logs["oct"], period="2026-10", state_out=True)
        with core.run(oct_request, engine) as october:
            write_state(october.state, str(state), october.tariff, oct_request.load_options())
        files[name, "state"] = state.read_bytes()
        with core.run(request(logs["nov"], period="2026-11", state_in=str(state)), engine) as november:
            inv = november.invoice
            out = _Staged(tmp_path / name)
            core.write_outputs(november, "UTC", out, messages_out="m.parquet", sessions_out="s.parquet")
        assert invoice_dict(inv)["accounts"] == expected, name
        assert inv.rows.before_cut == int((nov_rows < CUT).sum()) > 0 and inv.rows.balanced()
        assert inv.status == "final"
        files[name, "invoice"] = json.dumps(invoice_dict(inv))
        files[name, "m"], files[name, "s"] = out.read("m.parquet"), out.read("s.parquet")
    for key in [k for k in files if k[0] == "local"]:
        for name in ("64MB", "tiny", "dask"):
            assert files[(name,) + key[1:]] == files[key], (name, key)
    carried = read_state(str(tmp_path / "dask-state.parquet"), vs.load_tariff(TARIFF), oct_request.load_options())
    assert {"near-1", "near-2", "late-1"} <= set(carried.message_ids.column("message_id").to_pylist())
    messages = pq.read_table(tmp_path / "local" / "m.parquet")
    billing = messages.column("billing").to_numpy(zero_copy_only=False)
    assert (billing == "before_cut").sum() == int((nov_rows < CUT).sum())
    ids = messages.column("message_id").to_pylist()
    assert {billing[i] for i, m in enumerate(ids) if m in ("near-1", "near-2")} == {"before_cut", "duplicate"}


class _Staged:
    """A folder standing in for ``writing.OutputSet``: ``stage(name)`` is the path written."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir()

    def stage(self, name: str) -> str:
        return str(self.root / name)

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


def test_cli_outputs_are_byte_identical_across_engines_and_reruns(client, logs, tmp_path, monkeypatch):  # noqa: F811
    """The same command line on every engine (the engine chosen behind the options, so the
    provenance's command is the same too): every file the run writes is the same bytes."""
    got = {}
    for name, engine in [*engines().items(), ("local-again", core.Local()), ("dask-again", engines()["dask"])]:
        monkeypatch.setattr(invoice_cli, "choose_engine", lambda *a, _e=engine: _e)
        out = tmp_path / name
        (out / "dir").mkdir(parents=True)
        monkeypatch.chdir(out)                       # the same relative paths on every engine
        r = CliRunner().invoke(cli, ["invoice", logs["oct"], "--tariff", TARIFF, "--period", "2026-09..2026-10", "-q",
                                     "--state-out", "oct-state.parquet", "--output", "oct.json"])
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(cli, ["invoice", logs["nov"], "--tariff", TARIFF, "--period", "2026-11", "-q",
                                     "--state-in", "oct-state.parquet", "--output", "nov.json", "--output-dir", "dir",
                                     "--messages-out", "m.parquet", "--state-out", "nov-state.parquet"])
        assert r.exit_code == 0, r.output
        got[name] = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    accounts = [a["business_id"] for a in json.loads(got["local"]["nov.json"])["accounts"]]
    assert sorted(got["local"]) == sorted(["m.parquet", "nov-state.parquet", "nov.json", "oct-state.parquet",
                                           "oct.json", "dir/2026-11/invoice.json",
                                           *(f"dir/2026-11/{a}.json" for a in accounts)])
    for name in got:
        assert got[name].keys() == got["local"].keys(), name
        for path in got["local"]:
            assert got[name][path] == got["local"][path], (name, path)
    doc = json.loads(got["local"]["oct.json"])
    assert [i["period"] for i in doc["invoices"]] == ["2026-09", "2026-10"]
    assert json.loads(got["local"]["nov.json"])["generated_by"]["state_in"]["path"] == "oct-state.parquet"


def test_cli_engines_show_before_cut_rows_in_the_same_place(client, logs, tmp_path):  # noqa: F811
    """With the real engine options: --messages-out of a run from a carried-in state."""
    state = tmp_path / "state.parquet"
    base = ["invoice", logs["nov"], "--tariff", TARIFF, "--period", "2026-11", "--format", "json", "-q"]
    r = CliRunner().invoke(cli, ["invoice", logs["oct"], "--tariff", TARIFF, "--period", "2026-10", "-q",
                                 "--format", "json", "--state-out", str(state)])
    assert r.exit_code == 0, r.output
    out = {}
    for name, extra in (("local", []), ("limit", ["--memory-limit", "40KB"]),
                        ("dask", ["--engine", "dask", "--scheduler", shared_client().scheduler.address])):
        path = tmp_path / f"{name}.parquet"
        r = CliRunner().invoke(cli, [*base, "--state-in", str(state), "--messages-out", str(path), *extra])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        out[name] = (path.read_bytes(), doc["rows"], doc["accounts"])
    assert out["limit"] == out["local"] and out["dask"] == out["local"]
    assert out["local"][1]["before_cut"] > 0


# ---------------------------------------------------------------------------------------------
# random logs: out of core in many buckets equals in memory, and carrying equals the whole history

row = st.tuples(st.integers(-400, 400), st.sampled_from(["a", "b", "c"]), st.sampled_from(["+1", "+2", "007", "+4"]),
                st.booleans(), st.sampled_from(["text", "text", "image", "video"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(st.lists(row, min_size=1, max_size=60), st.lists(st.tuples(st.integers(0, 59), st.integers(0, 110)),
                                                         max_size=8))
def test_random_logs_carry_out_of_core_as_in_memory(tmp_path_factory, rows, copies):
    rows = [(*r, f"m{k}") for k, r in enumerate(rows)]
    # re-delivered copies within one window (2 h) of the first: the scope in which carrying
    # equals the whole history (README, "Monthly runs"; a copy 121 minutes after a message
    # 121 minutes before the cut is a duplicate in the whole history only)
    rows += [(rows[k % len(rows)][0] + d, *rows[k % len(rows)][1:]) for k, d in copies]
    df = frame(rows)
    root = tmp_path_factory.mktemp("random")
    (root / "t.toml").write_text(SMALL)
    minute = (df.timestamp.astype("int64") - CUT) // (60 * 10**9)
    paths = {}
    for name, part in (("whole", df), ("oct", df[minute < 120]), ("nov", df[minute >= -30])):
        if len(part):
            paths[name] = str(root / f"{name}.csv")
            part.to_csv(paths[name], index=False)
    if len(paths) < 3:
        return
    tariff = str(root / "t.toml")
    whole = core.run(core.Request(inputs=[paths["whole"]], tariff=tariff, period="2026-11")).invoice
    states, novs = {}, {}
    for name, engine in (("local", core.Local()), ("parts", core.OutOfCore(2000, str(root)))):
        with core.run(core.Request(inputs=[paths["oct"]], tariff=tariff, period="2026-10", state_out=True),
                      engine) as october:
            states[name] = october.state
        with core.run(core.Request(inputs=[paths["nov"]], tariff=tariff, period="2026-11",
                                   state_in=states[name]), engine) as november:
            novs[name] = (invoice_dict(november.invoice), pa.concat_tables(november.messages()))
    assert novs["parts"][0] == novs["local"][0]
    assert novs["parts"][1].equals(novs["local"][1])
    assert novs["local"][0]["accounts"] == invoice_dict(whole)["accounts"]
    t = vs.parse_tariff(tomllib.loads(SMALL))
    for name in states:
        write_state(states[name], str(root / f"{name}.parquet"), t)
    assert (root / "parts.parquet").read_bytes() == (root / "local.parquet").read_bytes()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=60), st.lists(st.tuples(st.integers(0, 59), st.integers(0, 150)),
                                                         max_size=8), st.integers(0, 180))
@example([(-50, "a", "+1", True, "text"), (-40, "a", "+1", False, "text"), (10, "a", "+1", True, "text"),
          (-20, "a", "+2", True, "text"), (-10, "a", "+2", False, "text")], [], 30)   # +1 is touched, +2 passes
def test_the_state_of_parts_joins_to_the_state_of_the_whole(rows, copies, later):
    """What the engines that bill in parts do for --state-out: each part of whole conversations
    gives its part of the state (from the carried-in state), and the parts join to the state of
    the whole log, also at a cut within one window of the carried-in one (carried
    conversations with no row here pass through)."""
    rows = [(*r, f"m{k}") for k, r in enumerate(rows)]
    rows += [(rows[k % len(rows)][0] + d, *rows[k % len(rows)][1:]) for k, d in copies]
    df = frame(rows)
    t = vs.parse_tariff(tomllib.loads(SMALL))
    minute = ((df.timestamp.astype("int64") - CUT) // (60 * 10**9)).to_numpy()
    if not (minute < 120).any() or not (minute >= -30).any():
        return
    carry = state_at(vs.segment(df[minute < 120], t), CUT)
    nov = df[minute >= -30].reset_index(drop=True)
    cut = CUT + later * 60 * 10**9
    whole = state_at(vs.segment(nov, t, carry=carry), cut)
    repeated = ~first_occurrences(pa.array(nov.message_id.tolist(), pa.string()))
    end = int(nov.timestamp.astype("int64").max())
    side = nov.subscriber_id.isin(["+1", "007"]).to_numpy()
    parts = [state_part(vs.segment(nov[m], t, duplicates=repeated[m], data_end=end, carry=carry), cut)
             for m in (side, ~side) if m.any()]
    joined = join_state(parts, cut, carry)
    assert joined.conversations.equals(whole.conversations)
    assert joined.message_ids.equals(whole.message_ids)
    assert (joined.cut_ns, joined.data_from) == (whole.cut_ns, whole.data_from)
