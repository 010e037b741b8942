"""Month-to-month state: billing a month from its own log plus the state of the month before
equals billing it from the whole history (README, "Monthly runs")."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import viber_sessions as vs
from viber_sessions.billing import bill_periods
from viber_sessions.errors import BillingError
from viber_sessions.render import invoice_dict
from viber_sessions.segment import state_at
from viber_sessions.segment.carry import empty_state
from viber_sessions.state import read_state, write_state
from viber_sessions.timeutil import Period

OCT, NOV = Period.parse("2026-10"), Period.parse("2026-11")
CUT = NOV.start_ns
HOUR = 3600 * 10**9
TARIFF = """currency = "RUB"
monthly_fee = "100"
session_price = "1.20"
[outbound_prices]
text = "0.85"
image = "1.10"
video = "1.50"
[limits]
window_hours = 2
max_business_messages = 3
max_unanswered = 2
"""


def tariff(extra: str = ""):
    return vs.parse_tariff(tomllib.loads(TARIFF + extra))


def frame(rows) -> pd.DataFrame:
    """Rows (minutes from the cut, business, subscriber, inbound, type, id) in time order, the
    files' order (copies of a message come after it)."""
    df = pd.DataFrame(rows, columns=["minute", "business_id", "subscriber_id", "inbound", "message_type", "message_id"])
    df = df.sort_values("minute", kind="stable")
    return pd.DataFrame({
        "message_id": df.message_id, "business_id": df.business_id, "subscriber_id": df.subscriber_id,
        "timestamp": pd.to_datetime(CUT + df.minute.to_numpy(np.int64) * 60 * 10**9, utc=True),
        "direction": np.where(df.inbound, "inbound", "outbound"), "message_type": df.message_type})


def carried_invoice(df: pd.DataFrame, t, through_file=None):
    """November from the November log (plus a little of October) and the state of an October
    run that loaded one window of November."""
    minute = (df.timestamp.astype("int64") - CUT) // (60 * 10**9)
    before = df[minute < 120]
    # an empty table is "no data rows" to the reader: an October without rows leaves an empty state
    state = state_at(vs.segment(before, t), CUT) if len(before) else empty_state(CUT)
    if through_file is not None:
        write_state(state, through_file, t)
        state = read_state(through_file, t)
    november = vs.segment(df[minute >= -30], t, carry=state)
    return bill_periods(november, t, [NOV])[0], november


