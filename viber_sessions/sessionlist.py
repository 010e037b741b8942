"""The session table with filters, and a one-line summary of it."""

from __future__ import annotations

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


def summary(seg: Segmentation, mask: np.ndarray) -> dict:
    n = int(mask.sum())
    by_close = np.bincount(seg.s_close[mask], minlength=len(CLOSE_NAMES))
    by_origin = np.bincount(seg.s_origin[mask], minlength=len(ORIGIN_NAMES))
    sizes = (seg.s_inbound[mask].astype(np.int64) + seg.s_outbound[mask])
    return {
        "sessions": n,
        "by_close_reason": {name: int(c) for name, c in zip(CLOSE_NAMES, by_close)},
        "by_origin": {name: int(c) for name, c in zip(ORIGIN_NAMES, by_origin)},
        "billable": int(seg.s_billable[mask].sum()),
        "billable_share": round(float(seg.s_billable[mask].mean()), 4) if n else 0.0,
        "median_messages": float(np.median(sizes)) if n else 0.0,
    }


def summary_line(s: dict) -> str:
    if not s["sessions"]:
        return "0 sessions"
    close = ", ".join(f"{k} {v}" for k, v in s["by_close_reason"].items() if v)
    origin = ", ".join(f"{k} {v}" for k, v in s["by_origin"].items() if v)
    return (f"{s['sessions']} sessions; closed: {close}; origin: {origin}; billable {s['billable']} "
            f"({s['billable_share'] * 100:.1f} %); median {s['median_messages']:g} messages per session")


def render_table(table, line: str, limit: int, console) -> None:
    """At most ``limit`` sessions on a terminal (long values wrap, none is cut), then the summary."""
    from rich.table import Table

    view = Table()
    for col in table.column_names:
        view.add_column(col, overflow="fold")
    for row in table.slice(0, limit).to_pylist():
        view.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(view)
    if table.num_rows > limit:
        console.print(f"... {table.num_rows - limit} more (use --output FILE for all)", markup=False)
    console.print(line, markup=False)
