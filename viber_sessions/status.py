"""Final or provisional (README, "Monthly runs"): an invoice is final when later data cannot
change it, that is when the loaded data (or the carried-in state) reaches back to the period
start minus one window and forward to the period end plus one window; otherwise provisional.
A carried-in state covers what lies before its cut only when the loaded data reaches back to
the cut (a gap between them can hide messages). The coverage figures also give the warnings
that say which part of the period is not covered."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .timeutil import Period, iso_utc

FINAL, PROVISIONAL = "final", "provisional"


@dataclass(frozen=True)
class Coverage:
    """What the data covers against what the period needs (UTC nanoseconds)."""

    data_from: int | None      # earliest loaded instant, or where the history behind a carried-in state began
    data_to: int | None        # latest loaded instant
    needed_from: int           # period start - window
    needed_to: int             # period end + window
    open_sessions: int = 0     # sessions starting in the period still open at the end of the data
    back_covered: bool = False  # the data, or a carried-in state, reaches back to needed_from

    @property
    def status(self) -> str:
        ahead = self.data_to is not None and self.data_to >= self.needed_to
        return FINAL if self.back_covered and ahead else PROVISIONAL

    def as_dict(self) -> dict:
        at = lambda ns: None if ns is None else iso(ns)  # noqa: E731
        return {"data_from": at(self.data_from), "data_to": at(self.data_to), "needed_from": at(self.needed_from),
                "needed_to": at(self.needed_to), "open_sessions": self.open_sessions}


def iso(ns: int) -> str:
    """An instant (UTC ns) as ISO-8601 text."""
    return iso_utc(np.array([ns], dtype=np.int64))[0].as_py()


def joined(first: int | None, state_cut: int | None) -> bool:
    """Whether the loaded data reaches back to a carried-in state's cut (a row at or before the
    cut is loaded), so that nothing between the cut and the data can be missing."""
    return state_cut is not None and first is not None and first <= state_cut


def coverage(first: int | None, last: int | None, period: Period, window_ns: int, open_sessions: int = 0,
             state_cut: int | None = None, state_from: int | None = None) -> Coverage:
    """The coverage of ``period`` by data from ``first`` to ``last``. A carried-in state cut at
    ``state_cut`` (at or before the period start; its history began at ``state_from``) covers
    everything before the cut only when the loaded data reaches back to the cut: data that
    starts after the cut leaves the span between them uncovered (messages there, if any, are
    not seen), and then the data alone must reach back one window, as without a state."""
    lo, hi = period.start_ns, period.end_ns
    alone = first is not None and first <= lo - window_ns
    if joined(first, state_cut):
        data_from = state_from if state_from is not None else state_cut
        back = state_cut <= lo or alone
    else:
        data_from, back = first, alone
    return Coverage(data_from=data_from, data_to=last, needed_from=lo - window_ns, needed_to=hi + window_ns,
                    open_sessions=open_sessions, back_covered=back)


def coverage_warnings(first: int | None, last: int | None, period: Period, limits,
                      state_cut: int | None = None) -> list[str]:
    """What part of ``period`` the loaded data (from ``first`` to ``last``, ns) does not cover
    (nothing about the start when the data reaches back to a carried-in state's cut at or before
    the period start; a gap between the cut and the data is named)."""
    if first is None or last is None:
        return []
    at = iso
    lo, hi, window = period.start_ns, period.end_ns, limits.window_ns
    hours = f"{limits.window_hours:g} h"
    if last < lo or first >= hi:
        return [f"the loaded data ({at(first)} to {at(last)}) does not reach into the period {at(lo)} to {at(hi)}"]
    out = []
    if state_cut is not None and not joined(first, state_cut) and first > lo - window:
        out.append(f"the loaded data starts at {at(first)}, after the carried-in state's cut {at(state_cut)}: the span "
                   f"from {at(state_cut)} to {at(first)} is not covered (its messages, if any, are not seen); load "
                   "the data from before the cut on (rows before the cut are counted as before_cut and ignored)")
    if joined(first, state_cut) and state_cut <= lo:
        pass
    elif first > lo:
        out.append(f"the loaded data starts at {at(first)}, after the period start {at(lo)}: the period is not "
                   f"covered from {at(lo)} to {at(first)}, and sessions that began before the data are not seen")
    elif first > lo - window:
        out.append(f"the loaded data starts at {at(first)}, less than one session window ({hours}) before the "
                   f"period start {at(lo)}: sessions that began before {at(first)} are not seen, so messages of "
                   "such sessions may be billed as out of session")
    if last < hi - window:
        out.append(f"the loaded data ends at {at(last)}, more than one session window ({hours}) before the period "
                   f"end {at(hi)}: the period is not covered from {at(last)} to {at(hi)}")
    return out
