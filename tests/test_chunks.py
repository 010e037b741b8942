"""load/chunks.py: a column's chunks as one array, dictionary chunks on one dictionary."""

from __future__ import annotations

import importlib

import numpy as np
import pyarrow as pa
import pytest

chunks_mod = importlib.import_module("viber_sessions.load.chunks")


def _dictionary_column(rng, n_chunks: int, shared_every: int) -> pa.ChunkedArray:
    """Chunks of dictionary-encoded strings (several thousand values, so no Arrow unify), some
    sharing one dictionary object as Parquet row groups' chunks do, some with nulls."""
    pieces = []
    dictionary = None
    for k in range(n_chunks):
        if dictionary is None or k % shared_every == 0:
            dictionary = pa.array([f"+7{v:09d}" for v in rng.choice(20_000, 3_000, replace=False)])
        idx = rng.integers(0, len(dictionary), 2_000)
        mask = rng.random(2_000) < 0.05
        pieces.append(pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int32), mask=mask), dictionary))
    return pa.chunked_array(pieces)


@pytest.mark.parametrize("threaded", [False, True])
def test_combine_puts_dictionary_chunks_on_one_dictionary(threaded, monkeypatch):
    if threaded:
        monkeypatch.setattr(chunks_mod, "THREADED_ROWS", 0)
    column = _dictionary_column(np.random.default_rng(5), 9, 3)
    out = chunks_mod.combine(column)
    assert isinstance(out, pa.DictionaryArray) and len(out) == len(column)
    assert out.dictionary_decode().to_pylist() == column.to_pylist()          # values and nulls kept
    assert len(set(out.dictionary.to_pylist())) == len(out.dictionary)         # one entry per value
    assert out.null_count == column.null_count


def test_combine_small_and_plain_columns():
    small = pa.chunked_array([pa.array(["a", "b", None]).dictionary_encode(), pa.array(["b", "c"]).dictionary_encode()])
    assert chunks_mod.combine(small).dictionary_decode().to_pylist() == ["a", "b", None, "b", "c"]
    plain = pa.chunked_array([pa.array([1, 2]), pa.array([3])])
    assert chunks_mod.combine(plain).to_pylist() == [1, 2, 3]
    one = pa.array(["x"])
    assert chunks_mod.combine(one) is one


def test_string_dictionaries_are_the_distinct_dictionaries_as_read():
    column = _dictionary_column(np.random.default_rng(6), 6, 2)
    assert len(chunks_mod.string_dictionaries(column)) == 3
    assert chunks_mod.string_dictionaries(pa.chunked_array([pa.array([1, 2]).dictionary_encode()])) == []
