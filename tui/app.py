"""labdeck's dashboard: a tab per experiment plus Runs and Sweeps; starts, watches and controls runs.

The app composes the screen, binds the keys that act on whichever tab is shown (their workers too), and routes:
a thread reads the store into the ``RunsModel``; each tab's content owns its own actions and redraws itself from
the model on a timer whose pace adapts to the machine (``redraw``), inside ``batch_update()``.

Start-up paints the frame first; the first experiment's form follows, then the background work and, one tab at a
time, the other tabs' contents (``mounting``), so the modules behind them are imported only then.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import MountError, Widget
from textual.widgets import Header, TabbedContent
from textual.worker import Worker, WorkerState

from labdeck import engine
from labdeck.engine import LabdeckError, paths, registry, settings

from .experiment_pane import ExperimentPane
from .messages import (
    Controlled,
    ControlRun,
    Following,
    NewSweepAsked,
    OpenRun,
    ReportWritten,
    RunEvents,
    RunsChanged,
    StoreChanged,
    StoreFailed,
    StoreWarning,
)
from .model import RunsModel
from .mounting import TabContents
from .redraw import RedrawPace
from .widgets.footer import Footer
from .widgets.status_bar import StatusBar
from .widgets.tabs import Pane, Tabs

if TYPE_CHECKING:
    from rich.console import RenderableType
    from textual.timer import Timer

    from .watcher import StoreWatcher

BACKGROUND_AFTER_SECONDS = 0.2  # reading the store starts this long after the first form is mounted
HIDDEN_TABS_AFTER_SECONDS = 0.6  # the hidden tabs' contents mount this long after it (or when first shown)
IDLE_SECONDS = 2.0  # between redraw ticks while nothing changes
WAKE_SECONDS = 0.02  # from news to the first redraw tick after an idle spell (then the pace again)


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
    CSS_PATH = ["app.tcss", "screens/help.tcss", "screens/dialogs.tcss", "screens/sweep.tcss",
                "screens/run_metrics.tcss"]
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
        Binding("R", "report", "Report", id="run.report",
                tooltip="Write a Markdown report of the current run or sweep"),
        Binding("escape", "leave_field", "Leave field", show=False, id="view.leave"),
        Binding("g", "gpus", "GPUs", show=False, id="app.gpus",
                tooltip="Each GPU's use and memory, and the runs on it"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Quit the dashboard; runs keep going"),
        *TAB_KEYS,
    ]

    def __init__(self, home: str | Path | None = None, system_stats: bool = True, freeze_gc: bool = False,
                 open_run: tuple[str, str] | None = None):
        """``freeze_gc``: once started, leave what start-up built out of the cyclic collector's work (for the app that
        owns its process: objects frozen are never collected, so an app in a test process would leak).
        ``open_run``: a run to open once the store is read, and the tab it opens in."""
        super().__init__()
        self.home = Path(home) if home else engine.default_home()
        self.system_stats = system_stats
        self.freeze_gc = freeze_gc
        self.specs = registry.specs()
        self.model = RunsModel()
        self.log_scale = True  # losses span decades
        self.watcher: StoreWatcher | None = None
        self.reader: threading.Thread | None = None  # the store reader's thread (``watch_store``)
        self.tab_keys = TAB_KEYS
        self.pace = RedrawPace()
        self._last_experiment = self.specs[0].name  # a new sweep from the Sweeps tab uses this form
        self._started = False  # the first tab is mounted: the others may mount as soon as they are shown
        self._quitting = False
        self._stale = True  # something may look different since the last redraw
        self._idle = False  # the redraw timer ticks slowly: nothing changed at its last tick
        self._redraw_timer: Timer | None = None
        shared = {"model": self.model, "home": self.home}
        plan = {f"tab-{s.name}": ("labdeck.tui.experiment_pane:ExperimentPane",
                                  {"spec": s, "id": f"pane-{s.name}", **shared})
                for s in self.specs}
        plan["tab-runs"] = ("labdeck.tui.runs_pane:RunsPane", {"id": "pane-runs", **shared})
        plan["tab-sweeps"] = ("labdeck.tui.sweeps_pane:SweepsPane", {"id": "pane-sweeps", **shared})
        self.tabs = TabContents(self, plan, self._tab_mounted)
        self.first_tab = open_run[1] if open_run else remembered_tab()  # else the tab last left
        self.settings = settings.load()
        self._setting_problems = [self.settings.problem] if self.settings.problem else []
        self.keymap: dict[str, str] = {}
        if self.settings.keys:  # (checking them imports every pane's module: not before the first paint otherwise)
            self.keymap, unknown = self._known_keys(self.settings.keys)
            self._setting_problems += [unknown] if unknown else []
            self.set_keymap(self.keymap)
        self._open_first = open_run[0] if open_run else None

    # -- layout and start-up -----------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Header()
        with Tabs(id="tabs", initial=f"tab-{self.first_tab}"):
            for i, (name, title) in enumerate(TABS):
                yield Pane(f"{i + 1} {title}", id=f"tab-{name}")  # filled by self.tabs
        yield StatusBar(id="status-bar")
        yield Footer()

    def exit(self, result: object = None, return_code: int = 0, message: RenderableType | None = None) -> None:
        self._quitting = True
        super().exit(result, return_code, message)

    @property
    def closing(self) -> bool:
        """Quitting (``exit()`` was called) or being taken down (a test's app closes without ``exit()``)."""
        return self._quitting or not self.is_running

    def _handle_exception(self, error: Exception) -> None:
        # Quitting, Textual composes nothing more, then takes the widgets down leaves first: one still mounting
        # finds no children of its own (its on_mount's query) or its parent closed. The app ends either way; that
        # is no error to end it with.
        if self.closing and isinstance(error, (NoMatches, MountError)):
            return
        super()._handle_exception(error)

    def on_mount(self) -> None:
        self.sub_title = str(self.home)
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        elif self.settings.theme:
            self._setting_problems.append(f"settings: no theme {self.settings.theme!r} (see the palette's themes)")
        for problem in self._setting_problems:
            self.notify(problem, severity="warning", timeout=15)
        self.theme_changed_signal.subscribe(self, self._keep_theme)
        self.call_after_refresh(self._mount_first)  # paint the frame first

    @staticmethod
    def _known_keys(keys: dict[str, str]) -> tuple[dict[str, str], str]:
        """The settings' keys whose binding ids exist, and one line naming those that do not."""
        ids = {b.id for _, bindings in binding_groups() for b in bindings if b.id}
        unknown = sorted(set(keys) - ids)
        line = f"settings: no key binding {', '.join(map(repr, unknown))} (docs/settings.md lists the ids)" \
            if unknown else ""
        return {k: v for k, v in keys.items() if k in ids}, line

    def _keep_theme(self, theme) -> None:
        self.keep_theme(theme.name)

    @work(thread=True, group="settings", exit_on_error=False)
    def keep_theme(self, name: str) -> None:
        if problem := settings.save_theme(name):
            self.call_from_thread(self.notify, problem, severity="warning")

    @property
    def mounted(self) -> bool:
        """Whether every tab has all its content (the first paint shows only the frame)."""
        return self.tabs.complete and all(pane.run_view is not None for pane in self._panes())

    async def _mount_first(self) -> None:
        """The first experiment's form, then the background work; the hidden tabs' contents a little later."""
        await self.tabs.mount(f"tab-{self.first_tab}")
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
            from .screens.help import HelpScreen

            self.install_screen(HelpScreen(binding_groups(), self.pace, self.keymap), "help")

    async def _tab_mounted(self, name: str, content: Widget) -> None:
        if isinstance(content, ExperimentPane):
            self._follow_newest(content)
        if self.active_tab() == name:
            self._content(name).focus_home()
            self.redraw()

    def _start_background(self) -> None:
        if self.closing:  # a reader started now would outlive the app's cancelling of workers
            return
        self.watch_store()
        if self.system_stats:
            self.query_one(StatusBar).start_polling()
        self._redraw_timer = self.set_timer(self.pace.seconds, self._on_redraw_timer)

    # -- background work ---------------------------------------------------------------------------------------
    def watch_store(self) -> None:
        """Read the store in a thread of its own. Not a Textual worker: Textual waits for its thread workers as it
        quits, and a long read (a huge run's replay on a busy machine) held the prompt for seconds; this one ends
        at its next look once the app is closing, and the process does not wait for it."""
        from .watcher import StoreWatcher

        self.watcher = StoreWatcher(self.home, self.post_message, lambda: self.closing)
        self.reader = threading.Thread(target=self._read_store, name="labdeck-store-reader", daemon=True)
        self.reader.start()

    def _read_store(self) -> None:
        try:
            self.watcher.run()
        except Exception as exc:  # what a worker would have reported: the app says it and keeps running
            self.post_message(StoreFailed(f"reading the store failed: {engine.one_line(exc)}"))

    @work(thread=True, group="control", exit_on_error=False)
    def control(self, action: str, run_id: str) -> None:
        try:
            getattr(engine, action)(engine.Store(self.home), run_id)
        except LabdeckError as exc:
            self.post_message(Controlled(action, run_id, str(exc)))
            return
        self.post_message(Controlled(action, run_id))

    @work(thread=True, group="report", exit_on_error=False)
    def write_report(self, target: str) -> None:
        try:
            path = engine.write_report(engine.Store(self.home), target, self.home / "reports" / target)
        except LabdeckError as exc:
            self.post_message(ReportWritten("", target, str(exc)))
            return
        self.post_message(ReportWritten(str(path), target))

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.group}: {event.worker.error}", severity="error", timeout=10)

    # -- messages from the watcher ---------------------------------------------------------------------------------
    def on_run_events(self, message: RunEvents) -> None:
        self._touch()
        for ended in self.model.apply(message.run_id, message.events, message.reset):
            self.notify(f"run {message.run_id} failed: {ended.message}", severity="error", timeout=10)
            state = self.model.states[message.run_id]
            if ended.reason == "download" and (pane := self._experiment_pane(state.experiment)) is not None:
                pane.offer_offline_data()

    def on_runs_changed(self, message: RunsChanged) -> None:
        if not self.is_running:
            return  # shutting down: the store reader's last listing finds the panes' widgets half taken down
        self._touch()
        engine.reap()  # runs this dashboard started and that have ended must not linger as zombies
        self.model.update_runs(message.changed, message.removed)
        for pane in self._panes():
            self._follow_newest(pane)
        for name in ("runs", "sweeps"):
            if (content := self.tabs.get(name)) is not None:  # absent until mounted (lazily)
                content.update_runs()
        if self._open_first in self.model.infos:
            self.post_message(OpenRun(self._open_first))
            self._open_first = None

    def on_store_warning(self, message: StoreWarning) -> None:
        self.notify(message.text, severity="warning", timeout=30)

    def on_store_failed(self, message: StoreFailed) -> None:
        self.query_one(StatusBar).show_error(message.error)
        self.notify(message.error, severity="error", timeout=30)

    # -- what the panes ask for ----------------------------------------------------------------------------------------
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
        if info is not None and not registry.is_own(info.experiment):  # a script's run: its own view
            from .screens.run_metrics import RunMetricsView

            if self.watcher:
                self.watcher.subscribe(info.id)
            self.push_screen(RunMetricsView(self.model, info.id))
            return
        pane = self._experiment_pane(info.experiment) if info is not None else None
        if pane is None:
            return
        pane.follow(info.id, pinned=True)
        pane.form.load(info.asked, info.budget)
        self.action_tab(info.experiment)

    @on(Following)
    def subscribe(self, message: Following) -> None:
        if self.watcher:
            self.watcher.subscribe(message.run_id)
        self.redraw()  # a run just started or opened shows now, not on the next tick

    @on(StoreChanged)
    def _refresh_runs(self) -> None:
        if self.watcher:
            self.watcher.refresh_runs()

    @on(NewSweepAsked)
    def new_sweep(self, message: NewSweepAsked) -> None:
        from .screens.sweep import NewSweep

        pane = self._experiment_pane(message.experiment or self._last_experiment)
        if pane is not None:
            self.push_screen(NewSweep(pane.spec, pane.form.raw_values(), self.home, pane.form.raw["budget"]),
                             self._sweep_dialog_closed)

    def on_report_written(self, message: ReportWritten) -> None:
        from .screens.reports import ReportDone

        self.query_one(StatusBar).doing(f"report {message.target}", None)
        if message.error:
            self.notify(message.error, severity="error")
            return
        self.push_screen(ReportDone(Path(message.path)))

    def _sweep_dialog_closed(self, sweep_id: str | None) -> None:
        if sweep_id:
            self._refresh_runs()
            # after the screen below has its focus back (that focus would bring its own tab back)
            self.call_after_refresh(self._show_sweep, sweep_id)

    def _show_sweep(self, sweep_id: str) -> None:
        self.action_tab("sweeps")
        if (sweeps := self.tabs.get("sweeps")) is not None:
            sweeps.select(sweep_id)

    # -- following and drawing ------------------------------------------------------------------------------------
    def _follow_newest(self, pane: ExperimentPane) -> None:
        """Show the newest run of the pane's experiment, unless the user opened another."""
        if not pane.pinned and (newest := self.model.newest(pane.spec.name)) is not None:
            pane.follow(newest.id)

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
        if isinstance(event, (events.Key, events.MouseEvent, events.Resize)):
            self._touch()
        await super().on_event(event)

    def _touch(self) -> None:
        """Something may look different now: redraw at the next tick, and tick at the pace again if idle."""
        self._stale = True
        if self._idle and self._redraw_timer is not None:
            self._idle = False
            self._redraw_timer.stop()
            self._redraw_timer = self.set_timer(WAKE_SECONDS, self._on_redraw_timer)

    def _on_redraw_timer(self) -> None:
        # an idle dashboard (nothing new, nothing running, no key) draws nothing, measures nothing and ticks slowly
        self._idle = not (self._stale or self.model.live())
        if not self._idle:
            started = time.perf_counter()
            if self.pace.may_draw():
                self._stale = False
                self.redraw()
            self.pace.drew(time.perf_counter() - started, cpu_training=self.model.cpu_training)
        self._redraw_timer = self.set_timer(IDLE_SECONDS if self._idle else self.pace.seconds, self._on_redraw_timer)

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
        if registry.is_own(name):
            self._last_experiment = name
        if (content := self._content(name)) is not None:
            content.focus_home()
        self.redraw()

    @on(TabbedContent.TabActivated, "#tabs")
    async def tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # the event's own TabbedContent: one still queued as the app closes finds the screen emptied
        if event.pane.id == event.tabbed_content.active:  # not a stale activation
            if self._started:
                await self.tabs.mount(event.pane.id)  # a tab clicked before its turn came
                remember_tab(event.pane.id.removeprefix("tab-"))
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
            self.query_one(StatusBar).doing(f"report {target}", f"writing a report of {target} …")
            self.write_report(target)
        else:
            self.notify("no run or sweep to report on", severity="warning")

    def action_reports(self) -> None:
        """Every report written so far, to read one or copy its path."""
        from .screens.reports import ReportList

        self.push_screen(ReportList(self.home))

    def action_gpus(self) -> None:
        from .screens.gpus import GpuView

        self.push_screen(GpuView(self.model))

    def action_new_sweep(self) -> None:
        self.post_message(NewSweepAsked(self.active_tab() if registry.is_own(self.active_tab()) else None))

    def action_help(self) -> None:
        self._install_help()
        self.push_screen("help")


