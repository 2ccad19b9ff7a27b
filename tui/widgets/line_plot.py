"""A textual-plotext line plot that redraws only when given new lines (callers do it on a timer)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual_plotext import PlotextPlot


@dataclass(frozen=True)
class Line:
    label: str
    xs: list[float]
    ys: list[float]
    marker: str = "hd"


class LinePlot(PlotextPlot):
    """Several labelled lines, optional log y-axis. ``show`` replots; nothing happens per event."""

    def __init__(self, title: str = "", xlabel: str = "", **kwargs):
        super().__init__(**kwargs)
        self.title, self.xlabel = title, xlabel
        self._key: object = None

    def show(self, lines: list[Line], log: bool = False, title: str | None = None) -> None:
        key = (tuple((ln.label, len(ln.xs), ln.ys[-1] if ln.ys else None) for ln in lines), log, title)
        if key == self._key:
            return  # nothing new: skip the rebuild
        self._key = key
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title if title is not None else self.title)
        plt.xlabel(self.xlabel)
        drawn = False
        for ln in lines:
            pts = [(x, y) for x, y in zip(ln.xs, ln.ys) if math.isfinite(y) and (y > 0 or not log)]
            if not pts:
                continue
            xs, ys = zip(*pts)
            plt.plot(list(xs), list(ys), label=ln.label, marker=ln.marker)
            drawn = True
        if log and drawn:
            plt.yscale("log")
        self.refresh()
