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
        return cls(int(m.group(1)), int(m.group(2)), tz)

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