def binding_groups() -> list[tuple[str, list[Binding]]]:
    """Every key of the dashboard by where it works: the help screen's sections, the ids a keymap may name."""
    from .runs_pane import RunsPane
    from .sweeps_pane import SweepsPane
    from .widgets.param_form import ParamForm, ParamGrid

    return [("Everywhere", list(LabdeckApp.BINDINGS)), ("Experiment tabs", list(ExperimentPane.BINDINGS)),
            ("The form", list(ParamGrid.BINDINGS) + list(ParamForm.HELP_KEYS)),
            ("Runs tab", list(RunsPane.BINDINGS)), ("Sweeps tab", list(SweepsPane.BINDINGS))]


# Workers that change something: on quit, these are waited for (each is short); the others only read
WRITERS = frozenset({"control", "report", "launch", "save-plot", "delete", "control-sweep", "launch-sweep",
                     "settings"})
WRITERS_WAIT_SECONDS = 10.0


def remembered_tab() -> str:
    """The tab the dashboard showed when it was last left (the first experiment's, the first time)."""
    import json

    try:
        tab = json.loads(paths.state().read_text()).get("tab")
    except (OSError, ValueError, AttributeError):
        tab = None
    return tab if tab in {name for name, _ in TABS} else TABS[0][0]


def remember_tab(name: str) -> None:
    import json

    from labdeck.engine import durable

    try:
        paths.state().parent.mkdir(parents=True, exist_ok=True)
        durable.write_text(paths.state(), json.dumps({"tab": name}))
    except OSError:
        pass  # a read-only state folder: the next launch opens on the first tab


def run_dashboard(home: str | None = None, open_run: tuple[str, str] | None = None) -> int:
    """Run the dashboard in this process, then leave at once: Textual has given the terminal back, and a thread
    still reading (the store reader in a long replay, a figure being built: seconds on a busy machine, with a blank
    screen) must not hold the prompt up. Workers that write are waited for."""
    app = LabdeckApp(home, freeze_gc=True, open_run=open_run)
    app.run()
    deadline = time.monotonic() + WRITERS_WAIT_SECONDS
    while time.monotonic() < deadline and any(w.group in WRITERS and not w.is_finished for w in app.workers):
        time.sleep(0.05)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(app.return_code or 0)
