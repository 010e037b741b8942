"""The report's charts: matplotlib figures rendered to SVG text, deterministically.

Each chart gets its own ``svg.hashsalt`` (the ids inside one page never meet), no date in its
metadata and its text drawn as paths (``svg.fonttype = path``: the page needs no font and looks
the same in every browser). Names from the log (account ids, message types) are drawn as
written, never read as mathtext, cut to :data:`LABEL_CHARS` characters with an ellipsis.
Amounts are exact decimals everywhere in the report; here a bar's length is a float, and the
number printed beside it is the exact decimal text.
"""

from __future__ import annotations

import io
from collections import Counter
from decimal import Decimal
from typing import Sequence

LABEL_CHARS = 28
MAX_SERIES = 8                      # stacked series beyond these are drawn together as "other"
OTHER = "other"
WIDTH_IN = 9.0
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
GREY = "#bab0ac"


def short(name: str, limit: int = LABEL_CHARS) -> str:
    """``name`` as a chart shows it: at most ``limit`` characters, control characters shown as
    ``?``, and the empty name as ``(empty)``."""
    name = "".join(c if c.isprintable() else "?" for c in name) or "(empty)"
    return name if len(name) <= limit else name[: limit - 1] + "…"


def render(draw, height: float, salt: str) -> str:
    """SVG text of a figure ``WIDTH_IN`` x ``height`` inches that ``draw(figure)`` fills; ``salt``
    names the chart (its ids)."""
    import matplotlib
    from matplotlib.figure import Figure

    rc = {"svg.hashsalt": f"viber-sessions-{salt}", "svg.fonttype": "path", "text.parse_math": False,
          "font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 11,
          "axes.titleweight": "bold", "axes.titlelocation": "left", "legend.frameon": False}
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(WIDTH_IN, height), layout="constrained")
        draw(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]           # no XML declaration or doctype inside HTML


def _series(totals: Counter, limit: int = MAX_SERIES) -> tuple[list[str], dict[str, str]]:
    """The names drawn on their own (the largest first; ties by name) and each name's series."""
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    shown = ranked if len(ranked) <= limit + 1 else ranked[:limit]
    series = {name: (name if name in shown else OTHER) for name in ranked}
    return shown + ([OTHER] if len(shown) < len(ranked) else []), series


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])


def stacked_days(per_day: Counter, days: int, title: str, xlabel: str, ylabel: str, salt: str) -> str:
    """Bars per day of the month, stacked by name (``per_day``: (name, day index) -> count)."""
    import numpy as np

    totals = Counter()
    for (name, _), count in per_day.items():
        totals[name] += count
    names, series = _series(totals)
    heights = {name: np.zeros(days) for name in names}
    for (name, day), count in per_day.items():
        if 0 <= day < days:
            heights[series[name]][day] += count

    def draw(fig):
        ax = fig.add_subplot()
        ax.set_title(title)
        x = np.arange(1, days + 1)
        bottom = np.zeros(days)
        handles = []
        for k, name in enumerate(names):
            color = GREY if name == OTHER else PALETTE[k % len(PALETTE)]
            handles.append(_bars(ax, x, heights[name], bottom, color, 0.8))
            bottom += heights[name]
        ax.autoscale_view()
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if not names:
            _empty(ax, "none in this period")
            return
        ax.set_xticks(x[::2] if days > 16 else x)
        ax.set_xlim(0.3, days + 0.7)
        ax.legend(handles, [short(n) for n in names], loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        ax.yaxis.get_major_locator().set_params(integer=True)

    return render(draw, 3.3, salt)


def _bars(ax, x, heights, bottom, color: str, width: float):
    """Vertical bars (what ``ax.bar`` draws) as one collection: one artist for the series, not
    one per bar, and the y axis starting at 0 like ``ax.bar``'s."""
    from matplotlib.collections import PolyCollection

    left, right, top = x - width / 2, x + width / 2, bottom + heights
    corners = [[(a, b), (a, t), (c, t), (c, b)] for a, c, b, t in zip(left, right, bottom, top)]
    bars = PolyCollection(corners, facecolors=color, linewidths=0, edgecolors="none")
    bars.sticky_edges.y.append(0)
    ax.add_collection(bars, autolim=True)
    return bars


def amounts(accounts: Sequence[tuple[str, Sequence[tuple[str, Decimal]], str]], title: str, currency: str,
            salt: str) -> str:
    """Horizontal bars, one per account, stacked by invoice line (``accounts``: (account,
    [(line, amount)], exact total text)), the exact total printed at the end of each bar."""
    totals = Counter()
    for _, lines, _ in accounts:
        for line, amount in lines:
            totals[line] += float(amount)
    names, series = _series(totals)

    def draw(fig):
        ax = fig.add_subplot()
        ax.set_title(title)
        if not accounts:
            _empty(ax, "no account on this invoice")
            return
        y = list(range(len(accounts)))[::-1]
        left = [0.0] * len(accounts)
        handles = []
        for k, name in enumerate(names):
            color = GREY if name == OTHER else PALETTE[k % len(PALETTE)]
            widths = [sum(float(a) for line, a in lines if series[line] == name) for _, lines, _ in accounts]
            handles.append(ax.barh(y, widths, left=left, color=color, height=0.6, linewidth=0))
            left = [a + b for a, b in zip(left, widths)]
        for yy, end, (_, _, total) in zip(y, left, accounts):
            ax.annotate(f"{total} {currency}", (end, yy), xytext=(4, 0), textcoords="offset points", va="center",
                        fontsize=8)
        ax.set_yticks(y, [short(a) for a, _, _ in accounts])
        ax.set_xlim(0, max(left) * 1.3 or 1)
        ax.set_xlabel(currency)
        ax.legend(handles, [short(n) for n in names], loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)

    return render(draw, 0.9 + 0.42 * max(len(accounts), 1), salt)


def counts(panels: Sequence[tuple[str, Sequence[tuple[str, int]]]], salt: str) -> str:
    """Side-by-side horizontal bar panels of named counts (``panels``: (title, [(name, count)]))."""

    def draw(fig):
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (title, items) in zip(axes, panels):
            ax.set_title(title)
            if not sum(c for _, c in items):
                _empty(ax, "no session in this period")
                continue
            y = list(range(len(items)))[::-1]
            ax.barh(y, [c for _, c in items], color=PALETTE[0], height=0.6, linewidth=0)
            for yy, (_, c) in zip(y, items):
                ax.annotate(f"{c:,}", (c, yy), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
            ax.set_yticks(y, [short(n) for n, _ in items])
            ax.set_xlim(0, max(c for _, c in items) * 1.3)
            ax.set_xlabel("sessions")

    return render(draw, 0.9 + 0.32 * max([len(items) for _, items in panels] + [1]), salt)


def histogram(values: Counter, title: str, xlabel: str, ylabel: str, salt: str, first: int | None = None,
              last: int | None = None) -> str:
    """Bars of integer values (``values``: value -> count) from ``first`` to ``last`` (default:
    the smallest and largest value), every value its own bar."""
    import numpy as np

    def draw(fig):
        ax = fig.add_subplot()
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if not sum(values.values()):
            _empty(ax, "no session in this period")
            return
        lo = min(values) if first is None else first
        hi = max(values) if last is None else last
        x = np.arange(lo, hi + 1)
        _bars(ax, x, np.array([values.get(int(v), 0) for v in x], dtype=float), np.zeros(len(x)), PALETTE[0], 0.85)
        ax.autoscale_view()
        ax.set_xlim(lo - 0.7, hi + 0.7)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.yaxis.get_major_locator().set_params(integer=True)

    return render(draw, 3.0, salt)
