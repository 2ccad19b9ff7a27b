"""labdeck's dashboard: a tab per experiment plus Runs and Sweeps; starts, watches and controls runs.

The app composes the screen, binds the keys that act on whichever tab is shown, and owns the workers: a thread
reads the store and posts messages; the panes post what the user asked for (``messages``) and the app's workers
change the store. Each tab's content redraws itself from the ``RunsModel`` on a timer, inside ``batch_update()``.

Start-up paints the frame first; the first experiment's form follows, then the background work and, one tab at a
time, the other tabs' contents (``mounting``), so the modules behind them are imported only then.
"""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

import engine
from engine import LabdeckError, registry

from .experiment_pane import ExperimentPane
from .messages import (ControlRun, ControlSweep, Controlled, DeleteRun, Launched, NewSweepAsked, OpenRun,
                       ReportAsked, ReportWritten, RunEvents, RunsChanged, StartRun, StoreFailed, SystemStats)
from .model import RunsModel
from .mounting import TabContents
from .redraw import RedrawPace

if TYPE_CHECKING:
    from .screens.sweep import NewSweep
    from .watcher import StoreWatcher

BACKGROUND_AFTER_SECONDS = 0.2  # reading the store starts this long after the first form is mounted
HIDDEN_TABS_AFTER_SECONDS = 0.6  # the hidden tabs' contents mount this long after it (or when first shown)


def _commands_provider():
    from .commands import LabdeckCommands  # textual.command is imported when the palette first opens

    return LabdeckCommands


TABS = [(s.name, s.title) for s in registry.specs()] + [("runs", "Runs"), ("sweeps", "Sweeps")]
TAB_KEYS = [Binding(str(i + 1), f"tab('{name}')", title, show=False, id=f"tab.{name}")
            for i, (name, title) in enumerate(TABS)]


class Content(Protocol):
    """What every tab's content offers the app's keys and timer."""

    def selected_run(self) -> str | None: ...
    def report_target(self) -> str | None: ...
    def wanted_runs(self) -> list[str]: ...
    def focus_home(self) -> None: ...
    def leave_field(self) -> None: ...
    def redraw(self, model: RunsModel, log_scale: bool) -> None: ...


class MainScreen(Screen):
    AUTO_FOCUS = ""  # the first form's grid takes the focus once mounted (each focus change recomposes the footer)


