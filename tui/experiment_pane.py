"""An experiment tab: the hyperparameter form and run controls on the left, the followed run on the right.

The pane owns its actions: start (after the form's checks: it creates and spawns the run in a worker), presets,
the run view's sub-tabs, the results' controls and saving the plot. It tells the app which run it follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import MountError
from textual.widgets import Button, Static

from labdeck.engine import presets
from labdeck.engine.errors import LabdeckError
from labdeck.engine.hosts import qualify
from labdeck.engine.spec import Spec

from .messages import Following, StoreChanged
from .model import RunsModel
from .tab_content import TabContent
from .widgets.param_form import ParamForm

RUN_VIEW_AFTER_SECONDS = 0.2  # the form is painted first

if TYPE_CHECKING:
    from .run_view import RunView


class ExperimentPane(Horizontal, TabContent):
    """Follows one run of its experiment: the newest, unless the user opened another."""

    BINDINGS = [
        Binding("s", "start", "Start", id="run.start", tooltip="Start a run with the form's values"),
        Binding("right_square_bracket", "view(1)", "Next view", key_display="]", id="view.next",
                tooltip="Next sub-tab: Curves, Data, Results, Log"),
        Binding("left_square_bracket", "view(-1)", "Prev view", key_display="[", show=False, id="view.prev"),
        Binding("i", "input", "Input", id="view.input", tooltip="Type into the results' field (predict, prompt)"),
        Binding("m", "mistakes", "Mistakes only", show=False, id="view.mistakes"),
        Binding("M", "metrics", "Metrics", show=False, id="view.metrics",
                tooltip="Any of the run's metrics: pick, smooth, over epochs or time"),
        Binding("P", "save_plot", "Save plot", show=False, id="view.save_plot",
                tooltip="Save the loss plot on screen as a PNG file"),
        Binding("S", "save_preset", "Save preset", show=False, id="preset.save"),
        Binding("O", "load_preset", "Load preset", show=False, id="preset.load"),
    ]

    def __init__(self, spec: Spec, model: RunsModel, home: Path, **kwargs):
        super().__init__(**kwargs)
        self.spec, self.model, self.home = spec, model, home
        self.run_id: str | None = None
        self.pinned = False  # True when the user opened a run: new runs then do not take over the view
        self.form_edited = False  # the user changed the form: following a run no longer fills it
        self._run_view: RunView | None = None
        self._error = ""  # under the form

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-column"):
            yield Static(f"[b]{self.spec.title}[/]: {self.spec.summary}", classes="pane-title")
            yield ParamForm(self.spec, hosts=list(self.model.hosts), id=f"form-{self.spec.name}")
            yield Static("", classes="form-error")
            with Horizontal(classes="controls"):
                yield Button("Start", id=f"start-{self.spec.name}", variant="success", classes="start", compact=True)
                yield Button("Pause", classes="pause", compact=True)
                yield Button("Resume", classes="resume", compact=True)
                yield Button("Stop", variant="error", classes="stop", compact=True)

    def on_mount(self) -> None:
        # A timer, not call_after_refresh: that would run before the form has asked for its first paint, and the
        # run view's imports (plotext, ...) and mounting would hold that paint up. Textual offers no "painted" event.
        self.set_timer(RUN_VIEW_AFTER_SECONDS, self._mount_run_view)

    async def _mount_run_view(self) -> None:
        from .run_view import RunView

        if not self.app.is_running:  # closing: Textual takes the widgets down, leaves first
            return
        view = RunView(self.spec, classes="run-column")
        try:
            await self.mount(view)
        except MountError:  # the app is closing
            return
        self._run_view = view
        if self.region.area:  # shown: draw now; a hidden tab draws when it is shown
            self.redraw(self.model, self.log_scale)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.has_class("start"):
            self.action_start()
        else:
            for action in ("pause", "resume", "stop"):
                if event.button.has_class(action) and self.run_id:
                    self.control(action, self.run_id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "mistakes":
            return self.spec.classifies
        if action == "input":
            return bool(self.spec.new_input)
        return True

    @property
    def form(self) -> ParamForm:
        return self.query_one(ParamForm)

    @property
    def run_view(self) -> RunView | None:
        """The right-hand side, once mounted (just after the first paint)."""
        return self._run_view

    @property
    def drawn_version(self) -> int:
        """The version of the followed run's state on screen (-1: none yet)."""
        return self.run_view.drawn_version if self.run_view is not None else -1

    # -- what the app asks of every tab's content ---------------------------------------------------------
    log_scale = True

    def selected_run(self) -> str | None:
        return self.run_id

    def report_target(self) -> str | None:
        return self.run_id

    def wanted_runs(self) -> list[str]:
        return ([self.run_id] if self.run_id else []) + [
            r for r in self.model.compared if (i := self.model.infos.get(r)) and i.experiment == self.spec.name]

    def focus_home(self) -> None:
        """Focus the form's grid: arrows move through the parameters, letters reach the bindings."""
        if grids := self.query("ParamGrid"):  # empty while still being mounted
            grids.first().focus()

    def leave_field(self) -> None:
        """Escape: drop an edit in the form, or leave any other field for the form's grid."""
        if not self.form.cancel_edit():
            self.focus_home()

    def redraw(self, model: RunsModel, log_scale: bool) -> None:
        """Called by the app's timer (inside ``batch_update``); cheap when nothing changed."""
        self.log_scale = log_scale
        if self.run_view is not None:
            self.run_view.redraw(model.state(self.run_id), model.compared_states(self.spec.name), log_scale)

    def redraw_all(self) -> None:
        """Draw everything again on the next redraw (a display setting changed)."""
        if self.run_view is not None:
            self.run_view.redraw_all()

    # -- following runs ------------------------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        self._error = text
        box = self.query_one(".form-error", Static)
        box.update(f"[b $error]{text}[/]" if text else "")
        box.display = bool(text)  # takes no row while there is nothing to say

    def follow(self, run_id: str, pinned: bool = False) -> None:
        if run_id != self.run_id:
            self.run_id = run_id
            self.post_message(Following(run_id))
            if self.run_view is not None:
                self.run_view.follow()
            info = self.model.infos.get(run_id)
            if info is not None and not self.form_edited:  # the form says what the run on screen used
                self.form.load(info.asked, info.budget, info.meta.get("alerts", []), host=info.where)
        self.pinned = pinned or self.pinned

    def update_runs(self) -> None:
        """Show the newest run of this experiment, unless the user opened another."""
        if not self.pinned and (newest := self.model.newest(self.spec.name)) is not None:
            self.follow(newest.id)

    def open(self, run_id: str) -> None:
        """A run the user opened: followed from now on, and its values in the form."""
        self.follow(run_id, pinned=True)
        if (info := self.model.infos.get(run_id)) is not None:
            self.form.load(info.asked, info.budget, info.meta.get("alerts", []), host=info.where)

    def on_param_form_edited(self, event: ParamForm.Edited) -> None:
        self.form_edited = True
        if self._error:  # an error from the last start: say what is still wrong, as the form is now
            self.show_error(_to_fix(self.form.errors()))

    # -- actions -----------------------------------------------------------------------------------------------
    def action_start(self) -> None:
        errors = self.form.field_errors()
        if errors:  # the first bad field's message is under the editor already: here only what to fix, once
            self.show_error(_to_fix(errors))
            return
        self.show_error("starting…")
        self._launch(self.form.raw_values(), self.form.budget(), self.form.alerts(), self.form.host())

    @dataclass
    class Launched(Message):
        """The run was created and spawned (``run_id``), or refused (``error``)."""

        run_id: str | None
        params: dict
        budget: float | None
        error: str = ""

    @work(thread=True, group="launch", exit_on_error=False)
    def _launch(self, raw: dict[str, str], budget: float | None, alerts: list[str], host: str = "") -> None:
        """Create and start the run here, or on ``host`` through its link (the host checks what this one would)."""
        from labdeck import engine

        try:
            if host:
                started = self.labdeck.links.to(host).call("start", experiment=self.spec.name, values=raw,
                                                           budget=budget, alerts=alerts)
                self.post_message(self.Launched(qualify(host, started["run_id"]), started["params"], budget))
                return
            store = engine.Store(self.home)
            run_id = engine.create(store, self.spec.name, raw, budget, alerts=alerts)
            engine.spawn(store, run_id)
            params = store.get(run_id).params
        except engine.LabdeckError as exc:
            self.post_message(self.Launched(None, {}, budget, str(exc)))
            return
        self.post_message(self.Launched(run_id, params, budget))

    def on_experiment_pane_launched(self, message: Launched) -> None:
        message.stop()
        if message.run_id is None:
            self.show_error(message.error)
            return
        self.show_error("")
        self.pinned = False
        self.model.started(message.run_id, self.spec.name, message.params, message.budget)
        self.follow(message.run_id)
        self.post_message(StoreChanged())
        self.notify(f"started run {message.run_id}")

    def action_view(self, step: int) -> None:
        if self.run_view is not None:
            self.run_view.switch_view(step)

    def action_input(self) -> None:
        if self.run_view is None or not self.run_view.show_view("results"):
            return
        self.call_after_refresh(self._focus_results_input)

    def _focus_results_input(self) -> None:
        results = self.run_view.results() if self.run_view is not None else None
        if results is not None and hasattr(results, "focus_input"):
            results.focus_input()

    def action_mistakes(self) -> None:
        if self.run_view is not None and self.run_view.show_view("results"):
            results = self.run_view.results()
            if results is not None and hasattr(results, "toggle_mistakes"):
                results.toggle_mistakes()

    def action_use_offline_data(self) -> None:
        """Fill the form with data that needs no download."""
        if self.spec.offline is None:
            self.notify("this tab's data needs no download", timeout=4)
            return
        key, value = self.spec.offline
        self.form.set_value(key, value)
        self.show_error("")
        self.notify(f"{key}={value}: press s to start")

    def offer_offline_data(self) -> None:
        """The followed run could not download its data: say how to do without."""
        if self.spec.offline is not None:
            key, value = self.spec.offline
            self.show_error(f"offline? Ctrl+P, Use offline data: {key}={value}")

    def action_save_preset(self) -> None:
        def save(name: str | None) -> None:
            if name:
                try:
                    file = presets.save(self.spec.name, name, self.form.overrides())
                except LabdeckError as exc:
                    self.show_error(str(exc))
                    return
                self.notify(f"saved preset {name!r} in {file}")

        from .screens.dialogs import AskName

        self.app.push_screen(AskName(f"Save the {self.spec.title} form as preset:"), save)

    def action_load_preset(self) -> None:
        try:
            known = presets.named(self.spec.name)
        except LabdeckError as exc:  # a hand-edited file that does not parse: where, and it stays as it is
            self.show_error(str(exc))
            return
        if not known:
            self.notify(f"no {self.spec.title} presets yet (Shift+S saves one)", severity="warning")
            return

        def load(name: str | None) -> None:
            if name:
                self.form.load(known[name])
                self.notify(f"loaded preset {name!r}")

        from .screens.dialogs import Pick

        self.app.push_screen(Pick("Load preset", sorted(known)), load)

    def action_metrics(self) -> None:
        from .screens.run_metrics import RunMetricsView

        if self.run_id:
            self.app.push_screen(RunMetricsView(self.model, self.run_id))
        else:
            self.notify("no run yet: start one with s", severity="warning")

    def action_save_plot(self) -> None:
        state = self.model.state(self.run_id)
        if state is None or not state.latest_epoch:
            self.notify("no curves to save yet", severity="warning")
            return
        from .run_view import LOSS_KEYS

        series = {key: state.series(key) for key in LOSS_KEYS if state.series(key)[0]}
        self._save_plot(state.run_id, series, self.log_scale)

    @work(thread=True, group="save-plot", exclusive=True, exit_on_error=False)
    def _save_plot(self, run_id: str, series: dict, log: bool) -> None:
        from labdeck.engine import LabdeckError
        from labdeck.engine.report import save_curves

        path = self.home / "plots" / f"{run_id}-loss.png"
        try:
            save_curves(series, path, f"loss of run {run_id}", log=log)
        except (LabdeckError, OSError) as exc:
            self.app.call_from_thread(self.notify, f"cannot save the plot: {exc}", severity="error")
            return
        self.app.call_from_thread(self.notify, f"plot saved: {path}", timeout=15)


def _to_fix(errors: list[str]) -> str:
    """The fields a start refused, by name (each field's own message is shown with the field)."""
    return f"not started: fix {', '.join(e.split(':', 1)[0] for e in errors)}" if errors else ""
