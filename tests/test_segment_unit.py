"""Unit tests of the segmentation building blocks."""

import numpy as np
import pyarrow as pa
import pytest

from viber_sessions.segment import conversation_order, first_occurrences, run_kernel
from viber_sessions.tariff import Limits


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
