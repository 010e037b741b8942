"""One file's raw canonical columns (:class:`RawFile`), the checks of its columns, blank rows,
and the errors of reading a file turned into one line that names it."""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, Problem
from .options import CANONICAL, REQUIRED, LoadOptions


@dataclass
class BadCells:
    """Cells a reader found invalid before typing (a JSON object in a text column, an ``.xlsx``
    text that is no timestamp): ``values`` (text, one per table row) is non-null at each invalid
    cell of the canonical ``column`` and shows what the file holds there; the table itself holds
    null there. ``code``: ``bad_value`` or ``bad_timestamp``."""

    column: str
    code: str
    values: pa.Array

    def mask(self) -> np.ndarray:
        return self.values.is_valid().to_numpy(zero_copy_only=False)

    def take(self, indices) -> "BadCells":
        return BadCells(self.column, self.code, self.values.take(pa.array(indices, pa.int64())))


@dataclass
class RawFile:
    """One file's canonical columns (or one batch of them), and what was set aside on the way.

    ``malformed`` holds the data rows that could not be split into fields, as ``(data row,
    text, code)`` (a quote left open at the line end, a wrong number of fields, text that is not
    UTF-8; data rows count from 1 after the header, blank lines not counted); with
    ``on_invalid="error"`` only the first ones are kept and ``n_malformed`` counts them all.
    ``blank`` counts blank lines and all-empty rows (no data rows); ``notices`` are load-time
    warnings; ``header`` is False for a file without any non-blank line; ``bad_cells`` the
    cells the reader found invalid (:class:`BadCells`, aligned with ``table``); ``normalising``
    the subscribers' e164 parses the reader started (taken by the typing).
    """

    table: pa.Table
    malformed: list[tuple[int, str, str]] = field(default_factory=list)
    blank: int = 0
    notices: list[Problem] = field(default_factory=list)
    n_malformed: int | None = None
    header: bool = True
    bad_cells: list[BadCells] = field(default_factory=list)
    normalising: object | None = None      # e164 parses started while the file was read (phones.Normalising)

    @property
    def malformed_count(self) -> int:
        return len(self.malformed) if self.n_malformed is None else self.n_malformed


DICT = pa.dictionary(pa.int32(), pa.string())
#: Read dictionary-encoded (the reader encodes them, in parallel): everything but the message id.
DICT_COLUMNS = ("business_id", "subscriber_id", "direction", "message_type", "status")
TS_UTC = pa.timestamp("ns", tz="UTC")
#: Invalid data lines whose text is kept with --on-invalid error (the first is reported, all counted).
KEEP_WHEN_ERROR = 100


@contextlib.contextmanager
def reading(name: str):
    """Turn the errors of reading ``name`` into one InputError line that names the file."""
    try:
        yield
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(Problem(name, None, None, "missing_file", "no such file")) from None
    except (pa.ArrowMemoryError, MemoryError):
        raise InputError(Problem(name, None, None, "too_large", "not enough memory to read this file "
                                 "(bill it with --memory-limit)")) from None
    except (pa.ArrowException, OSError, UnicodeDecodeError, EOFError) as exc:
        text = first_line(str(exc))
        if "truncated compressed stream" in text.lower() or isinstance(exc, EOFError):
            raise InputError(Problem(name, None, None, "truncated", "the compressed file is cut short "
                                     "(the end of its compressed stream is missing)")) from None
        raise InputError(Problem(name, None, None, "unreadable", text)) from None


def drop_blank_rows(table: pa.Table) -> tuple[pa.Table, int]:
    """Leave out the rows whose every column is null or empty (blank rows, not data rows)."""
    blank = all_missing(table, first="message_id")
    if blank is None:
        return table, 0
    return table.filter(pa.array(~blank)), int(blank.sum())


