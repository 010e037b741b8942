"""viber_sessions.phones: E.164 normalisation once per distinct value, and the spellings check."""

from __future__ import annotations

import re
import signal
import sys
import threading
import time

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from viber_sessions import phones
from viber_sessions.errors import UsageError


@pytest.mark.parametrize("spelling", ["+7 (900) 000-68-85", "8 900 000 68 85", "79000006885", "+79000006885",
                                      "9000006885", "+7-900-000-68-85"])
def test_spellings_of_one_russian_number(spelling):
    assert phones.to_e164(spelling, "RU") == "+79000006885"


def test_not_numbers_stay_as_written_and_are_counted():
    values = pa.array(["viber:0a1b", "+7 (900) 000-68-85", "12", "+79000006885", "0079001234567", None, ""])
    out, outcome = phones.normalise_values(values, "RU")
    assert out.to_pylist() == ["viber:0a1b", "+79000006885", "12", "+79000006885", "0079001234567", None, ""]
    assert outcome == phones.Normalised(changed=1, kept=3, kept_examples=("viber:0a1b", "12", "0079001234567"))


def test_canonical_values_are_never_parsed(monkeypatch):
    calls = []
    monkeypatch.setattr(phones, "to_e164", lambda v, r: calls.append(v) or None)
    out, outcome = phones.normalise_values(pa.array(["+79000006885", "+4915112345678", "8 900 000 68 85"]), "RU")
    assert calls == ["8 900 000 68 85"]
    assert outcome.changed == 0 and outcome.kept == 1


def test_normalised_ids_share_one_code():
    arr = pa.array(["79000006885", "+7 (900) 000-68-85", "viber:x", "79000006885", None]).dictionary_encode()
    out, outcome = phones.normalise_ids(arr, "RU")
    assert out.dictionary.to_pylist() == ["+79000006885", "viber:x"]
    assert out.indices.to_pylist() == [0, 0, 1, 0, None]
    assert outcome.changed == 2


def test_subscriber_spellings_by_digit_key():
    values = pa.array(["+7 (900) 000-68-85", "79000006885", "+79000006885", "viber:79000006885", "+79001112233",
                       "8 900 111 22 33", "0049 151 1234 5678", "+4915112345678"])
    found = phones.subscriber_spellings(values)
    assert found.count == 2
    assert found.examples == (("+7 (900) 000-68-85", "79000006885", "+79000006885"),
                              ("0049 151 1234 5678", "+4915112345678"))
    assert phones.subscriber_spellings(pa.array(["+79000006885", "viber:1"])).count == 0


def test_region_is_checked():
    assert phones.check_region("ru") == "RU"
    with pytest.raises(UsageError, match="--default-region must be a two-letter region code"):
        phones.check_region("Russia")


MIXED = ["+7 (900) 000-68-85", "viber:0a1b", "8 900 111 22 33", "12", "+79000006885", "0079001234567", None, "",
         " 79001112233 ", "8 (900) 000-68-85", "+4915112345678", "0049 151 1234 5678"]


@pytest.fixture
def always_background(monkeypatch):
    monkeypatch.setattr(phones, "BACKGROUND_MIN_VALUES", 0)


def test_background_normalising_equals_the_inline_one(always_background):
    arr = pa.array(MIXED * 3).dictionary_encode()
    inline = phones.normalise_ids(arr, "RU")
    with phones.Normalising("RU", [arr.dictionary]) as pending:
        assert pending._thread is not None
        background = pending.result(arr)
    assert background[0].equals(inline[0]) and background[1] == inline[1]
    assert inline[0].dictionary.to_pylist() == ["+79000006885", "viber:0a1b", "+79001112233", "12", "0079001234567",
                                                "", "+4915112345678", "0049 151 1234 5678"]
    assert inline[1] == phones.Normalised(changed=4, kept=4, kept_examples=("viber:0a1b", "12", "0079001234567"))


def test_values_the_thread_did_not_see_are_parsed_when_asked(always_background):
    arr = pa.array(MIXED).dictionary_encode()
    with phones.Normalising("RU", [pa.array(MIXED[:3])]) as pending:
        out = pending.result(arr)
    assert out[0].equals(phones.normalise_ids(arr, "RU")[0])


