"""A column's chunks as one array: dictionary chunks put on one dictionary (Parquet gives one
per row group), each distinct dictionary encoded once and the chunks' indices translated."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Rows from which the chunks' indices are translated on two threads.
THREADED_ROWS = 1 << 20


def combine(column) -> pa.Array:
    """One array from a column's chunks. Dictionary chunks are put on one dictionary: chunks
    read from one Parquet row group share theirs, so each distinct dictionary is encoded once
    and the chunks' indices are translated (much cheaper than unifying chunk by chunk)."""
    if not isinstance(column, pa.ChunkedArray):
        return column
    if column.num_chunks == 1:
        return column.chunk(0)
    if not pa.types.is_dictionary(column.type) or column.num_chunks == 0:
        return column.combine_chunks()
    groups: dict[tuple, int] = {}
    dictionaries = []
    chunk_group = []
    for chunk in column.chunks:
        d = chunk.dictionary
        key = same_buffers(d)
        if key not in groups:
            groups[key] = len(dictionaries)
            dictionaries.append(d)
        chunk_group.append(groups[key])
    if sum(len(d) for d in dictionaries) <= 4096:      # small dictionaries: Arrow's own unify is fastest
        return column.unify_dictionaries().combine_chunks()
    encoded = _encode(pa.chunked_array(dictionaries, type=dictionaries[0].type).combine_chunks())
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    starts = np.cumsum([0] + [len(d) for d in dictionaries])
    out = np.empty(len(column), dtype=np.int32)       # the chunks' indices translated in place: one copy
    null = np.zeros(len(column), dtype=bool) if column.null_count else None
    at = np.cumsum([0] + [len(c) for c in column.chunks]).tolist()

    def translate(k: int, chunk: pa.DictionaryArray, g: int) -> None:
        indices = chunk.indices
        idx = indices.to_numpy(zero_copy_only=False) if indices.null_count == 0 else \
            indices.fill_null(-1).to_numpy(zero_copy_only=False)
        np.take(codes[starts[g]:starts[g + 1]], idx, out=out[at[k]:at[k + 1]], mode="clip")
        if indices.null_count:
            null[at[k]:at[k + 1]] = idx < 0

    calls = list(zip(range(column.num_chunks), column.chunks, chunk_group))
    if len(column) >= THREADED_ROWS and len(calls) > 1:   # numpy's take lets other threads run
        with ThreadPoolExecutor(2, thread_name_prefix="viber-sessions") as pool:
            for future in [pool.submit(translate, *c) for c in calls]:
                future.result()
    else:
        for c in calls:
            translate(*c)
    indices = pa.array(out, mask=null) if null is not None else pa.array(out)
    return pa.DictionaryArray.from_arrays(indices, encoded.dictionary)


def _encode(values: pa.Array) -> pa.DictionaryArray:
    """``pyarrow.compute.dictionary_encode``, by the duplicate detection's cache-friendly hash
    (:func:`~viber_sessions.segment.dedup.encode`, the same result) once the compiled kernels
    are loaded (a run loads them while it reads); Arrow's own before."""
    from ..segment import kernels_loaded

    if not kernels_loaded():
        return pc.dictionary_encode(values)
    from ..segment.dedup import encode

    return encode(values)


def same_buffers(d: pa.Array) -> tuple:
    """A key equal for chunks that share one dictionary (the same buffers)."""
    return (len(d), d.offset, *(b.address if b is not None else 0 for b in d.buffers()))


def string_dictionaries(column) -> list[pa.Array]:
    """The distinct dictionaries of a column of dictionary-encoded strings, as read (before
    :func:`combine` puts the chunks on one); none for other columns."""
    t = column.type
    if not pa.types.is_dictionary(t) or not (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
        return []
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return list({same_buffers(c.dictionary): c.dictionary for c in chunks}.values())
