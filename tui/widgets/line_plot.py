"""A textual-plotext line plot that redraws only when given new lines (callers do it on a timer)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual.app import RenderResult
from textual_plotext import PlotextPlot


@dataclass(frozen=True)
class Line:
    label: str
    xs: list[float]
    ys: list[float]
    marker: str = "hd"
    scatter: bool = False  # points only (a metric against a parameter)


class LinePlot(PlotextPlot):
    """Several labelled lines, optional log y-axis.

    ``show`` stores the lines and refreshes only when they changed; ``render`` rebuilds the figure from them each
    time, because plotext transforms its data in place (a log scale applied twice, on a resize, would fail).
    """

    def __init__(self, title: str = "", xlabel: str = "", **kwargs):
        super().__init__(**kwargs)
        self.title, self.xlabel = title, xlabel
        self._lines: list[Line] = []
        self._log = False
        self._title: str | None = None
        self._key: object = None

    def show(self, lines: list[Line], log: bool = False, title: str | None = None) -> None:
        key = (tuple((ln.label, tuple(ln.xs), tuple(ln.ys)) if ln.scatter else
                     (ln.label, len(ln.xs), ln.ys[-1] if ln.ys else None) for ln in lines), log, title, self.xlabel)
        if key == self._key:
            return  # nothing new: skip the rebuild
        self._key = key
        self._lines, self._log, self._title = lines, log, title
        self.refresh()

    def render(self) -> RenderResult:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self._title if self._title is not None else self.title)
        plt.xlabel(self.xlabel)
        drawn = False
        most = max(64, 4 * self.size.width)  # more points than the plot has dots only costs time
        for ln in self._lines:
            pts = [(x, y) for x, y in zip(ln.xs, ln.ys) if math.isfinite(y) and (y > 0 or not self._log)]
            if not pts:
                continue
            if len(pts) > most:
                step = len(pts) / most
                pts = [pts[int(i * step)] for i in range(most)] + [pts[-1]]
            xs, ys = zip(*pts)
            draw = plt.scatter if ln.scatter else plt.plot
            draw(list(xs), list(ys), label=ln.label, marker=ln.marker)
            drawn = True
        if self._log and drawn:
            plt.yscale("log")
        return super().render()
