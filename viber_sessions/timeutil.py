"""Time zones, billing periods and instants (int64 nanoseconds since the epoch, UTC)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import UsageError

NS = 1_000_000_000
#: Valid instants lie in [2000-01-01, 2100-01-01) UTC (DECISIONS "Time"); anything else, in any
#: unit or format, is an invalid timestamp.
MIN_NS = 946_684_800 * NS
MAX_NS = 4_102_444_800 * NS
DAY_NS = 86_400 * NS


def check_timezone(name: str, option: str = "--tz") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise UsageError(f"{option}: unknown time zone {name!r} (use an IANA name such as Europe/Moscow)") from None


def to_ns(dt: datetime) -> int:
    delta = dt.astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000


@dataclass(frozen=True)
class Period:
    """A calendar month in a billing time zone: [start, end) as UTC nanoseconds."""

    year: int
    month: int
    tz: str

    @classmethod
    def parse(cls, text: str, tz: str = "UTC") -> "Period":
        m = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise UsageError(f"--period must be a month as YYYY-MM (e.g. 2026-10), not {text!r}")
        check_timezone(tz)
        period = cls(int(m.group(1)), int(m.group(2)), tz)
        if not 1999 <= period.year <= 2100 or period.end_ns <= MIN_NS or period.start_ns >= MAX_NS:
            raise UsageError(f"--period {text.strip()}: no valid timestamp lies in this month (valid instants lie "
                             "in [2000-01-01, 2100-01-01) UTC)")
        return period

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start_ns(self) -> int:
        return to_ns(datetime(self.year, self.month, 1, tzinfo=ZoneInfo(self.tz)))

    @property
    def end_ns(self) -> int:
        y, m = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return to_ns(datetime(y, m, 1, tzinfo=ZoneInfo(self.tz)))


def month_labels(ts_ns: np.ndarray, tz: str) -> tuple[np.ndarray, list[str]]:
    """Codes and labels (``YYYY-MM``) of the billing month of each instant, in time zone ``tz``."""
    if len(ts_ns) == 0:
        return np.zeros(0, np.int32), []
    local = pc.local_timestamp(pa.array(ts_ns, pa.timestamp("ns", tz=tz))) if tz != "UTC" \
        else pa.array(ts_ns, pa.timestamp("ns"))
    key = (pc.year(local).to_numpy().astype(np.int32) * 12 + pc.month(local).to_numpy().astype(np.int32) - 1)
    uniq, codes = np.unique(key, return_inverse=True)
    labels = [f"{k // 12:04d}-{k % 12 + 1:02d}" for k in uniq.tolist()]
    return codes.astype(np.int32), labels


def iso_utc(ts_ns: np.ndarray) -> pa.Array:
    """ISO-8601 UTC strings (``2026-10-05T09:00:00Z``; fractions of a second only when present)."""
    arr = pa.array(np.asarray(ts_ns, dtype=np.int64), pa.timestamp("ns", tz="UTC"))
    whole = pc.strftime(arr.cast(pa.timestamp("s", tz="UTC"), safe=False), "%Y-%m-%dT%H:%M:%SZ")
    frac = np.asarray(ts_ns, dtype=np.int64) % NS
    if not frac.any():
        return whole
    detailed = pc.strftime(arr, "%Y-%m-%dT%H:%M:%S")  # seconds with 9 decimals
    trimmed = pc.utf8_rtrim(pc.utf8_rtrim(detailed, "0"), ".")
    return pc.if_else(pa.array(frac != 0), pc.binary_join_element_wise(trimmed, "Z", ""), whole)


def in_range(ts_ns: np.ndarray) -> np.ndarray:
    """Which instants (int64 UTC nanoseconds) lie in [MIN_NS, MAX_NS)."""
    return (ts_ns >= MIN_NS) & (ts_ns < MAX_NS)


def local_to_utc(wall: pa.Array, tz: str) -> pa.Array:
    """Wall-clock times (a zone-less ``timestamp[ns]`` array) read in ``tz``, as
    ``timestamp[ns, UTC]`` (nulls stay null).

    A time that a daylight-saving change makes ambiguous is the earlier instant; one that the
    change skips is read with the offset in force before the change, like Python's ``fold=0``
    (README, "Decisions where the rules are silent"), so skipped times keep their order and spacing. Arrow's
    ``nonexistent="earliest"`` maps every skipped time to the last nanosecond before the
    change (a whole second minus 1 ns), so only values ending in ``.999999999`` are looked at
    again: the common path is one vectorised call.
    """
    if tz == "UTC":
        return wall.cast(pa.timestamp("ns", tz="UTC"))
    out = pc.assume_timezone(wall, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    ns = out.cast(pa.int64())
    values = (ns.fill_null(0) if ns.null_count else ns).to_numpy(zero_copy_only=False)
    suspect = np.flatnonzero(values % NS == NS - 1)
    if not len(suspect):
        return out
    idx = pa.array(suspect)
    wall_ns = wall.take(idx).cast(pa.int64()).to_numpy(zero_copy_only=False)
    local_ns = pc.local_timestamp(out.take(idx)).cast(pa.int64()).to_numpy(zero_copy_only=False)
    gap = local_ns != wall_ns                 # the wall time does not exist in tz
    if not gap.any():
        return out
    offset_before = local_ns[gap] - values[suspect[gap]]   # UTC offset just before the change
    values = values.copy()
    values[suspect[gap]] = wall_ns[gap] - offset_before
    mask = ns.is_null().to_numpy(zero_copy_only=False) if ns.null_count else None
    return pa.array(values, pa.timestamp("ns", tz="UTC"), mask=mask)
