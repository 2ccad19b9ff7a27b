"""Any of a run's metrics, picked, plotted over steps (epochs) or time, smoothed, beside the runs marked in the Runs
tab: the view of a run a script logged through ``labdeck.init``, and ``M`` on an experiment's tab."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, SelectionList, Static

from labdeck.engine import names
from labdeck.engine.formatting import done

from ..history import PLOT_POINTS
from ..model import RunsModel
from ..state import RunState
from ..widgets.footer import Footer
from ..widgets.line_plot import Line, LinePlot

SMOOTHING = (0.0, 0.6, 0.9, 0.99)  # exponential moving average weights of the past
REDRAW_SECONDS = 0.5


def _span(lines: list[Line]) -> tuple[float, float] | None:
    """The steps (or seconds) this run's own lines cover."""
    xs = [x for ln in lines for x in (ln.xs[0], ln.xs[-1]) if ln.xs and x == x]
    return (min(xs), max(xs)) if xs else None


def _clip(xs: list[float], ys: list[float], span: tuple[float, float] | None) -> tuple[list[float], list[float]]:
    if span is None:
        return xs, ys
    kept = [(x, y) for x, y in zip(xs, ys) if span[0] <= x <= span[1]]
    return [x for x, _ in kept], [y for _, y in kept]


def smooth(ys: list[float], alpha: float) -> list[float]:
    """An exponential moving average; a gap (NaN) stays a gap and does not poison what follows."""
    if not alpha:
        return ys
    out, last = [], None
    for y in ys:
        if y != y:  # NaN
            out.append(y)
            continue
        last = y if last is None else alpha * last + (1 - alpha) * y
        out.append(last)
    return out


