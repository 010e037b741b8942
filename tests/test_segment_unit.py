"""Unit tests of the segmentation building blocks."""

import importlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from viber_sessions.segment import conversation_order, first_occurrences, run_kernel
from viber_sessions.tariff import Limits

seg_mod = importlib.import_module("viber_sessions.segment")     # the package's ``segment`` is the function
order_mod = importlib.import_module("viber_sessions.segment.order")
dedup_mod = importlib.import_module("viber_sessions.segment.dedup")
parallel_mod = importlib.import_module("viber_sessions.segment.parallel")


def reference_order(business, subscriber, ts, inbound):
    rows = sorted(range(len(ts)), key=lambda i: (business[i], subscriber[i], ts[i], not inbound[i], i))
    return np.array(rows)


@pytest.mark.parametrize("shape", ["seconds", "nanoseconds", "too_wide"])
def test_conversation_order_single_key_and_fallback(shape):
    rng = np.random.default_rng(7)
    n = 2000
    business = rng.integers(0, 3, n).astype(np.int32)
    subscriber = rng.integers(0, 50, n).astype(np.int32)
    ts = (1_790_000_000 + rng.integers(0, 40, n)).astype(np.int64) * 10**9
    if shape == "nanoseconds":
        ts += rng.integers(0, 3, n)
    if shape == "too_wide":        # a span so wide that one key cannot hold it: lexsort
        ts = rng.integers(-(2**62), 2**62, n).astype(np.int64)
        ts[:100] = ts[100]         # ties
    inbound = rng.random(n) < 0.5
    got = conversation_order(business, subscriber, 50, ts, inbound)
    want = reference_order(business, subscriber, ts, inbound)
    assert np.array_equal(got, want)


def test_first_occurrences_exact_on_collisions_and_slices():
    values = [f"id{i % 1000}" for i in range(5000)] + ["", "", "é", "é", "+7900", "007"]
    arr = pa.array(values)
    first = first_occurrences(arr)
    seen, want = set(), []
    for v in values:
        want.append(v not in seen)
        seen.add(v)
    assert first.tolist() == want
    assert first_occurrences(arr.slice(1000)).tolist() == [True] * 1000 + [False] * 3000 + [True, False, True, False,
                                                                                          True, True]


def test_kernel_on_ordered_arrays_counts_sessions():
    n = 1000
    order = np.arange(n)
    business = np.zeros(n, np.int32)
    subscriber = np.zeros(n, np.int32)
    ts = np.arange(n, dtype=np.int64) * 10**9
    inbound = (np.arange(n) % 100) == 0          # a subscriber message, then 99 business messages
    mtype = np.zeros(n, np.int32)
    billing = np.zeros(n, np.int8)
    sess, reason, s_row, *_ = run_kernel(order, business, subscriber, ts, inbound, mtype, billing,
                                         np.array([True, False]), np.array([True, False]), Limits())
    # each subscriber message opens a session; the 11th unanswered message is out of session
    assert len(s_row) == 10
    assert (reason == 1).sum() == 10 * 89


def test_segment_accepts_a_pandas_frame_and_returns_both_tables():
    import pandas as pd

    import viber_sessions as vs

    frame = pd.DataFrame({"message_id": ["a", "b", "c"], "timestamp": ["2026-10-05T09:00:00Z"] * 3,
                          "business_id": ["shop"] * 3, "subscriber_id": ["007"] * 3,
                          "direction": ["in", "out", "out"], "message_type": ["text", "text", "video"]})
    seg = vs.segment(frame, vs.Limits())
    assert seg.assignment().column("billing").to_pylist() == ["session", "session", "out_of_session"]
    assert seg.assignment().column("reason").to_pylist() == ["", "", "type_not_allowed"]
    sessions = seg.sessions("Europe/Moscow").to_pylist()
    assert [(s["session_id"], s["billable"], s["billed_period"]) for s in sessions] == \
        [("shop/007/20261005T090000Z", True, "2026-10")]


def test_session_ids_never_collide_through_slashes():
    import pandas as pd

    from viber_sessions.segment import segment

    rows = []
    for k, (b, s) in enumerate([("a/b", "c"), ("a", "b/c"), ("a%2Fb", "c"), ("shop", "+79001234567")]):
        rows += [(f"i{k}", "2026-10-01T10:00:00Z", b, s, "inbound", "text"),
                 (f"o{k}", "2026-10-01T10:01:00Z", b, s, "outbound", "text")]
    df = pd.DataFrame(rows, columns=["message_id", "timestamp", "business_id", "subscriber_id", "direction",
                                     "message_type"])
    ids = segment(df).session_ids().to_pylist()
    assert sorted(ids) == ["a%252Fb/c/20261001T100000Z", "a%2Fb/c/20261001T100000Z", "a/b%2Fc/20261001T100000Z",
                           "shop/+79001234567/20261001T100000Z"]


