"""The session table with filters, and a one-line summary of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .segment import CLOSE_NAMES, ORIGIN_NAMES, Segmentation
from .timeutil import Period


def select(seg: Segmentation, accounts: Sequence[str] = (), subscribers: Sequence[str] = (),
           period: Period | None = None, close_reasons: Sequence[str] = (),
           billable: bool | None = None) -> np.ndarray:
    """A mask over the sessions: every filter given must hold (a session's period is the one
    holding its start)."""
    mask = np.ones(seg.n_sessions, dtype=bool)
    if accounts:
        names = seg.log.businesses.to_pylist()
        codes = [names.index(a) for a in accounts if a in names]
        mask &= np.isin(seg.s_business, codes)
    if subscribers:
        names = seg.log.subscribers.to_pylist()
        codes = [names.index(s) for s in subscribers if s in names]
        mask &= np.isin(seg.s_subscriber, codes)
    if period is not None:
        mask &= (seg.s_start >= period.start_ns) & (seg.s_start < period.end_ns)
    if close_reasons:
        mask &= np.isin(seg.s_close, [CLOSE_NAMES.index(c) for c in close_reasons])
    if billable is not None:
        mask &= seg.s_billable == billable
    return mask


@dataclass(frozen=True)
class Filter:
    """The filters of a session listing, as a mask over a segmentation's sessions (see
    :func:`select`); picklable, so that a Dask worker can apply it to its part."""

    accounts: tuple = ()
    subscribers: tuple = ()
    period: Period | None = None
    close_reasons: tuple = ()
    billable: bool | None = None

    def __call__(self, seg: Segmentation) -> np.ndarray:
        return select(seg, self.accounts, self.subscribers, self.period, self.close_reasons, self.billable)


class Summary:
    """Sessions by close reason and origin, the billable ones and the median size, added up
    from session tables (``--sessions-out`` columns) part by part."""

    def __init__(self):
        self.by_close = dict.fromkeys(CLOSE_NAMES, 0)
        self.by_origin = dict.fromkeys(ORIGIN_NAMES, 0)
        self.sessions = self.billable = 0
        self.sizes = np.zeros(0, dtype=np.int64)       # sessions per number of messages

    def add(self, table) -> None:
        for counts, column in ((self.by_close, "close_reason"), (self.by_origin, "origin")):
            for name in table.column(column).to_pylist():
                counts[name] += 1
        self.sessions += table.num_rows
        self.billable += int(np.sum(table.column("billable").to_numpy(zero_copy_only=False)))
        size = (table.column("inbound_messages").to_numpy(zero_copy_only=False).astype(np.int64)
                + table.column("outbound_messages").to_numpy(zero_copy_only=False))
        grown = np.bincount(size, minlength=len(self.sizes))
        grown[:len(self.sizes)] += self.sizes
        self.sizes = grown

    def tee(self, parts):
        """The parts as they are, each added on the way."""
        for part in parts:
            self.add(part)
            yield part

    def median(self) -> float:
        n = self.sessions
        if not n:
            return 0.0
        cum = np.cumsum(self.sizes)
        lo, hi = (int(np.searchsorted(cum, k, side="right")) for k in ((n - 1) // 2, n // 2))
        return (lo + hi) / 2

    def as_dict(self) -> dict:
        n = self.sessions
        return {
            "sessions": n,
            "by_close_reason": dict(self.by_close),
            "by_origin": dict(self.by_origin),
            "billable": self.billable,
            "billable_share": round(self.billable / n, 4) if n else 0.0,
            "median_messages": self.median(),
        }


def summary(table) -> dict:
    """The summary of one session table."""
    s = Summary()
    s.add(table)
    return s.as_dict()


def summary_line(s: dict) -> str:
    if not s["sessions"]:
        return "0 sessions"
    close = ", ".join(f"{k} {v}" for k, v in s["by_close_reason"].items() if v)
    origin = ", ".join(f"{k} {v}" for k, v in s["by_origin"].items() if v)
    return (f"{s['sessions']} sessions; closed: {close}; origin: {origin}; billable {s['billable']} "
            f"({s['billable_share'] * 100:.1f} %); median {s['median_messages']:g} messages per session")


def render_table(table, line: str, limit: int, console, total: int | None = None) -> None:
    """At most ``limit`` sessions of ``table`` (the first ones of ``total``) on a terminal, then
    the summary. Values read as in the CSV (``...Z`` times, ``true``/``false``) and, as in the
    invoice's table (:func:`viber_sessions.render.fit_table`), no value is ever cut: headers
    wrap at their words, and when the columns do not fit, each session is a block of
    ``column: value`` lines under its id."""
    from rich.table import Table

    columns = [c.replace("_", " ") for c in table.column_names]
    rows = cell_texts(table.slice(0, limit))
    natural = [max([len(r[k]) for r in rows] + [len(c)]) for k, c in enumerate(columns)]
    widths = [max([len(r[k]) for r in rows] + [len(w) for w in c.split()]) for k, c in enumerate(columns)]
    spare = console.width - (3 * len(columns) + 1) - sum(widths)
    if spare < 0:
        for r in rows:
            console.print(f"  {r[0]}", markup=False)
            for name, value in zip(columns[1:], r[1:]):
                if value != "":
                    console.print(f"    {name}: {value}", markup=False)
    else:
        view = Table()
        for k, name in enumerate(columns):
            give = min(spare, natural[k] - widths[k])          # headers unwrapped while there is room
            spare -= give
            view.add_column(name, width=widths[k] + give, overflow="fold",
                            justify="right" if name.endswith("messages") else "left")
        for r in rows:
            view.add_row(*r)
        console.print(view)
    total = table.num_rows if total is None else total
    if total > limit:
        console.print(f"... {total - limit} more (use --output FILE for all)", markup=False)
    console.print(line, markup=False)


def cell_texts(table) -> list[list[str]]:
    """Each row's values as the CSV writes them (:func:`viber_sessions.writing.as_text`):
    ISO-8601 UTC times, ``true``/``false``, an empty text for a missing value."""
    from .writing import as_text

    def shown(v) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return [[shown(v) for v in row.values()] for row in as_text(table).to_pylist()]
