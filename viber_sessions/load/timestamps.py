"""Timestamps of any supported type as int64 UTC nanoseconds, valid in [2000-01-01, 2100-01-01)."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..timeutil import DAY_NS, MAX_NS, MIN_NS, NS, in_range, local_to_utc
from .options import EPOCH_MS_THRESHOLD, EPOCH_UNITS
from .raw import TS_UTC

_ISO_NAIVE = r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
_RE_NAIVE = f"^{_ISO_NAIVE}$"
_RE_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?\s?(Z|[+-]\d{2}(:?\d{2})?)$"
_RE_INT = r"^\d{1,19}$"          # negative epochs lie before 2000: invalid


def parse_timestamps(arr: pa.Array, input_tz: str, epoch_unit: str | None, formats: Sequence[str] = (),
                     counts: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """int64 UTC nanoseconds and a mask of invalid values, for a column of any supported type.

    Only instants in [2000-01-01, 2100-01-01) UTC are valid; a value outside, in any unit, is
    invalid (never multiplied into int64 nanoseconds first: that wraps). ``formats``: strptime
    formats that text values are read with instead of ISO-8601 / epoch numbers (tried in
    order). ``counts``, when given, receives ``naive``: how many values were wall-clock times
    read in ``input_tz``.
    """
    counts = {} if counts is None else counts
    counts["naive"] = 0
    n = len(arr)
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    exact = False                     # ok alone says which values are valid instants
    if pa.types.is_timestamp(t):
        result, ok = _scaled(_int64_values(arr), EPOCH_UNITS[t.unit], naive=t.tz is None, tz=input_tz)
        exact = t.tz is not None
        counts["naive"] = 0 if exact else len(arr) - arr.null_count
    elif pa.types.is_date(t):
        days = _int64_values(arr) if pa.types.is_date32(t) else _int64_values(arr) // 86_400_000
        result, ok = _scaled(days, DAY_NS, naive=True, tz=input_tz)
        counts["naive"] = len(arr) - arr.null_count
    elif pa.types.is_integer(t):
        result, ok = _epoch(_int64_values(arr), epoch_unit)
        exact = True
    elif (pa.types.is_string(t) or pa.types.is_large_string(t)) and formats:
        result, ok = formatted_timestamps(arr, input_tz, formats, counts)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        result, ok = _text_timestamps(arr, input_tz, epoch_unit, counts)
    else:
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    bad = ~ok
    if arr.null_count:
        bad |= arr.is_null().to_numpy(zero_copy_only=False)
    if not exact:
        bad |= ~in_range(result)
    if bad.any():
        result = np.where(bad, 0, result)
    return result, bad


def _int64_values(arr: pa.Array) -> np.ndarray:
    """The stored integers of an integer, timestamp or date column (nulls as 0; unsigned values
    past the int64 range wrap to negative values, which are invalid instants anyway)."""
    if pa.types.is_date32(arr.type):
        arr = arr.cast(pa.int32())
    values = arr.cast(pa.int64(), safe=False) if not pa.types.is_int64(arr.type) else arr
    if values.null_count:
        values = values.fill_null(0)
    return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _scaled(values: np.ndarray, unit: int, naive: bool, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """(UTC nanoseconds, valid) of values counted in ``unit`` nanoseconds, range-checked before
    they are scaled; ``naive``: wall-clock values, read in ``tz``."""
    margin = DAY_NS if naive else 0       # a wall clock is within a day of its instant
    lo, hi = (MIN_NS - margin) // unit, (MAX_NS + margin) // unit
    if not len(values) or (values.min() >= lo and values.max() < hi):     # two passes, no mask made
        ok = np.ones(len(values), dtype=bool)
        ns = values * unit if unit != 1 else values
    else:
        ok = (values >= lo) & (values < hi)
        ns = np.where(ok, values, 0)
        ns *= unit                        # in place: one full-length array, not two
    if naive:
        ns = local_to_utc(pa.array(ns, pa.timestamp("ns")), tz).cast(pa.int64()).to_numpy(zero_copy_only=False)
    return ns, ok


def _epoch(values: np.ndarray, unit: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(UTC nanoseconds, valid) of integer epoch values: in ``unit``, or seconds below
    EPOCH_MS_THRESHOLD and milliseconds from it."""
    values = values.astype(np.int64, copy=False)
    if unit is not None:
        return _scaled(values, EPOCH_UNITS[unit], naive=False, tz="UTC")
    seconds = (values > -EPOCH_MS_THRESHOLD) & (values < EPOCH_MS_THRESHOLD)
    s_ns, s_ok = _scaled(np.where(seconds, values, 0), NS, naive=False, tz="UTC")
    ms_ns, ms_ok = _scaled(np.where(seconds, 0, values), 1_000_000, naive=False, tz="UTC")
    return np.where(seconds, s_ns, ms_ns), np.where(seconds, s_ok, ms_ok)


#: The largest integer text that may be an instant before 2100 in any unit (nanoseconds).
_MAX_INT_TEXT = str(MAX_NS - 1)


