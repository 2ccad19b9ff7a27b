"""An experiment tab's right-hand side: the followed run's header, curves, metrics, data, results and log.

Mounted just after the first paint (the form beside it paints first): its modules (plotext among them) are only
imported then.
"""

from __future__ import annotations

import time
from typing import TypeVar, cast

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import RichLog, TabbedContent, TabPane

from labdeck.engine import names
from labdeck.engine.spec import Spec

from .history import PLOT_POINTS
from .results import RESULTS, ResultsView
from .state import RunState
from .widgets.data_view import DataView
from .widgets.lazy_import import Lazy, LazyImport
from .widgets.line_plot import Line, LinePlot
from .widgets.metrics_panel import MetricsPanel
from .widgets.run_header import RunHeader

LOSS_KEYS = names.LOSSES
# New points alone (batch losses, a script's values) redraw the view at most this often; any other news at once. A
# live run brings points several times a second, and each redraw costs a new figure and a screen update.
POINTS_SECONDS = 1.0
W = TypeVar("W", bound=Widget)


class RunView(Vertical):
    def __init__(self, spec: Spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.drawn_version = -1
        self._outline: tuple[int, bool] | None = None  # the state's outline_version and log scale last drawn
        self._drawn_at = 0.0
        self._log_lines = 0
        self._views: dict[type | str, Widget] = {}
        self._header: RunHeader | None = None
        self._loss_plot: LinePlot | None = None
        self._metrics: MetricsPanel | None = None
        self._tabs: TabbedContent | None = None

    def compose(self) -> ComposeResult:
        yield RunHeader(self.spec.unit)
        with TabbedContent(classes="run-tabs"):
            with TabPane("Curves", id=f"curves-{self.spec.name}"), Horizontal(classes="curves-row"):
                yield LinePlot("loss", "step", classes="loss-plot")
                yield MetricsPanel()
            # Hidden at first: mounted just after the first paint.
            with TabPane("Data", id=f"data-{self.spec.name}"):
                yield Lazy(DataView())
            if self.spec.name in RESULTS:
                with TabPane("Results", id=f"results-{self.spec.name}"):
                    yield LazyImport(RESULTS[self.spec.name], classes="results-view")
            with TabPane("Log", id=f"log-{self.spec.name}"):
                yield Lazy(RichLog(max_lines=1000, wrap=True, markup=False))

    def _parts(self) -> bool:
        """Look up the header, plot and metrics once they are there: the sub-tabs mount their panes' contents after
        this view's own mount (and not at all when the app closes meanwhile)."""
        if self._loss_plot is None:
            try:
                self._header = self.query_one(RunHeader)
                self._loss_plot = self.query_one(".loss-plot", LinePlot)
                self._metrics = self.query_one(MetricsPanel)
                self._tabs = self.query_one(".run-tabs", TabbedContent)
            except NoMatches:
                return False
        return True

    def switch_view(self, step: int) -> str:
        """Show the next (``step`` 1) or previous (-1) sub-tab; returns its title."""
        tabs = self.query_one(".run-tabs", TabbedContent)
        panes = [pane.id for pane in tabs.query(TabPane)]
        current = panes.index(tabs.active) if tabs.active in panes else 0
        tabs.active = panes[(current + step) % len(panes)] or ""
        return str(tabs.get_tab(tabs.active).label)

    def show_view(self, kind: str) -> bool:
        """Show the sub-tab ``kind`` (curves, data, results, log); False if this experiment has none."""
        tabs = self.query_one(".run-tabs", TabbedContent)
        pane_id = f"{kind}-{self.spec.name}"
        if not tabs.query(f"#{pane_id}"):
            return False
        tabs.active = pane_id
        return True

    def results(self) -> Widget | None:
        """The experiment's results view, once mounted (its class is imported then)."""
        if self.spec.name not in RESULTS:
            return None
        view = self._views.get("results")
        if view is None and (found := self.query(".results-view")):
            view = self._views["results"] = found.first()
        return view

    @staticmethod
    def _show_results(results: ResultsView, state: RunState | None, compared: list[RunState], log_scale: bool) -> bool:
        """Draw the results view; False while it is still composing (it is mounted lazily, its children after it)."""
        try:
            results.show(state, compared, log_scale)
        except NoMatches:
            return False
        return True

    def redraw_all(self) -> None:
        """Draw everything again on the next redraw (a display setting changed)."""
        self.drawn_version = -1
        self._outline = None

    def follow(self) -> None:
        """A different run is followed: start its log afresh and draw it all on the next redraw."""
        self.redraw_all()
        self._log_lines = 0
        if (log := self._view(RichLog)) is not None:
            log.clear()
        if (results := self.results()) is not None and hasattr(results, "forget"):
            try:
                results.forget()  # what it showed of the run before (a generated text, a prediction)
            except NoMatches:
                pass  # still composing: it has shown nothing yet

    def _view(self, kind: type[W]) -> W | None:
        """A lazily mounted view, looked up once (a DOM query per redraw tick costs more than the drawing)."""
        view = self._views.get(kind)
        if view is None:
            found = self.query(kind)
            if found:
                view = self._views[kind] = found.first()
        return cast("W | None", view)

    def _results(self) -> ResultsView | None:
        return cast("ResultsView | None", self.results())

    def _write_log(self, state: RunState) -> None:
        """The run's new log lines, once the log has been on screen: a RichLog keeps every line written before it
        knows its width, beyond its ``max_lines`` (a hidden log fed for days grew without bound); until then the
        run's own last lines wait in ``state.log``."""
        if self._log_lines == state.log_total or self._tabs is None or self._tabs.active != f"log-{self.spec.name}":
            return  # asked first: a widget's size is a lookup in the screen's map, and this runs at every tick
        log = self._view(RichLog)
        if log is None or not log.size.width:
            return
        fresh = min(state.log_total - self._log_lines, len(state.log))
        for line in list(state.log)[len(state.log) - fresh:] if fresh > 0 else []:
            log.write(line)
        self._log_lines = state.log_total

    def redraw(self, state: RunState | None, compared: list[RunState], log_scale: bool) -> None:
        """Called by the app's timer (inside ``batch_update``); cheap when nothing changed."""
        if not self._parts():
            return  # still mounting: the next tick draws
        header, plot, panel = self._header, self._loss_plot, self._metrics
        assert header is not None and plot is not None and panel is not None  # what _parts() found
        results = self._results()
        if state is not None:
            self._write_log(state)
        if state is None or state.version == self.drawn_version:
            if results is not None and compared:
                self._show_results(results, state, compared, log_scale)
            return
        now = time.monotonic()
        if self._outline == (state.outline_version, log_scale) and now - self._drawn_at < POINTS_SECONDS:
            return  # only new points since the last redraw: they wait for their turn
        self._outline, self._drawn_at = (state.outline_version, log_scale), now
        lines = []
        for key in LOSS_KEYS:
            xs, ys = state.series(key, PLOT_POINTS)
            if xs:
                lines.append(Line(key, xs, ys))
        bx, by = state.smoothed_batches()
        if bx:
            lines.append(Line("batch (smoothed)", bx, by))
        metrics = state.latest_metrics()

        def beside_plot() -> None:
            header.show(state)
            panel.show(metrics)

        plot.show(lines, log=log_scale, title="loss (log)" if log_scale else "loss", then=beside_plot)
        data, log = self._view(DataView), self._view(RichLog)
        if data is not None:
            data.show(state.summary)
        if results is not None and not self._show_results(results, state, compared, log_scale):
            results = None  # not drawn yet: drawn_version stays, the next tick tries again
        if data is not None and log is not None and (results is not None or self.spec.name not in RESULTS):
            self.drawn_version = state.version  # every lazily mounted view has drawn this version
