"""Where the parts of a chart go (:mod:`.charts`), measured instead of found by drawing.

Every tick and label of a chart is a string written by the chart itself (counts with thousands
separators), so the margins around its axes are measured from those strings (matplotlib's
text-to-path measure, the one the SVG's text is drawn with) and the axes placed once
(:class:`Frame`): a layout engine (matplotlib's constrained or tight layout) would draw every
axis once more only to measure it, a third of a chart's time. Tick values are matplotlib's
round numbers (``MaxNLocator``), as many as the axis has room for (:func:`fitted`). Sizes are in
points. Every chart is drawn from matplotlib's own defaults plus :data:`RC`: neither a style the
calling program chose nor a ``matplotlibrc`` changes the page.

Like :mod:`.charts`, this module imports nothing of the package (the charts' helper runs them as
plain files).
"""

from __future__ import annotations

from typing import Sequence

#: The charts' matplotlib settings, over matplotlib's defaults (:class:`Frame` reads the sizes).
RC = {"svg.fonttype": "path", "text.parse_math": False, "font.size": 9.0, "axes.spines.top": False,
      "axes.spines.right": False, "axes.titlesize": 11.0, "axes.titleweight": "bold", "axes.titlelocation": "left",
      "axes.labelsize": 9.0, "xtick.labelsize": 9.0, "ytick.labelsize": 9.0, "legend.fontsize": 8.0,
      "legend.frameon": False, "axes.titlepad": 6.0, "axes.labelpad": 4.0, "xtick.major.size": 3.5,
      "ytick.major.size": 3.5, "xtick.major.pad": 3.5, "ytick.major.pad": 3.5, "legend.labelspacing": 0.5,
      "legend.borderpad": 0.4, "legend.borderaxespad": 0.5, "legend.handlelength": 2.0,
      "legend.handletextpad": 0.8}
LEGEND_SIZE = RC["legend.fontsize"]
EDGE = 6.0                          # points of white around the whole figure
LINE = 1.25                         # the height of a line of text, in font sizes
GAP = 8.0                           # points at least between two tick labels side by side