def _text_timestamps(arr: pa.Array, input_tz: str, epoch_unit: str | None,
                     counts: dict) -> tuple[np.ndarray, np.ndarray]:
    """(UTC nanoseconds, valid) of ISO-8601 or integer epoch text."""
    n = len(arr)
    arr = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    # Fast path: every value has an offset.
    try:
        out = arr.cast(TS_UTC).cast(pa.int64())
        return out.fill_null(0).to_numpy(zero_copy_only=False), np.ones(n, dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    result = np.zeros(n, dtype=np.int64)
    ok = np.ones(n, dtype=bool)

    def matches(pattern):
        return pc.fill_null(pc.match_substring_regex(arr, pattern), False).to_numpy(zero_copy_only=False)

    is_int, has_off, naive = matches(_RE_INT), matches(_RE_OFFSET), matches(_RE_NAIVE)
    counts["naive"] = int(naive.sum())
    ok &= is_int | has_off | naive | arr.is_null().to_numpy(zero_copy_only=False)
    if is_int.any():
        idx = np.flatnonzero(is_int)
        values = arr.take(pa.array(idx))
        # 19 digits may pass int64: anything above the last nanosecond before 2100 is invalid
        big = ((pc.utf8_length(values).to_numpy(zero_copy_only=False) == len(_MAX_INT_TEXT))
               & pc.greater(values, _MAX_INT_TEXT).to_numpy(zero_copy_only=False))
        ok[idx[big]] = False
        idx, values = idx[~big], values.filter(pa.array(~big))
        result[idx], ok[idx] = _epoch(values.cast(pa.int64()).to_numpy(zero_copy_only=False), epoch_unit)
    for mask, convert in ((has_off, lambda a: a.cast(TS_UTC)),
                          (naive, lambda a: local_to_utc(a.cast(pa.timestamp("ns")), input_tz))):
        if mask.any():
            _convert_text(arr, np.flatnonzero(mask), convert, result, ok)
    return result, ok


def _convert_text(arr: pa.Array, idx: np.ndarray, convert, result: np.ndarray, ok: np.ndarray) -> None:
    values = arr.take(pa.array(idx))
    try:
        result[idx] = convert(values).cast(pa.int64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Some value matched the pattern but is no real date (month 13, hour 25, year 2611
        # beyond int64 nanoseconds...): find which, one by one (error path only), convert the rest.
        good = np.array([_castable(v, convert) for v in values.to_pylist()], dtype=bool)
        ok[idx[~good]] = False
        if good.any():
            result[idx[good]] = convert(values.filter(pa.array(good))).cast(pa.int64()).to_numpy(zero_copy_only=False)


def _castable(value, convert) -> bool:
    try:
        convert(pa.array([value], pa.string()))
        return True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False


def formatted_timestamps(arr: pa.Array, input_tz: str, formats: Sequence[str],
                         counts: dict) -> tuple[np.ndarray, np.ndarray]:
    """(UTC nanoseconds, valid) of text in the strptime ``formats``, tried in order.

    Vectorised: Arrow's strptime reads each format; a value it reads is kept when Arrow's
    strftime writes it back as it was (Arrow's strptime also takes day 31 of February,
    rolling it over). The values that do not come back the same (no zero padding, ``%z``
    written ``+03:00``, impossible dates) are read again by Python's strptime, one by one.
    A format without ``%z`` gives wall-clock times, read in ``input_tz``.
    """
    n = len(arr)
    text = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    result = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    naive_count = 0
    todo = np.flatnonzero(~text.is_null().to_numpy(zero_copy_only=False))
    for fmt in formats:
        if not len(todo):
            break
        values = text.take(pa.array(todo))
        parsed = pc.strptime(values, format=fmt, unit="s", error_is_null=True)   # "s": strftime's %S then has no fraction
        back = pc.strftime(parsed, format=fmt) if "%z" not in fmt else None
        same = (pc.fill_null(pc.equal(back, values), False).to_numpy(zero_copy_only=False) if back is not None
                else np.zeros(len(values), dtype=bool))
        ns = np.zeros(len(values), dtype=np.int64)
        if same.any():
            ns[same] = parsed.filter(pa.array(same)).cast(pa.int64()).to_numpy(zero_copy_only=False) * NS
        rest = np.flatnonzero(~same)
        if len(rest):
            slow_ok, slow_ns, slow_naive = _python_strptime(values.take(pa.array(rest)).to_pylist(), fmt)
            same[rest[slow_ok]] = True
            ns[rest[slow_ok]] = slow_ns[slow_ok]
            naive_rest = np.zeros(len(values), dtype=bool)
            naive_rest[rest[slow_ok & slow_naive]] = True
        else:
            naive_rest = np.zeros(len(values), dtype=bool)
        naive = same.copy() if "%z" not in fmt else naive_rest
        if naive.any():
            wall = pa.array(ns[naive], pa.timestamp("ns"))
            ns[naive] = local_to_utc(wall, input_tz).cast(pa.int64()).to_numpy(zero_copy_only=False)
            naive_count += int(naive.sum())
        result[todo[same]] = ns[same]
        ok[todo[same]] = True
        todo = todo[~same]
    counts["naive"] = naive_count
    ok &= in_range(result)
    if text.null_count:
        ok |= text.is_null().to_numpy(zero_copy_only=False)
    return result, ok


def _python_strptime(values: list, fmt: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, nanoseconds: UTC for an aware value, else wall clock, naive) by Python's strptime."""
    ok = np.zeros(len(values), dtype=bool)
    ns = np.zeros(len(values), dtype=np.int64)
    naive = np.zeros(len(values), dtype=bool)
    epoch = datetime(1970, 1, 1)
    for i, value in enumerate(values):
        try:
            d = datetime.strptime(value, fmt)
        except (ValueError, TypeError):
            continue
        if d.tzinfo is not None:
            d = (d - d.utcoffset()).replace(tzinfo=None)
        else:
            naive[i] = True
        delta = d - epoch
        ns[i] = (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000
        ok[i] = True
    return ok, ns, naive
