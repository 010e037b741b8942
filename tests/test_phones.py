"""viber_sessions.phones: E.164 normalisation once per distinct value, and the spellings check."""

from __future__ import annotations

import pyarrow as pa
import pytest

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