# --- the radix order and the partitioned duplicate detection (one thread and several) ---------


def reference_first(values):
    seen, want = set(), []
    for v in values:
        want.append(v not in seen)
        seen.add(v)
    return want


def order_of(result, n):
    """The order from the radix kernels' (words, bucket starts) (no words: the rows are in order
    already)."""
    words = result[0]
    return words.view(np.int64) if len(words) else np.arange(n)


def random_log(rng, n, shape):
    business = rng.integers(0, 3, n).astype(np.int32)
    subscriber = rng.integers(0, 40, n).astype(np.int32)
    n_sub = 40
    ts = (1_790_000_000 + rng.integers(0, 30, n)).astype(np.int64) * 10**9      # seconds, many ties
    if shape == "milliseconds":
        ts += rng.integers(0, 4, n) * 10**6
    elif shape == "nanoseconds":
        ts += rng.integers(0, 3, n)
    elif shape == "one_conversation":
        business[:] = 1
        subscriber[:] = 7
    elif shape == "wide":              # key and row number need the top bits as buckets: many buckets
        ts = rng.integers(0, 2**30, n).astype(np.int64) * 1007
        ts[: n // 10] = ts[-1]
        n_sub = 2**18
        subscriber = rng.integers(0, n_sub, n).astype(np.int32)
        subscriber[::3] = 5
    elif shape == "negative":          # before the epoch, one business only
        ts = -ts
        business[:] = 0
    inbound = rng.random(n) < 0.4
    return business, subscriber, n_sub, ts, inbound


SHAPES = ["seconds", "milliseconds", "nanoseconds", "one_conversation", "wide", "negative"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("part_rows_log2", [12, 3])
def test_radix_order_equals_the_reference(shape, part_rows_log2, monkeypatch):
    monkeypatch.setattr(parallel_mod, "_PART_ROWS_LOG2", part_rows_log2)   # 3: hundreds of small buckets
    rng = np.random.default_rng(11)
    for n in (1, 2, 33, 700, 3000):
        business, subscriber, n_sub, ts, inbound = random_log(rng, n, shape)
        want = reference_order(business, subscriber, ts, inbound)
        plan = order_mod._radix_plan(business, subscriber, n_sub, ts, inbound)
        assert plan is not None
        if shape == "wide" and n == 3000 and part_rows_log2 == 12:
            assert plan[3] > parallel_mod.part_bits(n)      # buckets chosen by the width, not the rows
        nsub = np.int64(n_sub)
        assert np.array_equal(order_of(order_mod._radix_order(business, subscriber, nsub, ts, inbound, *plan, False), n), want)
        with ThreadPoolExecutor(2) as pool:
            for tasks in (1, 2, 3, 8):
                got = order_mod._radix_order_threaded(pool, tasks, business, subscriber, nsub, ts, inbound, *plan,
                                                      False)
                assert np.array_equal(order_of(got, n), want), (n, tasks)
        assert np.array_equal(conversation_order(business, subscriber, n_sub, ts, inbound), want)


def test_radix_order_through_the_threads_and_its_fallbacks(monkeypatch):
    rng = np.random.default_rng(5)
    business, subscriber, n_sub, ts, inbound = random_log(rng, 5000, "milliseconds")
    want = reference_order(business, subscriber, ts, inbound)
    monkeypatch.setattr(parallel_mod, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(parallel_mod, "threads", lambda: 2)
    assert np.array_equal(conversation_order(business, subscriber, n_sub, ts, inbound), want)
    # key and row number wider than one word with the widest buckets allowed: the argsort of one key
    business, subscriber, n_sub, ts, inbound = random_log(rng, 5000, "wide")
    monkeypatch.setattr(order_mod, "_MAX_TOP_BITS", 0)
    assert order_mod._radix_plan(business, subscriber, n_sub, ts, inbound) is None
    assert len(order_mod._sort_key(business, subscriber, np.int64(n_sub), ts, inbound))
    assert np.array_equal(conversation_order(business, subscriber, n_sub, ts, inbound),
                          reference_order(business, subscriber, ts, inbound))
    # a key wider than 62 bits: no radix plan, no single key (the lexsort; see above)
    ts = rng.integers(-(2**62), 2**62, 5000).astype(np.int64)
    assert order_mod._radix_plan(business, subscriber, n_sub, ts, inbound) is None
    assert conversation_order(business[:0], subscriber[:0], n_sub, ts[:0], inbound[:0]).tolist() == []


def test_radix_order_of_rows_already_in_order_or_in_sorted_runs(monkeypatch):
    monkeypatch.setattr(parallel_mod, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(parallel_mod, "threads", lambda: 2)
    rng = np.random.default_rng(4)
    business, subscriber, n_sub, ts, inbound = random_log(rng, 4000, "milliseconds")
    order = reference_order(business, subscriber, ts, inbound)
    columns = [a[order] for a in (business, subscriber, ts, inbound)]
    b, s, t, i = columns
    assert np.array_equal(conversation_order(b, s, n_sub, t, i), np.arange(4000))      # already in order
    # two sorted halves, one after the other: each chunk of the threaded pass is in order, the whole is not
    half = [np.concatenate([a[1::2], a[::2]]) for a in columns]
    want = reference_order(*half)
    assert np.array_equal(conversation_order(half[0], half[1], n_sub, half[2], half[3]), want)
    with ThreadPoolExecutor(2) as pool:
        plan = order_mod._radix_plan(half[0], half[1], n_sub, half[2], half[3])
        for tasks in (1, 2, 3, 8):
            got = order_mod._radix_order_threaded(pool, tasks, half[0], half[1], np.int64(n_sub), half[2], half[3], *plan,
                                                  False)
            assert np.array_equal(order_of(got, 4000), want)
    # in order but for one pair of rows
    swapped = [a.copy() for a in columns]
    for a in swapped:
        a[[1000, 3000]] = a[[3000, 1000]]
    assert np.array_equal(conversation_order(swapped[0], swapped[1], n_sub, swapped[2], swapped[3]),
                          reference_order(*swapped))
    monkeypatch.setattr(parallel_mod, "PARALLEL_MIN_ROWS", 10**12)
    assert np.array_equal(conversation_order(b, s, n_sub, t, i), np.arange(4000))
    assert np.array_equal(conversation_order(half[0], half[1], n_sub, half[2], half[3]), want)


@pytest.mark.parametrize("low, high", [(-(2**62), 2**62 - 1), (-(2**63), 2**63 - 1), (-(2**61), 2**61)])
def test_order_on_time_spans_near_the_int64_limits(low, high):
    # whole seconds over centuries: differences that wrap in int64 must not pass for whole units
    rng = np.random.default_rng(2)
    n = 3000
    business = rng.integers(0, 2, n).astype(np.int32)
    subscriber = rng.integers(0, 5, n).astype(np.int32)
    inbound = rng.random(n) < 0.5
    ts = (rng.integers(low // 10**9, high // 10**9, n) * 10**9).astype(np.int64)
    ts[:2] = low, high
    ts[2:40] = ts[40]
    got = conversation_order(business, subscriber, 5, ts, inbound)
    assert np.array_equal(got, reference_order(business, subscriber, ts, inbound))


def test_first_occurrences_kernels_agree_on_partitions_and_threads():
    rng = np.random.default_rng(3)
    values = [f"m{int(v)}" for v in rng.integers(0, 1500, 4000)] + ["", "", "é", "e\u0301", "é", "a" * 40,
                                                                    "a" * 39, "a" * 40, "12345678", "1234567"]
    arr = pa.array(values).slice(3)
    want = reference_first(values[3:])
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)
    none = np.zeros(0, np.int64)
    with ThreadPoolExecutor(2) as pool:
        for bits in (0, 1, 5, 9):
            assert dedup_mod._first_occurrences(offsets, data, bits, none).tolist() == want
            for tasks in (1, 2, 3, 8):
                got = dedup_mod._first_occurrences_threaded(pool, tasks, offsets, data, bits, none)
                assert got.tolist() == want, (bits, tasks)


def test_first_occurrences_confirms_equal_hashes_byte_by_byte():
    # every row given the same 32-bit tag: only the byte comparison tells them apart
    values = ["ab", "ba", "ab", "", "abc", "", "ba", "a"]
    arr = pa.array(values)
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[:len(values) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)
    rows = (np.uint64(0xDEADBEEF) << np.uint64(32)) | np.arange(len(values), dtype=np.uint64)
    first = np.ones(len(values), dtype=bool)
    rep = np.full(len(values), -1, np.int64)
    dedup_mod._dedup_parts(offsets, data, rows, np.array([0, len(values)], dtype=np.int64), 0, 1, first, rep)
    assert first.tolist() == reference_first(values)
    assert rep.tolist() == [values.index(v) for v in values]


@pytest.mark.parametrize("n, distinct, seed", [(0, 1, 0), (1, 1, 1), (7, 3, 2), (5000, 300, 3), (200_000, 150_000, 4)])
def test_encode_is_arrows_dictionary_encode(n, distinct, seed):
    """The hash's encoding: Arrow's dictionary (order of first appearance) and indices, on
    slices, empty strings, strings that differ in their last byte or in length only."""
    rng = np.random.default_rng(seed)
    pool = ["", "é", "e\u0301", "a" * 40, "a" * 39, "12345678", "1234567", "123456789"] + \
        [f"+7900{v:07d}" for v in range(distinct)]
    values = [pool[int(v)] for v in rng.integers(0, len(pool), n + 3)]
    arr = pa.array(values, pa.string()).slice(3)
    got = dedup_mod.encode(arr)
    assert got.equals(pc.dictionary_encode(arr))
    assert got.indices.type == pa.int32()


def test_threaded_kernels_from_many_threads_at_once_and_on_one_core(monkeypatch):
    values = [f"x{i % 777}" for i in range(3000)]
    want = reference_first(values)
    rng = np.random.default_rng(1)
    business, subscriber, n_sub, ts, inbound = random_log(rng, 3000, "milliseconds")
    order = reference_order(business, subscriber, ts, inbound)
    monkeypatch.setattr(parallel_mod, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(parallel_mod, "threads", lambda: 2)
    results = []

    def work():
        results.append(first_occurrences(pa.array(values)).tolist() == want and
                       np.array_equal(conversation_order(business, subscriber, n_sub, ts, inbound), order))

    callers = [threading.Thread(target=work) for _ in range(6)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert results == [True] * 6
    # one core (or NUMBA_NUM_THREADS=1): the serial kernels, no pool
    monkeypatch.setattr(parallel_mod, "threads", lambda: 1)
    monkeypatch.setattr(dedup_mod, "_first_occurrences_threaded", None)
    monkeypatch.setattr(order_mod, "_radix_order_threaded", None)
    assert first_occurrences(pa.array(values)).tolist() == want
    assert np.array_equal(conversation_order(business, subscriber, n_sub, ts, inbound), order)
    assert first_occurrences(pa.array([], pa.string())).tolist() == []


def test_threads_follow_numba_setting_and_affinity(monkeypatch):
    import numba

    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    assert parallel_mod.threads() == 1
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 64)
    assert 1 <= parallel_mod.threads() <= 64


def test_segment_is_the_same_on_one_thread_and_several(monkeypatch):
    import pandas as pd

    rng = np.random.default_rng(9)
    n = 20000
    frame = pd.DataFrame({
        "message_id": [f"m{int(v)}" for v in rng.integers(0, 15000, n)],
        "timestamp": pd.to_datetime(1_790_000_000 + rng.integers(0, 86400 * 3, n), unit="s", utc=True),
        "business_id": rng.choice(["shop", "bank", "007"], n),
        "subscriber_id": [f"+7900{int(v):07d}" for v in rng.integers(0, 400, n)],
        "direction": rng.choice(["inbound", "outbound"], n),
        "message_type": rng.choice(["text", "image", "video"], n),
    })
    from viber_sessions.segment import segment

    monkeypatch.setattr(parallel_mod, "PARALLEL_MIN_ROWS", 10**12)
    one = segment(frame)
    monkeypatch.setattr(parallel_mod, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(parallel_mod, "threads", lambda: 2)
    several = segment(frame)
    for name in ("billing", "reason", "session", "s_first", "s_close", "s_inbound", "s_outbound"):
        assert np.array_equal(getattr(one, name), getattr(several, name)), name


kernel_mod = importlib.import_module("viber_sessions.segment.kernel")
rows_mod = importlib.import_module("viber_sessions.segment.rows")


def _random_pass_inputs(n, conversations, seed):
    rng = np.random.default_rng(seed)
    business = rng.integers(0, 3, n).astype(np.int32)
    subscriber = rng.integers(0, conversations, n).astype(np.int32)
    ts = (1_790_000_000 + np.sort(rng.integers(0, 400_000, n))).astype(np.int64) * 10**9
    inbound = rng.random(n) < 0.2
    mtype = rng.integers(0, 3, n).astype(np.int32)
    billing = np.where(rng.random(n) < 0.05, 2, 0).astype(np.int8)
    order = conversation_order(business, subscriber, conversations, ts, inbound)
    plan_of = np.array([0, 1, 0], np.int32)
    limits = (Limits(), Limits(max_business_messages=3, max_unanswered=2, after_message_limit="close"))
    tables = np.array([[True, False, True, False], [True, True, False, False]]), np.array([[True, True, False, False]] * 2)
    codes = np.unique(business.astype(np.int64) * conversations + subscriber)[::7]
    carry = np.zeros((len(codes), len(kernel_mod.CARRY_COLUMNS)), np.int64)
    carry[:, 0] = codes
    carry[:, 1] = ts[0] - 10**9
    carry[:, 3] = 1
    carry[:, 6] = 1
    return (order, business, subscriber, ts, inbound, mtype, billing, plan_of, limits, *tables, carry, conversations)


def _two_halves_spied(monkeypatch) -> list:
    """Make run_pass cut even a small order in two halves on two threads; the cuts it made."""
    cuts = []
    real = kernel_mod._two_halves
    monkeypatch.setattr(kernel_mod, "TWO_HALVES_MIN_ROWS", 0)
    monkeypatch.setattr(kernel_mod, "threads", lambda: 2)
    monkeypatch.setattr(kernel_mod, "_two_halves", lambda args, cut, *rest: cuts.append(cut) or real(args, cut, *rest))
    return cuts


@pytest.mark.parametrize("halves", [False, True])
def test_kernel_pass_equals_a_plain_loop_with_plans_carry_and_end_states(halves, monkeypatch):
    """Carried-in sessions, two plans (one closing at the message limit) and skipped rows give
    the sessions, per-row results and end states of a plain Python loop over the rows, in one
    pass or in two halves on two threads."""
    cuts = _two_halves_spied(monkeypatch) if halves else None
    order, business, subscriber, ts, inbound, mtype, billing, plan_of, limits, can_open, allowed, carry, nsub = \
        _random_pass_inputs(12_000, 40, seed=11)
    out = kernel_mod.run_pass(order, business, subscriber, ts, inbound, mtype, billing, plan_of, limits, can_open,
                              allowed, carry, nsub, want_end=True)
    want = _plain_pass(order, business, subscriber, ts, inbound, mtype, billing, plan_of, limits, can_open, allowed,
                       carry, nsub)
    assert out.session.tolist() == want["session"] and out.reason.tolist() == want["reason"]
    got = list(zip(out.s_row.tolist(), out.s_start.tolist(), out.s_origin.tolist(), out.s_close.tolist(),
                   out.s_in.tolist(), out.s_out.tolist(), out.s_carried.tolist()))
    assert got == want["sessions"]
    assert out.ends.tolist() == want["ends"]
    assert out.s_carried.any() and (out.s_close == 2).any() and (out.s_close == 3).any()
    if halves:
        assert len(cuts) == 1 and 0 < cuts[0] < len(order)


def _plain_pass(order, business, subscriber, ts, inbound, mtype, billing, plan_of, limits, can_open, allowed, carry,
                nsub):
    """The state machine as a plain Python loop (RULES.md sections 2-5 as the kernel states them)."""
    n = len(ts)
    session, reason, sessions, ends = [-1] * n, [0] * n, [], []
    carried = {int(r[0]): r for r in carry.tolist()}
    conv = None
    state = {}
    for i in order.tolist():
        if billing[i] >= 2:
            continue
        b, s, t = int(business[i]), int(subscriber[i]), int(ts[i])
        p = int(plan_of[b])
        lim = limits[p]
        if (b, s) != conv:
            if conv is not None:
                ends.append([conv[0], conv[1], state["cur"] if state["open"] else -1, state["bm"], state["un"]])
            conv = (b, s)
            state = {"open": False, "cur": state.get("cur", -1), "bm": 0, "un": 0, "start": 0}
            c = carried.get(b * nsub + s)
            if c is not None:
                sessions.append([i, c[1], c[2], 0, c[5], c[6], True])
                state.update(open=True, cur=len(sessions) - 1, start=c[1], bm=c[3], un=c[4])
        if state["open"] and t - state["start"] >= lim.window_ns:
            state["open"] = False
        if not state["open"]:
            if inbound[i] and can_open[p, mtype[i]]:
                sessions.append([i, t, 0, 0, 0, 0, False])
                state.update(open=True, cur=len(sessions) - 1, start=t, bm=0, un=0)
            else:
                reason[i] = 1
                continue
        cur = state["cur"]
        if inbound[i]:
            state["un"] = 0
            session[i] = cur
            sessions[cur][4] += 1
        elif not allowed[p, mtype[i]]:
            reason[i] = 2
        else:
            if state["bm"] == lim.max_business_messages:
                sessions[cur][3] = 2
                sessions.append([i, t, 1, 0, 0, 0, False])
                cur = len(sessions) - 1
                state.update(cur=cur, start=t, bm=0, un=0)
            state["bm"] += 1
            state["un"] += 1
            session[i] = cur
            sessions[cur][5] += 1
            if state["un"] == lim.max_unanswered:
                sessions[cur][3] = 3
                state["open"] = False
            elif lim.after_message_limit == "close" and state["bm"] == lim.max_business_messages:
                sessions[cur][3] = 2
                state["open"] = False
    if conv is not None:
        ends.append([conv[0], conv[1], state["cur"] if state["open"] else -1, state["bm"], state["un"]])
    return {"session": session, "reason": reason, "sessions": [tuple(x) for x in sessions], "ends": ends}


def test_kernel_pass_writes_the_given_reasons_of_taking_part_rows_only():
    args = _random_pass_inputs(5_000, 50, seed=3)
    billing = args[6]
    given = np.full(len(billing), 9, np.int8)
    out = kernel_mod.run_pass(*args, reason=given)
    assert out.reason is given
    assert (given[billing >= 2] == 9).all() and (given[billing < 2] != 9).all()
    assert (out.session[billing >= 2] == -1).all()


def test_kernel_pass_reads_the_type_column_when_the_word_cannot_hold_it():
    """A type code -1 (the tables' last column) leaves the type out of the packed word: the pass
    reads the type column instead and still equals the plain loop; with the codes >= 0 the word
    holds the type."""
    args = list(_random_pass_inputs(6_000, 30, seed=5))
    order, business, subscriber, ts, inbound, mtype, billing, plan_of, limits, can_open, allowed, carry, nsub = args
    assert rows_mod.pack_layout(business, subscriber, mtype, can_open.shape[1] - 1) == (2, 5)
    mtype = np.where(np.arange(len(mtype)) % 13 == 0, -1, mtype).astype(np.int32)
    assert rows_mod.pack_layout(business, subscriber, mtype, can_open.shape[1] - 1) == (0, 5)
    out = kernel_mod.run_pass(order, business, subscriber, ts, inbound, mtype, billing, plan_of, limits, can_open,
                              allowed, carry, nsub, want_end=True)
    want = _plain_pass(order, business, subscriber, ts, inbound, mtype, billing, plan_of, limits, can_open, allowed,
                       carry, nsub)
    assert out.session.tolist() == want["session"] and out.reason.tolist() == want["reason"]
    assert out.ends.tolist() == want["ends"]
    assert list(zip(out.s_row.tolist(), out.s_start.tolist(), out.s_in.tolist(), out.s_out.tolist())) == \
        [(s[0], s[1], s[4], s[5]) for s in want["sessions"]]


def test_pack_layout_bits_and_the_widest_codes():
    codes = np.array([0, 5], np.int32)
    assert rows_mod.pack_layout(codes, np.array([0, 1023], np.int32), codes, 6) == (3, 10)
    assert rows_mod.pack_layout(codes, codes, np.array([0, 6], np.int32), 6) == (0, 3)    # a code past the table
    assert rows_mod.pack_layout(codes[:0], codes[:0], codes[:0], 6) == (0, 1)
    widest = np.array([2**31 - 1], np.int32)
    assert rows_mod.pack_layout(np.array([2**29], np.int32), widest, widest[:1] * 0, 8) == (0, 31)
    with pytest.raises(ValueError, match="bits of business and subscriber codes"):
        rows_mod.pack_layout(widest, widest, widest * 0, 1)


def _decoded(keys, n_sub):
    """(row, conversation code, timestamp, inbound) at each position of an OrderKeys."""
    bucket = np.searchsorted(keys.starts, np.arange(len(keys.words)), side="right") - 1
    key = (bucket.astype(np.int64) << keys.low_bits) | ((keys.words >> keys.row_bits) & ((1 << keys.low_bits) - 1))
    lo, unit, span, c_lo = keys.frame.tolist()
    return keys.rows(), key // span + c_lo, lo + (key % span >> 1) * unit, key % 2 == 0


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("threaded", [False, True])
def test_conversation_keys_give_the_order_and_each_rows_columns(shape, threaded, monkeypatch):
    """The order's kept keys give back the order and each row's conversation, exact timestamp
    and direction (what the kernel reads from them instead of the columns)."""
    monkeypatch.setattr(parallel_mod, "_PART_ROWS_LOG2", 5)
    if threaded:
        monkeypatch.setattr(parallel_mod, "PARALLEL_MIN_ROWS", 0)
        monkeypatch.setattr(parallel_mod, "threads", lambda: 2)
    business, subscriber, n_sub, ts, inbound = random_log(np.random.default_rng(3), 3000, shape)
    keys = order_mod.conversation_keys(business, subscriber, n_sub, ts, inbound)
    want = reference_order(business, subscriber, ts, inbound)
    if keys is None:                      # one conversation in order already
        assert np.array_equal(want, np.arange(3000))
        return
    rows, conv, t, is_in = _decoded(keys, n_sub)
    assert np.array_equal(rows, want)
    assert np.array_equal(conv, business[rows].astype(np.int64) * n_sub + subscriber[rows])
    assert np.array_equal(t, ts[rows]) and np.array_equal(is_in, inbound[rows])


@pytest.mark.parametrize("halves", [False, True])
def test_kernel_pass_over_order_keys_equals_the_plain_loop(halves, monkeypatch):
    """The kernel reading rows through the order's keys gives what it gives through the rows
    (in one pass or in two halves on two threads)."""
    cuts = _two_halves_spied(monkeypatch) if halves else None
    args = list(_random_pass_inputs(8_000, 60, seed=17))
    order, business, subscriber, ts, inbound, mtype, billing, plan_of, limits, can_open, allowed, carry, nsub = args
    keys = order_mod.conversation_keys(business, subscriber, nsub, ts, inbound)
    assert np.array_equal(keys.rows(), order)
    for types in (mtype, np.where(np.arange(len(mtype)) % 11 == 0, -1, mtype).astype(np.int32)):
        out = kernel_mod.run_pass(keys, business, subscriber, ts, inbound, types, billing, plan_of, limits, can_open,
                                  allowed, carry, nsub, want_end=True)
        want = _plain_pass(order, business, subscriber, ts, inbound, types, billing, plan_of, limits, can_open,
                           allowed, carry, nsub)
        assert out.session.tolist() == want["session"] and out.reason.tolist() == want["reason"]
        got = list(zip(out.s_row.tolist(), out.s_start.tolist(), out.s_origin.tolist(), out.s_close.tolist(),
                       out.s_in.tolist(), out.s_out.tolist(), out.s_carried.tolist()))
        assert got == want["sessions"] and out.ends.tolist() == want["ends"]
    if halves:
        assert len(cuts) == 2 and all(0 < c < len(order) for c in cuts)


PRELOAD = """
import importlib, sys
import viber_sessions.cli, viber_sessions.core       # the command line and the pipeline: no numba yet
assert "numba" not in sys.modules, "numba imported before the run needs it"
seg = importlib.import_module("viber_sessions.segment")
seg.preload_kernels(("json",), ("viber_sessions.counting",))
seg.load_kernels()                                    # waits for the thread's load
seg._preloading[0].join()
counting = importlib.import_module("viber_sessions.counting")
assert seg._loaded and counting._count_rows.signatures, "kernels loaded, counting warmed"
print("ok")
"""


def test_the_kernels_load_on_a_thread_and_nothing_imports_numba_before_it():
    """Importing the command line and the pipeline leaves numba out (a run imports it on a
    thread while it reads its input); load_kernels() waits for that load."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PRELOAD], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_failed_preload_is_raised_by_the_callers_own_load(monkeypatch):
    """A failure on the preload thread is not lost: the caller's load_kernels() meets it."""
    seg = importlib.import_module("viber_sessions.segment")
    monkeypatch.setattr(seg, "_loaded", False)
    monkeypatch.setattr(seg, "_preloading", [])

    def broken():
        raise RuntimeError("numba cache unreadable")

    monkeypatch.setattr(seg, "_call_each_kernel", broken)
    seg.preload_kernels()
    seg._preloading[0].join()
    with pytest.raises(RuntimeError, match="numba cache unreadable"):
        seg.load_kernels()


@pytest.mark.parametrize("shape", SHAPES + ["one_late_millisecond"])
def test_the_key_frame_on_threads_is_the_one_pass_frame(shape):
    """The key's frame (earliest and latest instant, coarsest unit, least and greatest
    conversation) found by parts on threads equals the one pass's, however the rows are cut:
    also when one part alone holds the only row off the whole second."""
    business, subscriber, n_sub, ts, inbound = random_log(np.random.default_rng(9), 5000, shape.replace(
        "one_late_millisecond", "seconds"))
    if shape == "one_late_millisecond":
        ts[4321] += 10**6
    columns = parallel_mod.readonly(business, subscriber, ts)
    want = order_mod._key_frame(columns[0], columns[1], np.int64(n_sub), columns[2])
    with ThreadPoolExecutor(2) as pool:
        for tasks in (1, 2, 3, 8, 64):
            got = order_mod._key_frame_threaded(pool, tasks, columns[0], columns[1], np.int64(n_sub), columns[2])
            assert tuple(int(v) for v in got) == tuple(int(v) for v in want), (shape, tasks)
    if shape == "one_late_millisecond":
        assert int(want[2]) == 10**6


def test_the_passes_before_and_after_the_kernel_are_the_same_on_threads(monkeypatch):
    """Each row's class, the byte the kernel reads and the final classes, by row ranges on two
    threads, equal one pass over all rows."""
    rng = np.random.default_rng(21)
    n = 70_000
    first = rng.random(n) < 0.9
    status = rng.integers(-1, 3, n).astype(np.int32)
    unbilled = np.array([[False, True, False, False], [True, True, False, False]])
    plan = np.array([0, 1, 0], np.int32)
    business = rng.integers(0, 3, n).astype(np.int32)
    mtype = rng.integers(0, 4, n).astype(np.int32)
    sess = rng.integers(-1, 500, n).astype(np.int64)
    billable = rng.random(500) < 0.7

    def run():
        billing, reason = rows_mod.classes(first, status, unbilled, plan, business)
        flags = rows_mod.row_inputs(order_mod.OrderKeys(np.zeros(n, np.int64), np.array([0, n], np.int64),
                                                        np.array([0, 1, 2, 0], np.int64), 1, 17),
                                    business, business, np.zeros(n, np.int64), first, mtype, billing, 4, 2)[8]
        rows_mod.finish(billing, sess.copy(), reason, billable)
        return billing.tolist(), reason.tolist(), flags.tolist()

    monkeypatch.setattr(parallel_mod, "threads", lambda: 1)
    alone = run()
    monkeypatch.setattr(parallel_mod, "threads", lambda: 2)
    calls = []
    real = parallel_mod.each
    monkeypatch.setattr(parallel_mod, "each", lambda pool, fn, args: calls.append(len(args)) or real(pool, fn, args))
    assert run() == alone
    assert calls == [8, 8, 8]                 # classes, the kernel's bytes, the final classes: 8 ranges each
    assert alone[0].count(2) == int((~first).sum()) and 1 in alone[0]


NO_COMPILE = """
import importlib, sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
seg = importlib.import_module("viber_sessions.segment")
seg.load_kernels()
importlib.import_module("viber_sessions.counting").warm()
jit = importlib.import_module("viber_sessions.segment.jit")
parallel = importlib.import_module("viber_sessions.segment.parallel")
parallel.PARALLEL_MIN_ROWS = 0                      # every threaded path, on a small log
parallel.threads = lambda: 2
importlib.import_module("viber_sessions.segment.kernel").TWO_HALVES_MIN_ROWS = 0
importlib.import_module("viber_sessions.segment.ahead").MIN_ROWS = 0
importlib.import_module("viber_sessions.load.chunks").THREADED_ROWS = 0
importlib.import_module("viber_sessions.counting").TWO_HALVES_MIN_ROWS = 0
rng = np.random.default_rng(5)
n = 20_000
ts = pa.array(1_790_000_000_000 + np.sort(rng.integers(0, 20 * 86_400_000, n)), pa.timestamp("ms", tz="UTC"))
table = pa.table({"message_id": [f"m{v}" for v in rng.integers(0, n, n)], "timestamp": ts,
                  "business_id": rng.choice(["bank", "shop"], n).tolist(),
                  "subscriber_id": [f"+7900{v:07d}" for v in rng.integers(0, 6000, n)],
                  "direction": rng.choice(["inbound", "outbound"], n).tolist(), "message_type": ["text"] * n})
pq.write_table(table, sys.argv[1], row_group_size=4000)
before = {k.__qualname__: len(k.dispatcher.signatures) for k in jit._registered}
from viber_sessions import core
core.run(core.Request(inputs=[sys.argv[1]], tariff="sample_data/tariff.toml", period="2026-10"))
after = {k.__qualname__: len(k.dispatcher.signatures) for k in jit._registered}
print({k: (before[k], v) for k, v in after.items() if v != before[k]})
"""


def test_a_run_compiles_nothing_its_kernels_load_did_not(tmp_path):
    """Every compiled function a run calls from Python, on one thread or on several, was loaded
    with the kernels (by their warm-ups, on the preload thread while the log is read), with the
    argument types the run gives it: none is compiled or loaded from the cache later, on the
    run's own path."""
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", NO_COMPILE, str(tmp_path / "log.parquet")], capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{}"