row = st.tuples(st.integers(-600, 600), st.sampled_from(["a", "b"]), st.sampled_from(["+1", "+2", "007"]),
                st.booleans(), st.sampled_from(["text", "text", "image", "video"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=80), st.lists(st.tuples(st.integers(0, 79), st.integers(0, 110)),
                                                         max_size=10))
def test_state_carry_equals_the_whole_history(rows, copies):
    rows = [(*r, f"m{k}") for k, r in enumerate(rows)]
    # re-delivered copies within one window (2 h) of the first, also across the cut
    rows += [(rows[k % len(rows)][0] + d, *rows[k % len(rows)][1:]) for k, d in copies]
    df = frame(rows)
    assume(((df.timestamp.astype("int64") - CUT) >= -30 * 60 * 10**9).any())    # a run without rows is refused
    t = tariff()
    whole = bill_periods(vs.segment(df, t), t, [NOV])[0]
    carried, seg = carried_invoice(df, t)
    assert invoice_dict(carried)["accounts"] == invoice_dict(whole)["accounts"]
    assert carried.total == whole.total
    r = carried.rows
    assert r.balanced() and r.read == int(((df.timestamp.astype("int64") - CUT) >= -30 * 60 * 10**9).sum())
    assert r.before_cut == int((seg.log.timestamp < CUT).sum())


def test_rollover_chain_and_unanswered_counters_cross_the_cut(tmp_path):
    # a session opened before the cut holds 2 business messages; after the cut the 3rd is still in
    # it, the 4th rolls over (max 3): the whole history bills the rollover in November
    rows = [(-50, "a", "+1", True, "text", "i1"), (-40, "a", "+1", False, "text", "o1"),
            (-30, "a", "+1", True, "text", "i2"), (-20, "a", "+1", False, "text", "o2"),
            (5, "a", "+1", False, "text", "o3"), (6, "a", "+1", True, "text", "i3"),
            (7, "a", "+1", False, "text", "o4"), (8, "a", "+1", True, "text", "i4"),
            (-10, "a", "+2", False, "image", "x1"), (-5, "a", "+2", True, "text", "x2"),
            (1, "a", "+2", False, "text", "x3"), (2, "a", "+2", False, "text", "x4"), (3, "a", "+2", False, "text", "x5"),
            (4, "a", "+2", False, "text", "o1")]           # a copy of o1 after the cut: a duplicate
    df = frame(rows)
    t = tariff()
    whole = bill_periods(vs.segment(df, t), t, [NOV])[0]
    carried, seg = carried_invoice(df, t, tmp_path / "state.parquet")
    assert invoice_dict(carried)["accounts"] == invoice_dict(whole)["accounts"]
    a = carried.accounts[0]
    assert a.sessions == 1 and a.in_session_messages == 6
    assert {(l.direction, l.message_type, l.count) for l in a.out_of_session} == {("outbound", "text", 1)}
    assert carried.rows.duplicates == 1 and carried.rows.before_cut == 4     # i2, o2, x1, x2
    assert seg.s_carried.sum() == 2


def test_a_state_under_other_limits_or_cut_after_the_period_start_is_refused(tmp_path):
    df = frame([(-5, "a", "+1", True, "text", "m1"), (5, "a", "+1", False, "text", "m2")])
    t = tariff()
    path = tmp_path / "s.parquet"
    write_state(state_at(vs.segment(df, t), CUT), path, t)
    other = vs.parse_tariff(tomllib.loads(TARIFF.replace("max_unanswered = 2", "max_unanswered = 3")))
    with pytest.raises(BillingError, match="other session limits"):
        read_state(path, other)
    with pytest.raises(BillingError, match="after the start of the period 2026-10"):
        bill_periods(vs.segment(df, t, carry=read_state(path, t)), t, [OCT])
    with pytest.raises(BillingError, match="not a readable state file"):
        read_state(__file__, t)


def test_state_file_is_deterministic_and_keeps_ids_within_one_window(tmp_path):
    df = frame([(-200, "a", "+1", True, "text", "old"), (-60, "a", "+1", True, "text", "new"),
                (-1, "b", "+2", False, "video", "late"), (30, "a", "+1", False, "text", "after")])
    t = tariff()
    state = state_at(vs.segment(df, t), CUT)
    assert state.message_ids.column("message_id").to_pylist() == ["late", "new"]
    assert state.conversations.column("subscriber_id").to_pylist() == ["+1"]     # the video opened nothing
    assert state.conversations.column("inbound").to_pylist() == [1]
    write_state(state, tmp_path / "1.parquet", t)
    write_state(state, tmp_path / "2.parquet", t)
    assert (tmp_path / "1.parquet").read_bytes() == (tmp_path / "2.parquet").read_bytes()


DAY_MIN = 24 * 60


def test_a_state_from_an_older_month_with_a_gap_before_the_data_is_not_final(tmp_path):
    # the state of a September run (cut 2026-10-01); November billed without the October rows:
    # what October held is not seen, so the invoice can change (red-team: it said "final")
    oct_cut = OCT.start_ns
    days = [-31 * DAY_MIN - 10, -20 * DAY_MIN, -DAY_MIN - 30, -20, 5, 10 * DAY_MIN, 30 * DAY_MIN + 200]
    rows = [(m, "a", "+1", k % 2 == 0, "text", f"m{k}") for k, m in enumerate(days)]
    rows += [(-25, "a", "+2", True, "text", "x1"), (-24, "a", "+2", False, "text", "x2"), (3, "a", "+2", False, "text", "x3")]
    df = frame(rows)
    t = tariff()
    ns = df.timestamp.astype("int64")
    whole = bill_periods(vs.segment(df, t), t, [NOV])[0]
    september = state_at(vs.segment(df[ns < oct_cut + 2 * HOUR], t), oct_cut)
    gap = bill_periods(vs.segment(df[ns >= CUT], t, carry=september), t, [NOV])[0]
    assert gap.status == "provisional" and gap.coverage.data_from == int(ns[ns >= CUT].min())
    assert any("after the carried-in state's cut 2026-10-01T00:00:00Z: the span from 2026-10-01T00:00:00Z to "
               "2026-11-01T00:03:00Z is not covered" in w for w in gap.warnings)
    assert invoice_dict(gap)["accounts"] != invoice_dict(whole)["accounts"]      # the sessions of Oct 31 are lost
    joined = bill_periods(vs.segment(df, t, carry=september), t, [NOV])[0]    # the data reaches back to the cut
    assert joined.status == "final" and invoice_dict(joined)["accounts"] == invoice_dict(whole)["accounts"]
    assert not any("carried-in state" in w for w in joined.warnings)
    one_window = bill_periods(vs.segment(df[ns >= CUT - (DAY_MIN + 30) * 60 * 10**9], t, carry=september), t, [NOV])[0]
    assert one_window.status == "final"          # the data alone reaches back one window, as without a state


def test_data_that_starts_after_the_cut_leaves_the_span_between_uncovered():
    rows = [(-30, "a", "+1", True, "text", "m1"), (-20, "a", "+1", False, "text", "m2"),
            (7, "a", "+1", False, "text", "m3"), (30 * DAY_MIN + 200, "a", "+1", True, "text", "m4")]
    df = frame(rows)
    t = tariff()
    ns = df.timestamp.astype("int64")
    state = state_at(vs.segment(df[ns < CUT], t), CUT)
    late = bill_periods(vs.segment(df[ns >= CUT], t, carry=state), t, [NOV])[0]
    assert late.status == "provisional"
    assert any("the span from 2026-11-01T00:00:00Z to 2026-11-01T00:07:00Z is not covered" in w for w in late.warnings)
    early = bill_periods(vs.segment(df[ns >= CUT - 30 * 60 * 10**9], t, carry=state), t, [NOV])[0]
    assert early.status == "final" and early.rows.before_cut == 2 and early.warnings == ()


def test_a_price_only_override_keeps_the_limits_of_the_state(tmp_path):
    df = frame([(-5, "a", "+1", True, "text", "m1"), (5, "a", "+1", False, "text", "m2")])
    t = tariff()
    path = tmp_path / "s.parquet"
    write_state(state_at(vs.segment(df, t), CUT), path, t)
    prices = tariff('[accounts."a"]\nsession_price = "1.00"\n[accounts."b".limits]\nmax_unanswered = 2\n')
    assert read_state(path, prices).cut_ns == CUT           # every account's limits are equal: accepted
    path2 = tmp_path / "s2.parquet"
    write_state(state_at(vs.segment(df, prices), CUT), path2, prices)
    assert read_state(path2, t).cut_ns == CUT
    for extra in ('[accounts."a".limits]\nmax_unanswered = 3\n', '[accounts."zz"]\nsessions = false\n'):
        with pytest.raises(BillingError, match="other session limits"):
            read_state(path, tariff(extra))
