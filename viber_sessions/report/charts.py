"""The report's charts: matplotlib figures rendered to SVG text, deterministically.

Each chart gets its own ``svg.hashsalt`` (the ids inside one page never meet), no date in its
metadata and its text drawn as paths (``svg.fonttype = path``: the page needs no font and looks
the same in every browser). Each chart writes its own ticks and labels and places its axes
from their measured sizes (:mod:`.layout`). Names from the log (account ids, message types) are
drawn as written, never read as mathtext, cut to :data:`LABEL_CHARS` characters with an
ellipsis.
Amounts are exact decimals everywhere in the report; here a bar's length is a float, and the
number printed beside it is the exact decimal text.

This module imports nothing of the package but :mod:`.layout`: run as a script it is the chart
helper of :mod:`.painter` (:func:`serve`), which draws the charts in its own process while the
log is billed. The chart functions take plain data (names, counts, decimals) for that reason.
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import sys
import traceback
from collections import Counter
from decimal import Decimal
from typing import Sequence

if __package__:
    from .layout import EDGE, LEGEND_SIZE, RC, Frame, axis_end, fitted, legend_height, text_width
else:                               # the helper, run as a script: its folder holds layout.py (put
    # first on sys.path even where Python does not put a script's folder there: PYTHONSAFEPATH)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from layout import EDGE, LEGEND_SIZE, RC, Frame, axis_end, fitted, legend_height, text_width

LABEL_CHARS = 28
MAX_SERIES = 8                      # stacked series beyond these are drawn together as "other"
OTHER = "other"
WIDTH_IN = 9.0
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
GREY = "#bab0ac"


def short(name: str, limit: int = LABEL_CHARS) -> str:
    """``name`` as a chart shows it: at most ``limit`` characters, control characters shown as
    ``?``, and the empty name as ``(empty)``."""
    name = _printable(name)
    return name if len(name) <= limit else name[: limit - 1] + "…"


def shorts(names: Sequence[str], limit: int = LABEL_CHARS) -> list[str]:
    """:func:`short` of each of several names, told apart: names whose short forms would be
    equal keep their two ends instead (``acme-holdings-…-retail-ru-02``), and, still equal,
    end in a number (``#2``)."""
    labels = [short(n, limit) for n in names]
    clash = {label for label, k in Counter(labels).items() if k > 1}
    if clash:
        head = (limit - 1) // 2
        labels = [_ends(n, head, limit - 1 - head) if label in clash else label for n, label in zip(names, labels)]
    counts, seen = Counter(labels), Counter()
    for i, label in enumerate(labels):
        if counts[label] > 1:
            seen[label] += 1
            mark = f"#{seen[label]}"
            labels[i] = (label if len(label) + len(mark) <= limit else label[: limit - len(mark) - 1] + "…") + mark
    return labels


def _printable(name: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in name) or "(empty)"


def _ends(name: str, head: int, tail: int) -> str:
    name = _printable(name)
    return name if len(name) <= head + tail + 1 else name[:head] + "…" + name[-tail:]


def render(draw, height: float, salt: str) -> str:
    """SVG text of a figure ``WIDTH_IN`` x ``height`` inches that ``draw(figure)`` fills (placing
    its axes with :class:`~.layout.Frame`); ``salt`` names the chart (its ids)."""
    from matplotlib.figure import Figure

    with settings(salt):
        fig = Figure(figsize=(WIDTH_IN, height))
        draw(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]           # no XML declaration or doctype inside HTML


def settings(salt: str):
    """The context every chart is drawn in: matplotlib's defaults (not the calling program's
    style or a ``matplotlibrc``: the same page everywhere), then :data:`~.layout.RC` and the
    chart's ``svg.hashsalt``."""
    import matplotlib.style

    return matplotlib.style.context(["default", {**RC, "svg.hashsalt": f"viber-sessions-{salt}"}])


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


def _count_ticks(top: float) -> tuple[list[float], list[str], float]:
    """Ticks for counts up to ``top`` on a vertical axis (5 % more room above): values, labels,
    the axis end."""
    end = max(top * 1.05, 1.0)
    values, labels = fitted(0, end, float("inf"))
    return values, labels, end


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
    x = np.arange(1, days + 1)
    shown = x[::2] if days > 16 else x
    legend = shorts(names)

    def draw(fig):
        stack = sum(heights.values()) if names else np.zeros(days)
        values, labels, end = _count_ticks(float(stack.max()) if days else 0.0)
        frame = Frame(fig)
        ax, = frame.axes([frame.left(labels if names else [], ylabel)], frame.legend(legend) + EDGE,
                         frame.bottom(xlabel, bool(names)), frame.top(title))
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if not names:
            _empty(ax, "none in this period")
            return
        bottom = np.zeros(days)
        handles = []
        for k, name in enumerate(names):
            color = GREY if name == OTHER else PALETTE[k % len(PALETTE)]
            handles.append(_bars(ax, x, heights[name], bottom, color, 0.8))
            bottom += heights[name]
        ax.set_xlim(0.3, days + 0.7)
        ax.set_ylim(0, end)
        ax.set_xticks(shown, [str(d) for d in shown])
        ax.set_yticks(values, labels)
        ax.legend(handles, legend, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=LEGEND_SIZE)

    return render(draw, 3.3, salt)


def _bars(ax, x, heights, bottom, color: str, width: float):
    """Vertical bars (what ``ax.bar`` draws) as one collection: one artist for the series, not
    one per bar."""
    from matplotlib.collections import PolyCollection

    left, right, top = x - width / 2, x + width / 2, bottom + heights
    corners = [[(a, b), (a, t), (c, t), (c, b)] for a, c, b, t in zip(left, right, bottom, top)]
    bars = PolyCollection(corners, facecolors=color, linewidths=0, edgecolors="none")
    ax.add_collection(bars, autolim=False)
    return bars


def amounts(accounts: Sequence[tuple[str, Sequence[tuple[str, Decimal]], str]], title: str, currency: str,
            salt: str) -> str:
    """Horizontal bars, one per account, stacked by invoice line (``accounts``: (account,
    [(line, amount)], exact total text)), the exact total printed at the end of each bar."""
    totals = Counter()
    for _, lines, _ in accounts:
        for line_name, amount in lines:
            totals[line_name] += float(amount)
    names, series = _series(totals)
    legend = shorts(names)
    y = list(range(len(accounts)))[::-1]
    widths = {name: [sum(float(a) for line_name, a in lines if series[line_name] == name) for _, lines, _ in accounts]
              for name in names}
    ends = [sum(w[k] for w in widths.values()) for k in range(len(accounts))]
    totals_shown = [f"{total} {currency}" for _, _, total in accounts]
    accounts_shown = shorts([a for a, _, _ in accounts])

    def draw(fig):
        frame = Frame(fig)
        left, right = frame.left(accounts_shown), frame.legend(legend) + EDGE
        length = frame.width - 2 * EDGE - left - right
        end = axis_end(ends, totals_shown, length, 4)
        values, labels = fitted(0, end, length, integer=False, beyond=EDGE)
        if labels:                 # the first x label is centred on the axis' start
            left = max(left, text_width(labels[0], RC["font.size"]) / 2)
        ax, = frame.axes([left], right, frame.bottom(currency, bool(accounts)), frame.top(title))
        ax.set_title(title)
        if not accounts:
            _empty(ax, "no account on this invoice")
            return
        left = [0.0] * len(accounts)
        handles = []
        for k, name in enumerate(names):
            color = GREY if name == OTHER else PALETTE[k % len(PALETTE)]
            handles.append(ax.barh(y, widths[name], left=left, color=color, height=0.6, linewidth=0))
            left = [a + b for a, b in zip(left, widths[name])]
        for yy, right, text in zip(y, left, totals_shown):
            ax.annotate(text, (right, yy), xytext=(4, 0), textcoords="offset points", va="center", fontsize=LEGEND_SIZE)
        ax.set_yticks(y, accounts_shown)
        ax.set_ylim(-0.6, len(accounts) - 0.4)
        ax.set_xlim(0, end)
        ax.set_xticks(values, labels)
        ax.set_xlabel(currency)
        ax.legend(handles, legend, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=LEGEND_SIZE)

    around = Frame.top(title) + Frame.bottom(currency) + 2 * EDGE        # points above and below the bars
    return render(draw, max(0.9 + 0.42 * max(len(accounts), 1), (around + legend_height(len(legend))) / 72), salt)


def counts(panels: Sequence[tuple[str, Sequence[tuple[str, int]]]], salt: str) -> str:
    """Side-by-side horizontal bar panels of named counts (``panels``: (title, [(name, count)]))."""
    shown = [shorts([n for n, _ in items]) for _, items in panels]

    def draw(fig):
        frame = Frame(fig)
        axes = frame.axes([frame.left(names) for names in shown], EDGE, frame.bottom("sessions"),
                          frame.top(panels[0][0] if panels else ""), gap=3 * EDGE)
        for ax, (title, items), names in zip(axes, panels, shown):
            ax.set_title(title)
            if not sum(c for _, c in items):
                _empty(ax, "no session in this period")
                continue
            y = list(range(len(items)))[::-1]
            ax.barh(y, [c for _, c in items], color=PALETTE[0], height=0.6, linewidth=0)
            texts = [f"{c:,}" for _, c in items]
            for yy, (_, c), text in zip(y, items, texts):
                ax.annotate(text, (c, yy), xytext=(3, 0), textcoords="offset points", va="center", fontsize=LEGEND_SIZE)
            end = axis_end([c for _, c in items], texts, frame.length(ax), 3)
            room = EDGE if ax is axes[-1] else 3 * EDGE       # to the figure's edge, or to the next panel
            values, labels = fitted(0, end, frame.length(ax), most=5, beyond=room)
            ax.set_yticks(y, names)
            ax.set_ylim(-0.6, len(items) - 0.4)
            ax.set_xlim(0, end)
            ax.set_xticks(values, labels)
            ax.set_xlabel("sessions")

    return render(draw, 0.9 + 0.32 * max([len(items) for _, items in panels] + [1]), salt)


def histogram(values: Counter, title: str, xlabel: str, ylabel: str, salt: str, first: int | None = None,
              last: int | None = None) -> str:
    """Bars of integer values (``values``: value -> count) from ``first`` to ``last`` (default:
    the smallest and largest value), every value its own bar."""
    import numpy as np

    drawn = bool(sum(values.values()))
    lo = (min(values) if first is None else first) if drawn else 0
    hi = (max(values) if last is None else last) if drawn else 0
    x = np.arange(lo, hi + 1)
    heights = np.array([values.get(int(v), 0) for v in x], dtype=float)
    y_values, y_labels, end = _count_ticks(float(heights.max()) if len(x) else 0.0)
    overhang = text_width(f"{hi:,}", RC["font.size"]) / 2        # the last x label, centred on its tick

    def draw(fig):
        frame = Frame(fig)
        ax, = frame.axes([frame.left(y_labels if drawn else [], ylabel)], max(2 * EDGE, overhang + EDGE),
                         frame.bottom(xlabel, drawn), frame.top(title))
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if not drawn:
            _empty(ax, "no session in this period")
            return
        _bars(ax, x, heights, np.zeros(len(x)), PALETTE[0], 0.85)
        ax.set_xlim(lo - 0.7, hi + 0.7)
        ax.set_ylim(0, end)
        ax.set_xticks(*fitted(lo, hi, frame.length(ax), most=10))
        ax.set_yticks(y_values, y_labels)

    return render(draw, 3.0, salt)


#: The charts the helper draws, by name.
CHARTS = {"stacked_days": stacked_days, "amounts": amounts, "counts": counts, "histogram": histogram}


def warm_up() -> None:
    """Import matplotlib and draw one small chart: its modules are imported and its fonts found
    and loaded before the first chart of the report is asked for."""
    import gc

    gc.disable()            # the imports make no garbage worth a collection (about 10 % of their time)
    try:
        histogram(Counter({1: 2, 2: 1}), "warm up", "x", "y", "warm-up")
    finally:
        gc.freeze()         # what the imports made is never garbage: the collector skips it from now on
        gc.enable()


def serve(requests, replies, failed: tuple | None = None) -> None:
    """A helper's loop: read ``(key, chart name, args)`` pickles from ``requests`` and write
    ``(key, True, svg)`` or ``(key, False, (error type, message, traceback))`` pickles to
    ``replies``, until ``requests`` ends (the page is written, or the command ended in any way).
    With ``failed`` (matplotlib could not be imported), every reply is that failure."""
    while True:
        try:
            key, name, args = pickle.load(requests)
        except (EOFError, OSError, pickle.UnpicklingError):
            return
        try:
            reply = (key, False, failed) if failed else (key, True, CHARTS[name](*args))
        except Exception as exc:
            reply = (key, False, _failure(exc))
        try:
            pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
            replies.flush()
        except OSError:                       # the command is gone
            return


def _failure(exc: BaseException) -> tuple[str, str, str]:
    return type(exc).__name__, str(exc), "".join(traceback.format_exception(exc))


def main(argv: Sequence[str]) -> None:
    """The helper process (``argv``: a request and a reply descriptor per extra worker). It runs
    in its own session (the terminal's Ctrl-C goes to the command only; every worker ends when
    its requests end), writes replies on a copy of standard output (standard output itself goes
    to standard error: nothing a library prints can break a reply), warms up once, then forks
    the extra workers, warm at no cost (copy on write), and serves standard input itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    failed = None
    try:
        warm_up()
    except Exception as exc:                  # no matplotlib, or a broken one: every chart says why
        failed = _failure(exc)
    fds = [int(a) for a in argv]
    channels = list(zip(fds[::2], fds[1::2]))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)           # the workers are reaped by the system
    for k, (request_fd, reply_fd) in enumerate(channels):
        if os.fork() == 0:                    # a worker: only its own channel stays open
            for fd in (sys.stdin.fileno(), replies.fileno(), *[f for c in channels[k + 1:] for f in c]):
                os.close(fd)
            serve(os.fdopen(request_fd, "rb"), os.fdopen(reply_fd, "wb"), failed)
            os._exit(0)
        os.close(request_fd)
        os.close(reply_fd)
    serve(sys.stdin.buffer, replies, failed)
    os._exit(0)                               # nothing to tidy: the command waits for this exit


if __name__ == "__main__":
    main(sys.argv[1:])
