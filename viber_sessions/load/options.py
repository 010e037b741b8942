"""The columns of a message log and the options of reading one (:class:`LoadOptions`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import UsageError
from ..timeutil import check_timezone

REQUIRED = ("message_id", "timestamp", "business_id", "subscriber_id", "direction", "message_type")
OPTIONAL = ("status",)
CANONICAL = REQUIRED + OPTIONAL
ID_COLUMNS = ("message_id", "business_id", "subscriber_id")

#: Accepted spellings of the direction (case-insensitive) -> is the message inbound?
DIRECTIONS: Mapping[str, bool] = {
    "inbound": True, "in": True, "mo": True, "incoming": True, "subscriber": True,
    "outbound": False, "out": False, "mt": False, "outgoing": False, "business": False,
}
#: Integer epoch values below this are seconds, at or above it milliseconds (auto-detection).
EPOCH_MS_THRESHOLD = 100_000_000_000
EPOCH_UNITS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
ON_INVALID = ("error", "skip")


@dataclass(frozen=True)
class LoadOptions:
    """How to read the input: column names, time zone of naive timestamps, invalid rows."""

    column_map: Mapping[str, str] = field(default_factory=dict)
    input_tz: str = "UTC"
    epoch_unit: str | None = None
    on_invalid: str = "error"

    def __post_init__(self):
        check_timezone(self.input_tz, "--input-tz")
        unknown = sorted(set(self.column_map) - set(CANONICAL))
        if unknown:
            raise UsageError(f"--map {unknown[0]}=...: {unknown[0]!r} is not a column of the log "
                             f"(columns: {', '.join(CANONICAL)})")
        sources = Counter(self.source_name(c) for c in CANONICAL)
        for c in CANONICAL:
            if sources[self.source_name(c)] > 1:
                others = [o for o in CANONICAL if o != c and self.source_name(o) == self.source_name(c)]
                raise UsageError(f"--map: {c} and {others[0]} both name the column {self.source_name(c)!r}")
        if self.epoch_unit is not None and self.epoch_unit not in EPOCH_UNITS:
            raise UsageError(f"--epoch-unit must be one of {', '.join(EPOCH_UNITS)}, not {self.epoch_unit!r}")
        if self.on_invalid not in ON_INVALID:
            raise UsageError(f"--on-invalid must be 'error' or 'skip', not {self.on_invalid!r}")

    def source_name(self, canonical: str) -> str:
        return self.column_map.get(canonical, canonical)
