"""viber_sessions.billing: the coverage warnings, the --account check, the tally's sums."""

from __future__ import annotations

import numpy as np
import pytest

from viber_sessions.billing import RowCounts, Tally, check_accounts, coverage_warnings
from viber_sessions.errors import BillingError
from viber_sessions.tariff import Limits
from viber_sessions.timeutil import Period, to_ns
from datetime import datetime, timezone

OCT = Period.parse("2026-10", "UTC")


def ns(text: str) -> int:
    return to_ns(datetime.fromisoformat(text).replace(tzinfo=timezone.utc))


def test_data_starting_days_after_the_period_start_says_what_is_not_covered():
    got = coverage_warnings(ns("2026-10-05T00:00:00"), ns("2026-10-31T23:00:00"), OCT, Limits())
    assert got == ["the loaded data starts at 2026-10-05T00:00:00Z, after the period start 2026-10-01T00:00:00Z: "
                   "the period is not covered from 2026-10-01T00:00:00Z to 2026-10-05T00:00:00Z, and sessions that "
                   "began before the data are not seen"]


def test_data_starting_inside_the_lookback_window():
    got = coverage_warnings(ns("2026-09-30T12:00:00"), ns("2026-11-02T00:00:00"), OCT, Limits())
    assert got == ["the loaded data starts at 2026-09-30T12:00:00Z, less than one session window (24 h) before the "
                   "period start 2026-10-01T00:00:00Z: sessions that began before 2026-09-30T12:00:00Z are not "
                   "seen, so messages of such sessions may be billed as out of session"]


def test_full_coverage_and_early_end():
    assert coverage_warnings(ns("2026-09-29T00:00:00"), ns("2026-10-31T12:00:00"), OCT, Limits()) == []
    got = coverage_warnings(ns("2026-09-29T00:00:00"), ns("2026-10-20T00:00:00"), OCT, Limits())
    assert got == ["the loaded data ends at 2026-10-20T00:00:00Z, more than one session window (24 h) before the "
                   "period end 2026-11-01T00:00:00Z: the period is not covered from 2026-10-20T00:00:00Z to "
                   "2026-11-01T00:00:00Z"]
    got = coverage_warnings(ns("2026-08-01T00:00:00"), ns("2026-08-20T00:00:00"), OCT, Limits())
    assert got == ["the loaded data (2026-08-01T00:00:00Z to 2026-08-20T00:00:00Z) does not reach into the period "
                   "2026-10-01T00:00:00Z to 2026-11-01T00:00:00Z"]


def _tally(**kw):
    return Tally(rows=RowCounts(1, 0, 0, 0, 1, 0), first_ts=0, **kw)


def test_unknown_account_is_an_error_with_a_suggestion():
    with pytest.raises(BillingError, match=r"--account 'shp': no row of the loaded log belongs to this account "
                                           r"\(did you mean 'shop'\?\)"):
        check_accounts(_tally(seen={"shop", "taxi"}), ["shop", "shp"])
    check_accounts(_tally(seen={"shop"}), ["shop"])


def test_tallies_add_up_including_new_fields():
    a = Tally(rows=RowCounts(3, 1, 0, 0, 1, 1, blank_lines=2), first_ts=5, last_ts=9, seen={"a"})
    b = Tally(rows=RowCounts(2, 0, 1, 0, 0, 1, blank_lines=1), first_ts=3, last_ts=7, seen={"b"})
    c = a + b
    assert (c.rows.read, c.rows.blank_lines, c.first_ts, c.last_ts, c.seen) == (5, 3, 3, 9, {"a", "b"})
    assert c.rows.balanced()


def test_tallies_add_country_keyed_lines_accounts_and_the_unclassified_flag():
    from collections import Counter

    a = Tally(rows=RowCounts(1, 0, 0, 0, 0, 1), first_ts=1, loaded={"shop"},
              lines=Counter({("shop", "outbound", "text", "KZ"): 2, ("shop", "outbound", "text", ""): 1}))
    b = Tally(rows=RowCounts(1, 0, 0, 0, 0, 1), first_ts=2, loaded={"taxi"},
              lines=Counter({("shop", "outbound", "text", "KZ"): 3}), unclassified=True)
    c = a + b
    assert c.lines == Counter({("shop", "outbound", "text", "KZ"): 5, ("shop", "outbound", "text", ""): 1})
    assert c.loaded == {"shop", "taxi"} and c.unclassified and not a.unclassified


@pytest.mark.parametrize("halves", [False, True])
def test_dense_counting_equals_the_numpy_counting_on_a_generated_log(tmp_path, monkeypatch, halves):
    """The compiled one-pass tally (dense tables) gives every count the numpy counting gives:
    several periods, an account selection, lines by country, type_not_allowed, outbound types;
    in one pass or in two halves on two threads."""
    import importlib

    if halves:
        counting = importlib.import_module("viber_sessions.counting")
        monkeypatch.setattr(counting, "TWO_HALVES_MIN_ROWS", 2)
        monkeypatch.setattr(counting, "threads", lambda: 2)

    from viber_sessions.generate import GeneratorOptions, write_log
    from viber_sessions.load import load
    from viber_sessions.segment import segment
    from viber_sessions.tariff import load_tariff

    tally_mod = importlib.import_module("viber_sessions.tally")
    path = tmp_path / "log.parquet"
    write_log(str(path), GeneratorOptions(rows=30_000, seed=3, start="2026-09-29", days=40))
    seg = segment(load([str(path)]), load_tariff("sample_data/tariff.toml"))
    periods = [Period.parse(m, "Europe/Moscow") for m in ("2026-09", "2026-10", "2026-11")]
    names = seg.log.businesses.to_pylist()
    for accounts, countries in ((None, False), (names[:2], False), (None, True)):
        assert tally_mod.dense_fits(seg, len(periods), countries)
        dense = tally_mod.tally_periods(seg, periods, accounts, countries=countries)
        with monkeypatch.context() as patch:
            patch.setattr(tally_mod, "dense_fits", lambda *a: False)
            plain = tally_mod.tally_periods(seg, periods, accounts, countries=countries)
        assert dense == plain
        assert all(t.lines and t.in_session and t.present for t in dense[:2])
        assert dense[1].not_allowed and dense[0].outbound_types
    assert {k[3] for k in dense[1].lines} - {""}, "countries were looked up"


def test_dense_counting_is_left_for_numpy_when_its_tables_would_outgrow_the_rows():
    import importlib

    import pyarrow as pa

    from viber_sessions.segment import segment

    tally_mod = importlib.import_module("viber_sessions.tally")
    rows = 50
    seg = segment(pa.table({"message_id": [f"m{i}" for i in range(rows)], "timestamp": ["2026-10-05T09:00:00Z"] * rows,
                            "business_id": [f"b{i}" for i in range(rows)], "subscriber_id": ["+79001234567"] * rows,
                            "direction": ["in", "out"] * (rows // 2), "message_type": ["text"] * rows}), Limits())
    assert tally_mod.dense_fits(seg, 1, False) and not tally_mod.dense_fits(seg, 1, True)
    assert not tally_mod.dense_fits(seg, 40, False)
    t = tally_mod.tally_periods(seg, [OCT], countries=True)[0]
    assert sum(t.in_session.values()) == 0 and sum(t.lines.values()) == rows


def test_billing_counts_equal_bincount():
    from viber_sessions.tally import billing_counts

    classes = np.random.default_rng(2).integers(0, 5, 10_000).astype(np.int8)
    assert billing_counts(classes) == np.bincount(classes, minlength=5).tolist()
    assert billing_counts(classes[:0]) == [0] * 5