class RunMetricsView(Screen[None]):
    CSS_PATH = Path(__file__).with_name("run_metrics.tcss")
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="script.close"),
        Binding("slash", "filter", "Filter metrics", key_display="/", id="script.filter"),
        Binding("t", "toggle_x", "Step/time", id="script.x", tooltip="The x axis: steps, or seconds since start"),
        Binding("plus,equals_sign", "smooth(1)", "Smoother", key_display="+", id="script.smoother"),
        Binding("minus", "smooth(-1)", "Less smooth", key_display="-", id="script.rougher"),
    ]

    def __init__(self, model: RunsModel, run_id: str):
        super().__init__()
        self.model, self.run_id = model, run_id
        self.x = "step"
        self.smoothing = 0
        self._keys: list[str] = []
        self._picked: set[str] | None = None  # the metrics plotted (None: the first two, until the user picks)
        self._drawn: object = None

    def compose(self) -> ComposeResult:
        yield Static("", id="script-header")
        with Horizontal(id="script-body"):
            with Vertical(id="script-side"):
                yield Input(placeholder="/ filter metrics", id="metric-filter")
                yield SelectionList[str](id="metric-list")
            yield LinePlot("", "step", id="script-plot")
        yield Static("", id="script-params")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#metric-list", SelectionList).focus()
        self.set_interval(REDRAW_SECONDS, self.redraw)
        self.redraw()

    def _compared(self) -> list[RunState]:
        """The other runs marked in the Runs tab, loaded."""
        return [s for r in self.model.compared if r != self.run_id and (s := self.model.states.get(r)) is not None]

    def redraw(self) -> None:
        state = self.model.states.get(self.run_id)
        info = self.model.infos.get(self.run_id)
        if info is not None:
            self.query_one("#script-header", Static).update(Text.assemble(
                (f"{info.id}  ", "bold"), f"{names.printable(info.experiment, 40)}  ",
                (f"{names.printable(info.name, 40)}  ", "italic") if info.name else "", (info.status, "bold"),
                f"  {done(info.experiment, max(info.epochs, state.latest_epoch if state else 0))}"
                f"  x: {self.x}  smoothing: {SMOOTHING[self.smoothing]:g}"))
        keys = names.ordered(state.metric_keys()) if state is not None else []
        if keys != self._keys:
            self._list_metrics(keys)
        picked = [k for k in self._keys if k in (self._picked or ())]
        others = self._compared()
        key = (state.version if state else None, tuple((s.run_id, s.version) for s in others), tuple(picked), self.x,
               self.smoothing)
        if key == self._drawn or state is None:
            return
        self._drawn = key
        lines = [Line(f"{metric}" if not others else f"{self.run_id[-4:]} {metric}",
                      *self._xy(state, metric)) for metric in picked]
        span = _span(lines)
        overlaid: list[str] = []  # the runs drawn beside this one, and those that have none of its metrics
        apart: list[str] = []
        for other in others:
            shared = [m for m in picked if m in other.metric_keys()]
            (overlaid if shared else apart).append(other.run_id[-4:])
            for metric in shared:  # only on a metric this run has too, clipped to this run's steps
                xs, ys = self._xy(other, metric)
                lines.append(Line(f"{other.run_id[-4:]} {metric}", *_clip(xs, ys, span)))
        title = ", ".join(picked) or "pick metrics (Space)"
        if overlaid:
            title += f"; beside {', '.join(overlaid)}"
        if apart:
            title += f"; not {', '.join(apart)} (no such metric)"
        plot = self.query_one("#script-plot", LinePlot)
        plot.xlabel = "seconds" if self.x == "time" else "step"
        plot.show(lines, title=title)
        self._params([state, *others])

    def _xy(self, state: RunState, metric: str) -> tuple[list[float], list[float]]:
        xs, ys = state.series(metric, PLOT_POINTS)
        if self.x == "time":
            import numpy as np

            sx, sy = state.series("train_seconds")
            xs = np.interp(xs, sx, sy, left=np.nan, right=np.nan).tolist() if sx else [float("nan")] * len(xs)
        return xs, smooth(ys, SMOOTHING[self.smoothing])

    def _list_metrics(self, keys: list[str]) -> None:
        if self._picked is None and keys:  # the run's losses, else its first metric
            self._picked = set([k for k in keys if names.loss_like(k)][:2] or keys[:1])
        wanted = self.query_one("#metric-filter", Input).value.strip().lower()
        self._keys = keys
        listing = self.query_one("#metric-list", SelectionList)
        with listing.prevent(SelectionList.SelectedChanged):
            listing.clear_options()
            listing.add_options([(k, k, k in (self._picked or ())) for k in keys if wanted in k.lower()])
            if listing.option_count:
                listing.highlighted = 0

    @on(SelectionList.SelectedChanged, "#metric-list")
    def _picked_changed(self, event: SelectionList.SelectedChanged) -> None:
        listing = event.selection_list
        shown = {listing.get_option_at_index(i).value for i in range(listing.option_count)}
        self._picked = ((self._picked or set()) - shown) | set(listing.selected)
        self.redraw()

    def _params(self, states: list[RunState]) -> None:
        infos = [i for s in states if (i := self.model.infos.get(s.run_id)) is not None]
        infos = infos[:1] + [i for i in infos[1:] if i.experiment == infos[0].experiment]
        params = sorted({k for i in infos for k in i.params})
        rows = [f"{'':14}" + "".join(f"{i.id[-8:]:>14}" for i in infos)]
        rows += [f"{names.printable(p, 14):14}" + "".join(f"{names.printable(i.params.get(p, '-'), 13):>14}"
                                                          for i in infos) for p in params[:8]]
        self.query_one("#script-params", Static).update("\n".join(rows) if params else "no parameters")

    @on(Input.Changed, "#metric-filter")
    def _filter(self) -> None:
        self._list_metrics(self._keys)

    @on(Input.Submitted, "#metric-filter")
    def _filtered(self) -> None:
        self.query_one("#metric-list", SelectionList).focus()

    def action_filter(self) -> None:
        self.query_one("#metric-filter", Input).focus()

    def action_toggle_x(self) -> None:
        self.x = "time" if self.x == "step" else "step"
        self.redraw()

    def action_smooth(self, step: int) -> None:
        self.smoothing = max(0, min(len(SMOOTHING) - 1, self.smoothing + step))
        self.redraw()

    def action_close(self) -> None:
        if self.focused is self.query_one("#metric-filter", Input):
            self.query_one("#metric-list", SelectionList).focus()  # Escape leaves the filter first
            return
        self.dismiss(None)
