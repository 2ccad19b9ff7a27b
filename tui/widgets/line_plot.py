"""A textual-plotext line plot that redraws only when given new lines (callers do it on a timer)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.message import Message
from textual.strip import Strip
from textual.worker import Worker, WorkerState, get_current_worker

from ..adapters.plotext_private import ThemedPlot, build_matrix, colors_to_ansi
from ..history import decimate
from .repaint import repaint


@dataclass(frozen=True)
class Line:
    label: str
    xs: list[float]
    ys: list[float]
    marker: str = "hd"
    scatter: bool = False  # points only (a metric against a parameter)


_STYLES: dict[tuple, Style] = {}


def _style(colors: tuple) -> Style:
    """The Rich style of a plotext (foreground, style, background) triple, as plotext's own ANSI codes say it."""
    style = _STYLES.get(colors)
    if style is None:
        spans = Text.from_ansi(colors_to_ansi(*colors) + "x").spans
        style = _STYLES[colors] = Style.combine(
            Style.parse(s.style) if isinstance(s.style, str) else s.style for s in spans) if spans else Style.null()
    return style


def figure_strips(matrix, width: int) -> list[Strip]:
    """Screen lines of a built plotext figure, read from its matrix of cells (top row first).

    Same lines and styles as parsing ``plt.build()``'s ANSI output (a test checks), at half the cost of a figure:
    the string and its parse are skipped. Runs of cells with the same colours make one segment each.
    """
    cols = matrix.cols
    strips = []
    for row in matrix.Rows[::-1]:
        markers, fg, st, bg = matrix.marker[row], matrix.fullground[row], matrix.style[row], matrix.background[row]
        segments, start = [], 0
        for col in range(1, cols + 1):
            if col == cols or fg[col] != fg[start] or st[col] != st[start] or bg[col] != bg[start]:
                segments.append(Segment("".join(markers[start:col]), _style((fg[start], st[start], bg[start]))))
                start = col
        strips.append(Strip(segments, cols).adjust_cell_length(width))
    return strips


class LinePlot(ThemedPlot):
    """Several labelled lines, optional log y-axis.

    ``show`` stores the lines; the figure is built in a thread worker, down to screen lines (plotext's Python
    drawing and the conversion of its output cost tens of ms on a small CPU, which would otherwise hold up key
    presses), and painted when ready: ``render_line`` only hands out those lines. Each build starts from a clear
    figure, because plotext transforms its data in place (a log scale applied twice, on a resize, would fail).
    """

    class Built(Message):
        def __init__(self, strips: list[Strip], key: object) -> None:
            super().__init__()
            self.strips, self.key = strips, key

    def __init__(self, title: str = "", xlabel: str = "", **kwargs):
        super().__init__(**kwargs)
        self.title, self.xlabel = title, xlabel
        self._lines: list[Line] = []
        self._log = False
        self._title: str | None = None
        self._key: object = None  # what the lines are
        self._drawn: object = None  # what the shown figure was built from (lines and size)
        self._strips: list[Strip] = []
        self._plt_lock = threading.Lock()  # a cancelled build may still be running when the next one starts
        self._then: Callable[[], None] | None = None  # to run in the frame that paints the next figure

    @property
    def lines(self) -> list[Line]:
        """The lines given to draw (what the figure shows once built)."""
        return list(self._lines)

    @property
    def heading(self) -> str:
        """The title the figure is drawn with."""
        return self._title if self._title is not None else self.title

    @property
    def drawn(self) -> bool:
        """Whether the figure on screen shows the current lines at the current size."""
        return self._drawn == (self._key, tuple(self.size))

    def show(self, lines: list[Line], log: bool = False, title: str | None = None,
             then: Callable[[], None] | None = None) -> None:
        """Draw ``lines``; ``then`` runs when the new figure is painted (at once if nothing is to be built), so that
        what a caller changes beside the plot reaches the screen in the same frame."""
        key = (tuple((ln.label, tuple(ln.xs), tuple(ln.ys)) if ln.scatter else
                     (ln.label, len(ln.xs), ln.ys[-1] if ln.ys else None) for ln in lines), log, title, self.xlabel)
        if key != self._key:
            self._key = key
            self._lines, self._log, self._title = lines, log, title
            if self._build_later():
                self._then = then  # a newer caller supersedes one still waiting
                return
        self._then = None  # superseded too: it would put back what ``then`` is about to replace
        if then is not None:
            then()

    def on_resize(self) -> None:
        self._build_later()

    def on_show(self) -> None:
        if not self.drawn:
            self._build_later()

    def _build_later(self) -> bool:
        width, height = self.size
        if width and height and self.is_attached and self.display:
            self._build((self._key, (width, height)), list(self._lines), self._log, self._title, width, height,
                        self.plotext_theme())
            return True
        return False

    @work(thread=True, exclusive=True, group="plot", exit_on_error=False)
    def _build(self, key: object, lines: list[Line], log: bool, title: str | None, width: int, height: int,
               theme: str) -> None:
        with self._plt_lock:
            if get_current_worker().is_cancelled:
                return
            strips = figure_strips(self._figure(lines, log, title, width, height, theme), width)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Built(strips, key))

    def _figure(self, lines: list[Line], log: bool, title: str | None, width: int, height: int, theme: str):
        """The figure's matrix of cells."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title if title is not None else self.title)
        plt.xlabel(self.xlabel)
        drawn = False
        most = max(64, 2 * width)  # a point per column of dots (two a cell): more only cost time
        for ln in lines:
            n = min(len(ln.xs), len(ln.ys))
            xs, ys = ln.xs[:n], ln.ys[:n]
            if n > most and not ln.scatter:
                # the lowest and highest point of each column of dots, and a gap where one held a NaN: a long
                # run's spike or hole stays in sight, at the cost of a short run's figure
                xs, ys = (a.tolist() for a in decimate(xs, ys, most // 2))
            # NaN leaves a gap in plotext's line; so does a value a log axis cannot place
            ys = [y if math.isfinite(y) and (y > 0 or not log) else math.nan for y in ys]
            if not any(y == y for y in ys):
                continue
            draw = plt.scatter if ln.scatter else plt.plot
            draw(list(xs), ys, label=ln.label, marker=ln.marker)
            drawn = True
        if log and drawn:
            plt.yscale("log")
        plt.theme(theme)  # last, as textual-plotext's own render does: the theme colours the lines
        return build_matrix(plt, width, height)

    def on_line_plot_built(self, message: Built) -> None:
        message.stop()
        old, self._strips, self._drawn = self._strips, message.strips, message.key
        then = None
        if self.drawn:  # not a figure of older lines, finished before its successor could cancel it
            then, self._then = self._then, None
        with self.app.batch_update():
            if then is not None:
                then()
            repaint(self, old, self._strips)  # a new point often changes only a few of a figure's rows

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "plot" and event.state == WorkerState.ERROR:
            then, self._then = self._then, None  # no figure comes: what waits on it goes on its own
            if then is not None:
                then()

    def theme_registered(self) -> None:
        self._build_later()  # the figure's colours follow the app's theme

    def render(self) -> Text:
        """The figure as plain text (Textual draws it with ``render_line``)."""
        return Text("\n".join(strip.text for strip in self._strips))

    def render_line(self, y: int) -> Strip:
        """Textual's line API: the figure's lines were made in the worker."""
        width = self.size.width
        if y < len(self._strips):
            strip = self._strips[y]
            return strip if strip.cell_length == width else strip.adjust_cell_length(width)
        return Strip.blank(width)