class LabdeckApp(App):
    # Every screen's own stylesheet is read at start too: a screen whose CSS is new to the app restyles every widget
    # of the app when it is first shown (~300 ms for the help screen while a run trains).
    CSS_PATH = ["app.tcss", "screens/help.tcss", "screens/dialogs.tcss", "screens/sweep.tcss"]
    TITLE = "labdeck"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    COMMANDS = App.COMMANDS | {_commands_provider}

    BINDINGS = [
        Binding("p", "control('pause')", "Pause", id="run.pause"),
        Binding("r", "control('resume')", "Resume", id="run.resume",
                tooltip="Resume a paused run, or restart a stopped or interrupted one from its checkpoint"),
        Binding("x", "control('stop')", "Stop", id="run.stop"),
        Binding("l", "toggle_log", "Log scale", show=False, id="view.log"),
        Binding("R", "report", "Report", id="run.report", tooltip="Write a Markdown report of the current run or sweep"),
        Binding("escape", "leave_field", "Leave field", show=False, id="view.leave"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Quit the dashboard; runs keep going"),
        *TAB_KEYS,
    ]

    def __init__(self, home: str | Path | None = None, system_stats: bool = True, freeze_gc: bool = False):
        """``freeze_gc``: once started, leave what start-up built out of the cyclic collector's work (for the app that
        owns its process: objects frozen are never collected, so an app in a test process would leak)."""
        super().__init__()
        self.home = Path(home) if home else engine.default_home()
        self.system_stats = system_stats
        self.freeze_gc = freeze_gc
        self.specs = registry.specs()
        self.model = RunsModel()
        self.log_scale = True  # losses span decades
        self.watcher: StoreWatcher | None = None
        self.tab_keys = TAB_KEYS
        self.pace = RedrawPace()
        self._stop_polling = threading.Event()  # set at exit: the poll thread sleeps on it, not in 0.1 s naps
        self._last_experiment = self.specs[0].name  # a new sweep from the Sweeps tab uses this form
        self._started = False  # the first tab is mounted: the others may mount as soon as they are shown
        shared = {"model": self.model, "home": self.home}
        plan = {f"tab-{s.name}": ("tui.experiment_pane:ExperimentPane", {"spec": s, "id": f"pane-{s.name}", **shared})
                for s in self.specs}
        plan["tab-runs"] = ("tui.runs_pane:RunsPane", {"id": "pane-runs", "model": self.model})
        plan["tab-sweeps"] = ("tui.sweeps_pane:SweepsPane", {"id": "pane-sweeps", "model": self.model})
        self.tabs = TabContents(self, plan, self._tab_mounted)

    # -- layout and start-up -----------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"):
            for i, (name, title) in enumerate(TABS):
                yield TabPane(f"{i + 1} {title}", id=f"tab-{name}")  # filled by self.tabs
        yield Static("", id="status-bar")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = str(self.home)
        self.call_after_refresh(self._mount_first)  # paint the frame first

    @property
    def mounted(self) -> bool:
        """Whether every tab has all its content (the first paint shows only the frame)."""
        return self.tabs.complete and all(pane.run_view is not None for pane in self._panes())

    async def _mount_first(self) -> None:
        """The first experiment's form, then the background work; the hidden tabs' contents a little later."""
        await self.tabs.mount(f"tab-{self.specs[0].name}")
        self._started = True
        await self.tabs.mount(self.query_one("#tabs", TabbedContent).active)  # a tab key came first
        # Later, not next: reading the store or mounting more before the form is painted would hold up that paint.
        self.set_timer(BACKGROUND_AFTER_SECONDS, self._start_background)
        self.set_timer(HIDDEN_TABS_AFTER_SECONDS, lambda: self.tabs.mount_hidden(self._all_mounted))

    def _all_mounted(self) -> None:
        self._install_help()  # last: its first opening then costs no import or build
        if self.freeze_gc:
            # What start-up built lives as long as the app: the cyclic collector need not walk it again. Its
            # full collections walked some 200,000 objects every few seconds, 40-200 ms each, keys waiting.
            gc.freeze()

    def _install_help(self) -> None:
        if not self.is_screen_installed("help"):  # built once: opening it again only shows it
            from .runs_pane import RunsPane
            from .screens.help import HelpScreen
            from .sweeps_pane import SweepsPane
            from .widgets.param_form import ParamForm, ParamGrid

            self.install_screen(HelpScreen(
                [("Everywhere", list(self.BINDINGS)), ("Experiment tabs", list(ExperimentPane.BINDINGS)),
                 ("The form", list(ParamGrid.BINDINGS) + list(ParamForm.HELP_KEYS)),
                 ("Runs tab", list(RunsPane.BINDINGS)), ("Sweeps tab", list(SweepsPane.BINDINGS))],
                self.pace), "help")

    async def _tab_mounted(self, name: str, content: Widget) -> None:
        if isinstance(content, ExperimentPane):
            self._follow_newest(content)
        if self.active_tab() == name:
            self._content(name).focus_home()
            self.redraw()

    def _start_background(self) -> None:
        self.watch_store()
        if self.system_stats:
            self.poll_system()
        self.set_timer(self.pace.seconds, self._on_redraw_timer)

    # -- background work ---------------------------------------------------------------------------------------
    @work(thread=True, group="watch", exclusive=True, exit_on_error=False)
    def watch_store(self) -> None:
        from .watcher import StoreWatcher

        worker = get_current_worker()
        self.watcher = StoreWatcher(self.home, self.post_message, lambda: worker.is_cancelled)
        self.watcher.run()

    @work(thread=True, group="system", exclusive=True, exit_on_error=False)
    def poll_system(self) -> None:
        from .widgets.sys_status import system_text

        worker = get_current_worker()
        while not worker.is_cancelled:
            self.post_message(SystemStats(system_text()))
            if self._stop_polling.wait(2.0):
                return

    def on_unmount(self) -> None:
        self._stop_polling.set()

    @work(thread=True, group="launch", exit_on_error=False)
    def launch(self, experiment: str, raw: dict, budget: float | None) -> None:
        try:
            store = engine.Store(self.home)
            run_id = engine.create(store, experiment, raw, budget)
            engine.spawn(store, run_id)
        except LabdeckError as exc:
            self.post_message(Launched(experiment, None, str(exc)))
            return
        self.post_message(Launched(experiment, run_id, params=store.get(run_id).params, budget=budget))

    @work(thread=True, group="control", exit_on_error=False)
    def control(self, action: str, run_id: str) -> None:
        try:
            getattr(engine, action)(engine.Store(self.home), run_id)
        except LabdeckError as exc:
            self.post_message(Controlled(action, run_id, str(exc)))
            return
        self.post_message(Controlled(action, run_id))

    @work(thread=True, group="control", exit_on_error=False)
    def control_sweep(self, action: str, sweep_id: str) -> None:
        try:
            getattr(engine.sweep, action)(engine.Store(self.home), sweep_id)
        except LabdeckError as exc:
            self.call_from_thread(self.notify, str(exc), severity="warning")
            return
        self.call_from_thread(self.notify, f"{action}: sweep {sweep_id}")
        self._refresh_runs()

    @work(thread=True, group="delete", exit_on_error=False)
    def delete(self, run_id: str) -> None:
        from engine.runs import delete

        try:
            delete(engine.Store(self.home), run_id)
        except LabdeckError as exc:
            self.call_from_thread(self.notify, str(exc), severity="warning")
            return
        self._refresh_runs()

    @work(thread=True, group="report", exit_on_error=False)
    def write_report(self, target: str) -> None:
        try:
            path = engine.write_report(engine.Store(self.home), target, self.home / "reports" / target)
        except LabdeckError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.post_message(ReportWritten(str(path)))

    @work(thread=True, group="launch-sweep", exit_on_error=False)
    def create_sweep(self, v: dict, dialog: NewSweep) -> None:
        try:
            store = engine.Store(self.home)
            trials = engine.sweep.plan(v["experiment"], v["base"], engine.sweep.parse_grid(v["grid"]), v["random"],
                                       engine.sweep.parse_ranges(v["ranges"], v["experiment"]))
            budget = engine.sweep.parse_budget(v["budget"])
            engine.sweep.check_options(v["parallel"], budget, v["backend"], asha=v["asha"], address=v["address"])
            options = {k: v[k] for k in ("parallel", "backend", "address", "asha")}
            sweep_id = engine.sweep.create(store, v["experiment"], trials, budget, options)
            engine.sweep.spawn(store, sweep_id, v["parallel"])
        except LabdeckError as exc:
            self.call_from_thread(dialog.show_error, str(exc))
            return
        self.call_from_thread(self._sweep_started, sweep_id, len(trials), dialog)

    def _refresh_runs(self) -> None:
        if self.watcher:
            self.watcher.refresh_runs()

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.group}: {event.worker.error}", severity="error", timeout=10)

    # -- messages from the watcher ---------------------------------------------------------------------------------
    def on_run_events(self, message: RunEvents) -> None:
        for ended in self.model.apply(message.run_id, message.events, message.reset):
            self.notify(f"run {message.run_id} failed: {ended.message}", severity="error", timeout=10)
            state = self.model.states[message.run_id]
            if ended.reason == "download" and (pane := self._experiment_pane(state.experiment)) is not None:
                pane.offer_offline_data()

    def on_runs_changed(self, message: RunsChanged) -> None:
        engine.reap()  # runs this dashboard started and that have ended must not linger as zombies
        self.model.update_runs(message.runs)
        for pane in self._panes():
            self._follow_newest(pane)
        for name in ("runs", "sweeps"):
            if (content := self.tabs.get(name)) is not None:  # absent until mounted (lazily)
                content.update_runs(message.runs)

    def on_store_failed(self, message: StoreFailed) -> None:
        self.query_one("#status-bar", Static).update(f"[b $error]{message.error}[/]", layout=False)
        self.notify(message.error, severity="error", timeout=30)

    def on_system_stats(self, message: SystemStats) -> None:
        self.query_one("#status-bar", Static).update(message.text, layout=False)  # one fixed line

    # -- what the panes ask for ----------------------------------------------------------------------------------------
    @on(StartRun)
    def start_run(self, message: StartRun) -> None:
        self.launch(message.experiment, message.params, message.budget)

    def on_launched(self, message: Launched) -> None:
        pane = self._experiment_pane(message.experiment)
        if pane is None:
            return
        if message.error:
            pane.show_error(message.error)
            return
        pane.show_error("")
        pane.pinned = False
        self.model.started(message.run_id, message.experiment, message.params, message.budget)
        self.show_run(pane, message.run_id)
        self.redraw()  # the new run's header now, not when its process has imported torch
        self.notify(f"started run {message.run_id}")
        self._refresh_runs()

    @on(ControlRun)
    def control_run(self, message: ControlRun) -> None:
        self.control(message.action, message.run_id)

    def on_controlled(self, message: Controlled) -> None:
        if message.error:
            self.notify(message.error, severity="warning")
            return
        if message.action == "resume":
            self.model.resumed(message.run_id)
            self.redraw()
        self._refresh_runs()

    @on(OpenRun)
    def open_run(self, message: OpenRun) -> None:
        info = self.model.infos.get(message.run_id)
        pane = self._experiment_pane(info.experiment) if info is not None else None
        if pane is None:
            return
        self.show_run(pane, info.id, pinned=True)
        pane.form.load(info.params, info.budget)
        self.action_tab(info.experiment)

    @on(DeleteRun)
    def delete_run(self, message: DeleteRun) -> None:
        self.delete(message.run_id)

    @on(NewSweepAsked)
    def new_sweep(self, message: NewSweepAsked) -> None:
        from .screens.sweep import NewSweep

        pane = self._experiment_pane(message.experiment or self._last_experiment)
        if pane is not None:
            budget = pane.form.raw["budget"]
            self.push_screen(NewSweep(pane.spec, pane.form.raw_values(), budget), self._sweep_dialog_closed)

    def on_new_sweep_submitted(self, message: NewSweep.Submitted) -> None:
        self.create_sweep(message.values, message.dialog)

    @on(ControlSweep)
    def sweep_control(self, message: ControlSweep) -> None:
        self.control_sweep(message.action, message.sweep_id)

    @on(ReportAsked)
    def report_asked(self, message: ReportAsked) -> None:
        self.notify(f"writing a report of {message.target} …", timeout=4)
        self.write_report(message.target)

    def on_report_written(self, message: ReportWritten) -> None:
        from .screens.dialogs import ReportDone

        self.push_screen(ReportDone(Path(message.path)))

    def _sweep_dialog_closed(self, sweep_id: str | None) -> None:
        if sweep_id:
            # after the screen below has its focus back (that focus would bring its own tab back)
            self.call_after_refresh(self._show_sweep, sweep_id)

    def _show_sweep(self, sweep_id: str) -> None:
        self.action_tab("sweeps")
        if (sweeps := self.tabs.get("sweeps")) is not None:
            sweeps.select(sweep_id)

    def _sweep_started(self, sweep_id: str, count: int, dialog: NewSweep) -> None:
        dialog.dismiss(sweep_id)
        self.notify(f"started sweep {sweep_id}: {count} trials")
        self._refresh_runs()

    # -- following and drawing ------------------------------------------------------------------------------------
    def _follow_newest(self, pane: ExperimentPane) -> None:
        """Show the newest run of the pane's experiment, unless the user opened another."""
        if not pane.pinned and (newest := self.model.newest(pane.spec.name)) is not None:
            self.show_run(pane, newest.id)

    def show_run(self, pane: ExperimentPane, run_id: str, pinned: bool = False) -> None:
        pane.follow(run_id, pinned)
        if self.watcher:
            self.watcher.subscribe(run_id)

    def active_tab(self) -> str:
        return (self.query_one("#tabs", TabbedContent).active or "tab-runs").removeprefix("tab-")

    def _content(self, name: str) -> Content | None:
        return self.tabs.get(name)  # type: ignore[return-value]

    def _experiment_pane(self, name: str) -> ExperimentPane | None:
        """An experiment's tab content, once mounted (children included)."""
        pane = self.tabs.get(name)
        return pane if isinstance(pane, ExperimentPane) else None

    def _panes(self) -> list[ExperimentPane]:
        return [pane for pane in self.tabs.contents.values() if isinstance(pane, ExperimentPane)]

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.pace.key()
        await super().on_event(event)

    def _on_redraw_timer(self) -> None:
        started = time.perf_counter()
        if self.pace.may_draw():
            self.redraw()
        self.pace.drew(time.perf_counter() - started)
        self.set_timer(self.pace.seconds, self._on_redraw_timer)

    def redraw(self) -> None:
        try:
            content = self._content(self.active_tab())
            if content is None:
                return
            with self.batch_update():
                content.redraw(self.model, self.log_scale)
            if self.watcher:
                for run_id in content.wanted_runs():
                    self.watcher.subscribe(run_id)
        except NoMatches:  # the timer may fire once more while the DOM is torn down at exit
            pass

    # -- keys that act on whichever tab is shown ---------------------------------------------------------------------
    def action_tab(self, name: str) -> None:
        self.query_one("#tabs", TabbedContent).active = f"tab-{name}"
        if self._started and f"tab-{name}" in self.tabs.to_mount:  # shown before its turn came
            self.call_later(self.tabs.mount, f"tab-{name}")
        if name in registry.names():
            self._last_experiment = name
        # Focus inside the new pane too: a focus event still queued from start-up would otherwise bring its own
        # pane back (TabbedContent activates the pane of a focused widget).
        if (content := self._content(name)) is not None:
            content.focus_home()
        self.redraw()

    @on(TabbedContent.TabActivated, "#tabs")
    async def tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == self.query_one("#tabs", TabbedContent).active:  # not a stale activation
            if self._started:
                await self.tabs.mount(event.pane.id)  # a tab clicked before its turn came
            if (content := self._content(event.pane.id.removeprefix("tab-"))) is not None:
                content.focus_home()

    def action_control(self, action: str) -> None:
        content = self._content(self.active_tab())
        run_id = content.selected_run() if content is not None else None
        if not run_id:
            self.notify("no run selected", severity="warning")
            return
        self.control(action, run_id)

    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale
        for pane in self._panes():
            pane.redraw_all()
        self.redraw()

    def action_leave_field(self) -> None:
        if (content := self._content(self.active_tab())) is not None:
            content.leave_field()

    def action_report(self) -> None:
        content = self._content(self.active_tab())
        target = content.report_target() if content is not None else None
        if target:
            self.post_message(ReportAsked(target))
        else:
            self.notify("no run or sweep to report on", severity="warning")

    def action_reports(self) -> None:
        """Pick one of the reports written so far, to read it or copy its path."""
        from .screens.dialogs import Pick, ReportDone

        folder = self.home / "reports"
        reports = sorted(folder.glob("*/report.md"), key=lambda p: p.stat().st_mtime, reverse=True) \
            if folder.is_dir() else []
        if not reports:
            self.notify("no reports yet: Shift+R writes one of the current run or sweep", severity="warning")
            return
        names = [p.parent.name for p in reports]

        def chosen(name: str | None) -> None:
            if name:
                self.push_screen(ReportDone(folder / name / "report.md"))

        self.push_screen(Pick("Reports (newest first)", names), chosen)

    def action_new_sweep(self) -> None:
        self.post_message(NewSweepAsked(self.active_tab() if self.active_tab() in registry.names() else None))

    def action_help(self) -> None:
        self._install_help()
        self.push_screen("help")


def run_dashboard(home: str | None = None) -> int:
    LabdeckApp(home, freeze_gc=True).run()
    return 0
