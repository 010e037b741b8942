"""Damage a file's reader does not notice: dictionary codes outside their dictionary, and string
bytes that are not UTF-8 text (Parquet and JSON readers do not check them). Refused as one
``damaged_column`` problem naming the file, the column and the first bad value."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, Problem
from .chunks import same_buffers
from .options import LoadOptions
from .raw import first_line


def check_dictionaries(name: str, table: pa.Table, options: LoadOptions) -> None:
    """Refuse a dictionary column (as Parquet gives them) whose dictionary holds bytes that are
    not UTF-8 text or whose codes point outside it: a damaged file its reader did not notice,
    which would otherwise stop the run with an internal error or, through a clipped lookup,
    bill wrong values. Each distinct dictionary is validated once; the codes' range costs a
    few milliseconds per 10 million rows. A plain string column (message ids) is refused too
    when its bytes are not UTF-8 text (:func:`check_utf8`), which would otherwise reach the
    audit files as they are or stop the run with an internal error."""
    for c in table.column_names:
        col = table.column(c)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            for chunk in col.chunks:
                check_utf8(name, options.source_name(c), chunk)
        if not pa.types.is_dictionary(col.type):
            continue
        checked = set()
        for chunk in col.chunks:
            key = same_buffers(chunk.dictionary)
            try:
                if key not in checked:
                    if pa.types.is_string(chunk.dictionary.type) or pa.types.is_large_string(chunk.dictionary.type):
                        check_utf8(name, options.source_name(c), chunk.dictionary)    # names the value
                    chunk.dictionary.validate(full=True)
                    checked.add(key)
            except pa.ArrowInvalid as exc:
                raise InputError(Problem(name, None, options.source_name(c), "damaged_column",
                                         f"the file is damaged: {first_line(str(exc))}")) from None
            low, high = pc.min_max(chunk.indices).values()          # nulls left out
            if high.is_valid and (low.as_py() < 0 or high.as_py() >= len(chunk.dictionary)):
                raise InputError(Problem(name, None, options.source_name(c), "damaged_column",
                                         "the file is damaged: a value's code is outside the column's dictionary"))


def check_utf8(name: str, column: str, chunk: pa.Array) -> None:
    """Refuse a string array whose bytes are not UTF-8 text (the Parquet and JSON readers do not
    check): bytes all below 0x80 are (about 6 ms per 10 million ids); others are validated by
    Arrow, and the first bad value is named (its first 80 characters)."""
    if not len(chunk):
        return
    large = pa.types.is_large_string(chunk.type)
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64 if large else np.int32, count=len(chunk) + 1,
                            offset=chunk.offset * (8 if large else 4))
    data = chunk.buffers()[2]
    if data is None or offsets[-1] <= offsets[0] or \
            np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]].max() < 0x80:
        return
    try:
        chunk.validate(full=True)
        return
    except pa.ArrowInvalid:
        pass
    raw = chunk.view(pa.large_binary() if large else pa.binary()).to_pylist()
    value = next(v for v in raw if v is not None and not _is_utf8(v)).decode("utf-8", "replace")
    raise InputError(Problem(name, None, column, "damaged_column",
                             "a value is not UTF-8 text: the file is damaged, or (JSON Lines) in another encoding "
                             "(see --encoding)", value if len(value) <= 80 else value[:77] + "..."))


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