def all_missing(table: pa.Table, first: str | None = None) -> np.ndarray | None:
    """Which rows have every column null or empty; None when no row has (the common case costs
    one look at the first column, chunk by chunk: nothing is copied)."""
    if table.num_rows == 0 or table.num_columns == 0:
        return None
    names = table.column_names
    order = ([first] if first in names else []) + [n for n in names if n != first]
    if not any(_may_be_missing(chunk) for chunk in table.column(order[0]).chunks):
        return None
    empty = None
    for name in order:
        column = table.column(name)
        missing = np.concatenate([missing_mask(chunk) for chunk in column.chunks]) if column.num_chunks \
            else np.zeros(0, bool)
        empty = missing if empty is None else empty & missing
        if not empty.any():
            return None
    return empty


def _may_be_missing(chunk: pa.Array) -> bool:
    """False when no value of ``chunk`` is null or empty, as its buffers show (a plain string
    chunk: no offset repeats; nothing is allocated but one comparison); True when it may be."""
    if chunk.null_count:
        return True
    t = chunk.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)):
        return len(chunk) > 0 and missing_mask(chunk).any()
    width = np.int64 if pa.types.is_large_string(t) or pa.types.is_large_binary(t) else np.int32
    offsets = np.frombuffer(chunk.buffers()[1], dtype=width, count=chunk.offset + len(chunk) + 1)[chunk.offset:]
    return bool((offsets[1:] == offsets[:-1]).any())


def first_line(text: str) -> str:
    text = text.strip().splitlines()[0] if text.strip() else "cannot be read"
    return text[:300]


def check_columns(name: str, names: Sequence[str], options: LoadOptions) -> None:
    """Every required column present, and no canonical column twice (also after --map)."""
    missing = [c for c in REQUIRED if options.source_name(c) not in names]
    if missing:
        c = missing[0]
        src = options.source_name(c)
        hint = f" (mapped from {src!r} with --map)" if src != c else " (use --map to name another column)"
        if any("\ufffd" in n for n in names):
            hint += "; the header is not UTF-8: give the file's encoding with --encoding (e.g. cp1251)"
        shown = ", ".join(n if n.isprintable() else repr(n) for n in names)
        if len(shown) > 300:
            shown = shown[:300] + "..."
        raise InputError(Problem(name, None, src, "missing_column",
                                 f"required column is missing{hint}; the file has: {shown}"))
    rename = {options.source_name(c): c for c in CANONICAL}
    after = Counter(rename.get(n, n) for n in names)
    for c in CANONICAL:
        if after[c] > 1:
            sources = [n for n in names if rename.get(n, n) == c]
            if len(set(sources)) == 1:
                message = f"{len(sources)} columns have this name; rename or drop all but one"
            else:
                message = (f"columns {', '.join(repr(s) for s in dict.fromkeys(sources))} would all be "
                           f"{c!r} after --map; rename or drop the others")
            raise InputError(Problem(name, None, sources[0], "duplicate_column", message))


#: Values of a string column looked at in one step by :func:`has_empty`.
EMPTY_BLOCK = 1 << 20


def has_empty(arr: pa.Array) -> bool:
    """Whether a string or binary array (not chunked) holds an empty value, told from its
    offsets block by block: no array of the column's length is made (a null's slot may count
    as empty: the caller looks at nulls first)."""
    if not len(arr):
        return False
    large = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if large else np.int32, count=len(arr) + 1,
                            offset=arr.offset * (8 if large else 4))
    for start in range(0, len(arr), EMPTY_BLOCK):
        block = offsets[start:start + EMPTY_BLOCK + 1]
        if (block[1:] == block[:-1]).any():
            return True
    return False


def missing_mask(arr: pa.Array) -> np.ndarray:
    """Null, or an empty string (fast when there is none)."""
    if pa.types.is_dictionary(arr.type):
        values = arr.dictionary
        empty = np.append(pc.fill_null(pc.equal(values, ""), True).to_numpy(zero_copy_only=False), True)
        if arr.null_count == 0 and not empty[:-1].any():
            return np.zeros(len(arr), dtype=bool)
        return empty[arr.indices.fill_null(len(values)).to_numpy(zero_copy_only=False)]
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        if arr.null_count == 0 and not has_empty(arr):
            return np.zeros(len(arr), dtype=bool)
        return pc.fill_null(pc.equal(pc.binary_length(arr), 0), True).to_numpy(zero_copy_only=False)
    return arr.is_null().to_numpy(zero_copy_only=False)