def test_few_values_run_without_a_thread():
    with phones.Normalising("RU", [pa.array(MIXED)]) as pending:
        assert pending._thread is None
        assert pending.result(pa.array(MIXED))[1].changed == 4


def test_the_switch_interval_is_restored(always_background):
    before = sys.getswitchinterval()
    with phones.Normalising("RU", [pa.array(MIXED)]) as pending:
        pending.result(pa.array(MIXED))
    assert sys.getswitchinterval() == before


def test_an_error_in_the_background_parses_is_raised_by_result(always_background, monkeypatch):
    def boom(value, region):
        if value == "12":
            raise ValueError(f"cannot read {value!r}")
        return None

    monkeypatch.setattr(phones, "to_e164", boom)
    with phones.Normalising("RU", [pa.array(MIXED)]) as pending:
        with pytest.raises(ValueError, match=r"^cannot read '12'$"):
            pending.result(pa.array(MIXED))
    assert not pending._thread.is_alive()


def _slow_parses(monkeypatch, seconds: float) -> list:
    """Make every parse take ``seconds``; the values parsed, as they are."""
    calls: list = []

    def slow(value, region):
        calls.append(value)
        time.sleep(seconds)

    monkeypatch.setattr(phones, "to_e164", slow)
    return calls


def test_close_stops_the_parses_and_waits_for_the_thread(always_background, monkeypatch):
    calls = _slow_parses(monkeypatch, 0.01)
    started = time.perf_counter()
    with phones.Normalising("RU", [pa.array([f"8 900 000 {i:05d}" for i in range(1000)])]) as pending:
        time.sleep(0.05)
    assert not pending._thread.is_alive()
    assert time.perf_counter() - started < 2 and 0 < len(calls) < 1000
    n = len(calls)
    time.sleep(0.05)
    assert len(calls) == n                  # nothing runs after close()


def reference(value):
    """What a value becomes, one at a time (the rules of the module docstring)."""
    if not value or re.fullmatch(phones.CANONICAL_E164[1:-1], value):
        return value
    if re.fullmatch(phones.PHONE_LIKE[1:-1], value.strip()):
        return phones.to_e164(value.strip(), "RU") or value
    return value


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(MIXED) | st.from_regex(r"\A[+8 ]?[0-9 ()-]{0,14}\Z"), max_size=40),
       st.integers(1, 3))
def test_background_equals_the_one_by_one_reference(values, parts):
    """The column read in ``parts`` chunks, each with a dictionary of its own."""
    arr = pa.array(values, pa.string())
    step = len(values) // parts + 1
    dictionaries = [pa.array(values[i:i + step], pa.string()).dictionary_encode().dictionary
                    for i in range(0, len(values), step)]
    old = phones.BACKGROUND_MIN_VALUES
    phones.BACKGROUND_MIN_VALUES = 0
    try:
        with phones.Normalising("RU", dictionaries) as pending:
            ids, outcome = pending.result(arr)
    finally:
        phones.BACKGROUND_MIN_VALUES = old
    assert ids.dictionary_decode().to_pylist() == [reference(v) for v in values]
    assert len(ids.dictionary) == len(set(ids.dictionary.to_pylist()))
    distinct = [v for v in dict.fromkeys(values) if v]
    assert outcome.changed == sum(reference(v) != v for v in distinct)
    kept = [v for v in distinct if reference(v) == v and not re.fullmatch(phones.CANONICAL_E164[1:-1], v)]
    assert outcome.kept == len(kept) and outcome.kept_examples == tuple(kept[:3])


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX signals")
def test_ctrl_c_while_waiting_for_the_parses_ends_the_thread(always_background, monkeypatch):
    calls = _slow_parses(monkeypatch, 0.002)
    values = pa.array([f"8 900 000 {i:05d}" for i in range(2000)])
    timer = threading.Timer(0.05, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        with phones.Normalising("RU", [values]) as pending:
            timer.start()
            pending.result(values)
    timer.join()
    # not only is_alive(): a join() interrupted on Python 3.11 marks a running thread ended
    assert pending._thread not in threading.enumerate()
    n = len(calls)
    time.sleep(0.02)
    assert 0 < n == len(calls) < 2000
