"""viber_sessions.segment.ahead: the duplicate flags found on a thread while the log is typed are
those the segmentation finds, and are used only for the very ids they were found on."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from viber_sessions import core
from viber_sessions.render import invoice_dict
from viber_sessions.segment import DUPLICATE, ahead, dedup, segmentation
from viber_sessions.segment.ahead import Ahead
from viber_sessions.segment.dedup import first_occurrences
from viber_sessions.segment.parallel import PARALLEL_MIN_ROWS

TARIFF = "sample_data/tariff.toml"


class Log:
    def __init__(self, message_id):
        self.message_id = message_id


def _ids(n: int, seed: int) -> pa.Array:
    rng = np.random.default_rng(seed)
    return pa.array([f"m{v}" for v in rng.integers(0, max(1, n // 3), n)], pa.string())


@pytest.mark.parametrize("n", [1, 50, 5000])
def test_the_flags_are_those_of_the_segmentation(n):
    ids = _ids(n, n)
    found = Ahead(min_rows=0)
    found.start(ids)
    assert found.duplicates(Log(ids)).tolist() == (~first_occurrences(ids)).tolist()


def test_one_thread_finds_the_flags_the_threads_find():
    """The flags found ahead are found on one thread (the typing's threads use the other
    cores): the same as the threaded search's, on a log large enough to be shared out."""
    ids = _ids(200_000, 4)
    assert len(ids) >= 3 * PARALLEL_MIN_ROWS
    assert first_occurrences(ids, one_thread=True).tolist() == first_occurrences(ids).tolist()


def test_no_flags_for_other_ids_a_second_file_or_a_small_log():
    ids = _ids(300, 1)
    found = Ahead(min_rows=0)
    found.start(ids)
    assert found.duplicates(Log(ids.slice(0))) is None        # equal values, another array: not used
    assert found.duplicates(Log(ids.filter(pa.array([True] * 299 + [False])))) is None
    found.start(_ids(300, 2))                                  # a second file: the log's ids are both
    assert found.duplicates(Log(ids)) is None
    small = Ahead(min_rows=301)
    small.start(ids)
    assert small.duplicates(Log(ids)) is None
    assert Ahead().duplicates(Log(ids)) is None                # never started


def test_an_error_on_the_thread_is_raised_where_the_flags_are_asked_for(monkeypatch):
    def broken(message_id, one_thread=False):
        raise MemoryError("no room")

    monkeypatch.setattr(dedup, "first_occurrences", broken)
    ids = _ids(100, 3)
    found = Ahead(min_rows=0)
    found.start(ids)
    with pytest.raises(MemoryError, match="no room"):
        found.duplicates(Log(ids))


def _log(tmp_path, bad: bool) -> str:
    rng = np.random.default_rng(7)
    n = 400
    rows = {"message_id": [f"m{v}" for v in rng.integers(0, 150, n)],
            "timestamp": [f"2026-10-{1 + i // 40:02d}T{(i % 40) // 2:02d}:{i % 60:02d}:00Z" for i in range(n)],
            "business_id": rng.choice(["bank", "shop"], n).tolist(),
            "subscriber_id": [f"+7900{v}" for v in rng.integers(0, 9, n)],
            "direction": rng.choice(["inbound", "outbound"], n).tolist(),
            "message_type": ["text"] * n}
    if bad:
        rows["timestamp"][5] = "yesterday"
    path = str(tmp_path / f"log-{bad}.csv")
    pacsv.write_csv(pa.table(rows), path)
    return path


@pytest.mark.parametrize("bad", [False, True])
def test_an_invoice_is_the_same_with_the_flags_found_ahead(tmp_path, monkeypatch, bad):
    """Found ahead (every row loaded) or not (a row rejected: the log's ids are another array),
    the invoice is the one the segmentation gives by itself."""
    path = _log(tmp_path, bad)
    request = core.Request(inputs=[path], tariff=TARIFF, period="2026-10", on_invalid="skip")
    given = []
    real = segmentation.row_classes
    monkeypatch.setattr(segmentation, "row_classes", lambda log, limits, plans, duplicates, carry:
                        given.append(duplicates is not None) or real(log, limits, plans, duplicates, carry))
    monkeypatch.setattr(ahead, "MIN_ROWS", 0)
    found = core.run(request)
    monkeypatch.setattr(ahead, "MIN_ROWS", 10 ** 9)
    by_itself = core.run(request)
    assert invoice_dict(found.invoice) == invoice_dict(by_itself.invoice)
    assert found.segmentation.billing.tolist() == by_itself.segmentation.billing.tolist()
    assert (found.segmentation.billing == DUPLICATE).sum() > 20
    assert given == [not bad, False]


def test_the_segmentation_orders_the_rows_before_it_asks_for_the_flags(tmp_path, monkeypatch):
    """Given the flags as a future (found ahead), the segmentation asks for them only once the
    rows are ordered (which needs none), and bills as with the flags given outright."""
    from concurrent.futures import Future

    from viber_sessions.load import load as load_log
    from viber_sessions.tariff import load_tariff

    log = load_log([_log(tmp_path, False)])
    tariff = load_tariff(TARIFF)
    flags = ~first_occurrences(log.message_id)
    ordered = []
    real = segmentation.processing_order
    monkeypatch.setattr(segmentation, "processing_order", lambda log: ordered.append(1) or real(log))

    class Checked(Future):
        def result(self, timeout=None):
            assert ordered, "the flags were asked for before the rows were ordered"
            return super().result(timeout)

    pending = Checked()
    pending.set_result(flags)
    given = segmentation.segment(log, tariff, duplicates=pending)
    outright = segmentation.segment(log, tariff, duplicates=flags)
    assert given.billing.tolist() == outright.billing.tolist()
    assert given.session.tolist() == outright.session.tolist()
