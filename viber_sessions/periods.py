"""Which months a run bills (README, "Monthly runs"): ``--period`` given once as a month
(``2026-10``: one invoice, the single-invoice shape), as a range (``2026-07..2026-10``) or repeated
(both give the several-invoices shape, even for one month), sorted, each month at most once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .errors import UsageError
from .timeutil import Period

#: At most this many months in one run (a typo such as 2026-01..2062-01 is refused, not billed).
MAX_PERIODS = 1200


@dataclass(frozen=True)
class PeriodSelection:
    """The months to bill, sorted, and whether the invoices come as a list (``{"invoices": [...]}``)."""

    periods: tuple[Period, ...]
    several: bool

    @property
    def first(self) -> Period:
        return self.periods[0]

    @property
    def last(self) -> Period:
        return self.periods[-1]


def month_range(text: str, tz: str) -> list[Period]:
    """``A..B``: every month from A to B, both included."""
    a, _, b = text.partition("..")
    start, end = Period.parse(a, tz), Period.parse(b, tz)
    first, last = start.year * 12 + start.month - 1, end.year * 12 + end.month - 1
    if last < first:
        raise UsageError(f"--period {text}: the range ends before it starts (write the earlier month first)")
    if last - first + 1 > MAX_PERIODS:
        raise UsageError(f"--period {text}: {last - first + 1} months; at most {MAX_PERIODS} in one run")
    return [Period(k // 12, k % 12 + 1, tz) for k in range(first, last + 1)]


def parse_periods(values: Sequence[str], tz: str = "UTC") -> PeriodSelection:
    """The ``--period`` values of a run: one month, a range, or several of either; a month
    given twice (also through overlapping ranges) is a usage error."""
    values = [v.strip() for v in values or () if v and v.strip()]
    if not values:
        raise UsageError("--period is required (a month as YYYY-MM, or a range such as 2026-07..2026-10)")
    months: list[Period] = []
    for v in values:
        months += month_range(v, tz) if ".." in v else [Period.parse(v, tz)]
    seen: dict[str, int] = {}
    for p in months:
        seen[str(p)] = seen.get(str(p), 0) + 1
    twice = sorted(k for k, c in seen.items() if c > 1)
    if twice:
        raise UsageError(f"--period: {', '.join(twice)} given more than once; each month is billed once per run")
    ordered = tuple(sorted(months, key=lambda p: (p.year, p.month)))
    return PeriodSelection(ordered, several=len(values) > 1 or ".." in values[0])