def text_width(text: str, size: float) -> float:
    """The width in points of one line of ``text`` in the charts' font at ``size`` points."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    return text_to_path.get_text_width_height_descent(text, FontProperties(size=size), ismath=False)[0]


def legend_height(entries: int) -> float:
    """The points a legend of ``entries`` lines takes, top to bottom."""
    if not entries:
        return 0.0
    spacing = RC["legend.labelspacing"] * LEGEND_SIZE
    return entries * LINE * LEGEND_SIZE + (entries - 1) * spacing + 2 * RC["legend.borderpad"] * LEGEND_SIZE


class Frame:
    """Where a chart's axes go, from what is written around them: its title, axis labels, tick
    labels and legend labels. Margins in points."""

    def __init__(self, fig) -> None:
        self.fig = fig
        self.width, self.height = (v * 72.0 for v in fig.get_size_inches())

    @staticmethod
    def left(ytick_labels: Sequence[str], ylabel: str = "") -> float:
        widest = max((text_width(t, RC["font.size"]) for t in ytick_labels), default=0.0)
        return (RC["ytick.major.size"] + RC["ytick.major.pad"] + widest
                + (RC["axes.labelpad"] + LINE * RC["font.size"] if ylabel else 0.0))

    @staticmethod
    def bottom(xlabel: str = "", ticks: bool = True) -> float:
        marks = RC["xtick.major.size"] + RC["xtick.major.pad"] + LINE * RC["font.size"] if ticks else 0.0
        return marks + (RC["axes.labelpad"] + LINE * RC["font.size"] if xlabel else 0.0)

    @staticmethod
    def top(title: str = "") -> float:
        return RC["axes.titlepad"] + LINE * RC["axes.titlesize"] if title else 0.0

    @staticmethod
    def legend(labels: Sequence[str]) -> float:
        """The width of a legend of ``labels`` placed outside the axes on the right."""
        if not labels:
            return 0.0
        widest = max(text_width(t, LEGEND_SIZE) for t in labels)
        em = (RC["legend.borderaxespad"] + 2 * RC["legend.borderpad"] + RC["legend.handlelength"]
              + RC["legend.handletextpad"])
        return widest + em * LEGEND_SIZE

    def axes(self, lefts: Sequence[float], right: float, bottom: float, top: float, gap: float = 0.0) -> list:
        """One axes per entry of ``lefts`` (the points its labels take at its left), side by
        side, ``gap`` points apart, ``right`` points after the last, ``bottom`` and ``top``
        points below and above them."""
        each = max((self.width - 2 * EDGE - sum(lefts) - right - gap * (len(lefts) - 1)) / len(lefts), 10.0)
        y0 = EDGE + bottom
        h = max(self.height - y0 - EDGE - top, 10.0)
        x, boxes = EDGE, []
        for left in lefts:
            x += left
            boxes.append(self.fig.add_axes((x / self.width, y0 / self.height, each / self.width, h / self.height)))
            x += each + gap
        return boxes

    def length(self, ax) -> float:
        """The width of ``ax`` in points."""
        return ax.get_position().width * self.width


def ticks(low: float, high: float, integer: bool = True, most: int = 6) -> list[float]:
    """Round tick values from ``low`` to ``high`` (matplotlib's MaxNLocator), none outside."""
    from matplotlib.ticker import MaxNLocator

    locator = MaxNLocator(nbins=most, integer=integer, steps=[1, 2, 2.5, 5, 10])
    values = locator.tick_values(low, high if high > low else low + 1)
    slack = 1e-9 * abs(high - low)
    return [float(v) for v in values if low - slack <= v <= max(high, low) + slack]


def tick_labels(values: Sequence[float]) -> list[str]:
    """``values`` as written under their ticks: thousands separated, with as few decimals as
    keep each label its tick's value (all the same)."""
    step = min((b - a for a, b in zip(values, values[1:]) if b > a), default=max(map(abs, values), default=0) or 1.0)
    places = 0
    while places < 15 and any(abs(round(v, places) - v) > step * 1e-6 for v in values):
        places += 1
    return [f"{v:,.{places}f}" for v in values]


def fitted(low: float, high: float, length: float, integer: bool = True, most: int = 6,
           beyond: float = float("inf")) -> tuple[list, list]:
    """Tick values from ``low`` to ``high`` and their labels, as many as fit side by side on an
    axis ``length`` points long (at most ``most`` steps), none whose label, centred on its tick,
    would reach more than ``beyond`` points past the axis' end."""
    for n in range(most, 0, -1):
        values = ticks(low, high, integer, n)
        labels = tick_labels(values)
        widths = [text_width(t, RC["font.size"]) for t in labels]
        if sum(w + GAP for w in widths) <= length or n == 1:
            break
    span = (high - low) or 1.0
    kept = [(v, t) for v, t, w in zip(values, labels, widths) if (v - low) / span * length + w / 2 <= length + beyond]
    return [v for v, _ in kept], [t for _, t in kept]


def axis_end(ends: Sequence[float], texts: Sequence[str], length: float, offset: float) -> float:
    """Where a value axis ``length`` points long must end for bars of ``ends`` to keep room for
    ``texts`` (each drawn ``offset`` points after its bar's end) and 5 % to spare."""
    end = max(max(ends, default=0.0) * 1.05, 1e-12)
    for value, text in zip(ends, texts):
        room = min((text_width(text, LEGEND_SIZE) + offset + EDGE) / max(length, 1.0), 0.8)
        end = max(end, value / (1.0 - room))
    return end if max(ends, default=0.0) > 0 else 1.0


__all__ = ["EDGE", "Frame", "GAP", "LEGEND_SIZE", "LINE", "RC", "axis_end", "fitted", "legend_height", "text_width",
           "tick_labels", "ticks"]
