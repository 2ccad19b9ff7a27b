"""An experiment tab: the hyperparameter form and run controls on the left, the followed run on the right."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.lazy import Lazy
from textual.widget import Widget
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, RichLog, Static, TabbedContent, TabPane

from engine.spec import Spec

from .results import RESULTS
from .widgets.lazy_import import LazyImport
from .state import RunState
from .widgets.data_view import DataView
from .widgets.line_plot import Line, LinePlot
from .widgets.metrics_panel import MetricsPanel
from .widgets.param_form import ParamForm
from .widgets.run_header import RunHeader

LOSS_KEYS = ("train_loss", "test_loss", "val_loss")


class ExperimentPane(Horizontal):
    """Follows one run of its experiment: the newest, unless the user opened another."""

    def __init__(self, spec: Spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.run_id: str | None = None
        self.pinned = False  # True when the user opened a run: new runs then do not take over the view
        self._drawn_version = -1
        self._log_lines = 0
        self._views: dict[type, Widget] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-column"):
            yield Static(f"[b]{self.spec.title}[/]: {self.spec.summary}", classes="pane-title")
            yield ParamForm(self.spec, id=f"form-{self.spec.name}")
            yield Static("", classes="form-error")
            with Horizontal(classes="controls"):
                yield Button("Start", id=f"start-{self.spec.name}", variant="success", classes="start", compact=True)
                yield Button("Pause", classes="pause", compact=True)
                yield Button("Resume", classes="resume", compact=True)
                yield Button("Stop", variant="error", classes="stop", compact=True)
        with Vertical(classes="run-column"):
            yield RunHeader()
            with TabbedContent(classes="run-tabs"):
                with TabPane("Curves", id=f"curves-{self.spec.name}"):
                    with Horizontal(classes="curves-row"):
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

    def on_button_pressed(self, event: Button.Pressed) -> None:
        for action in ("start", "pause", "resume", "stop"):
            if event.button.has_class(action):
                getattr(self.app, f"action_{action}")()

    def on_mount(self) -> None:
        self._header = self.query_one(RunHeader)
        self._loss_plot = self.query_one(".loss-plot", LinePlot)
        self._metrics = self.query_one(MetricsPanel)

    @property
    def form(self) -> ParamForm:
        return self.query_one(ParamForm)

    def show_error(self, text: str) -> None:
        self.query_one(".form-error", Static).update(f"[b $error]{text}[/]" if text else "")

    def follow(self, run_id: str, pinned: bool = False) -> None:
        if run_id != self.run_id:
            self.run_id = run_id
            self._drawn_version = -1
            self._log_lines = 0
            if (log := self._view(RichLog)) is not None:
                log.clear()
        self.pinned = pinned or self.pinned

    def _view(self, kind: type | str) -> Widget | None:
        """A lazily mounted view, looked up once (a DOM query per redraw tick costs more than the drawing)."""
        view = self._views.get(kind)
        if view is None:
            found = self.query(kind)
            if found:
                view = self._views[kind] = found.first()
        return view

    def redraw(self, state: RunState | None, compared: list[RunState], log_scale: bool) -> None:
        """Called by the app's timer (inside ``batch_update``); cheap when nothing changed."""
        results = self._view(".results-view") if self.spec.name in RESULTS else None
        if state is None or state.version == self._drawn_version:
            if results is not None and compared:
                results.show(state, compared, log_scale)
            return
        self._header.show(state)
        lines = []
        for key in LOSS_KEYS:
            xs, ys = state.series(key)
            if xs:
                lines.append(Line(key, xs, ys))
        bx, by = state.smoothed_batches()
        if bx:
            lines.append(Line("batch (smoothed)", bx, by))
        self._loss_plot.show(lines, log=log_scale, title="loss (log)" if log_scale else "loss")
        self._metrics.show(state.latest_metrics())
        data, log = self._view(DataView), self._view(RichLog)
        if data is not None:
            data.show(state.summary)
        if results is not None:
            results.show(state, compared, log_scale)
        if log is not None:
            fresh = min(state.log_total - self._log_lines, len(state.log))
            for line in list(state.log)[len(state.log) - fresh:] if fresh > 0 else []:
                log.write(line)
            self._log_lines = state.log_total
        if data is not None and log is not None and (results is not None or self.spec.name not in RESULTS):
            self._drawn_version = state.version  # every lazily mounted view has drawn this version
