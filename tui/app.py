"""labdeck's dashboard: a tab per experiment plus Runs; starts, watches and controls runs.

Runs are separate processes. The app never waits on training: a watcher thread reads the store and posts
messages; plots are redrawn on a 4 Hz timer inside ``batch_update()``, and only when something changed.

Start-up paints the frame (header, tabs, footer) before anything else is imported. The first experiment's form
follows; then its run view (plotext, ...), the store reading and, one tab at a time, the other tabs' contents.
Hence the imports inside methods below: the module imports only Textual, the registry and the form's modules.
"""

from __future__ import annotations

import gc
import importlib
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import MountError, Widget
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

import engine
from engine import LabdeckError, registry

from .experiment_pane import ExperimentPane
from .presets import Presets

if TYPE_CHECKING:
    from engine import RunInfo

    from .messages import Launched, RunEvents, RunsChanged, StoreFailed, SystemStats
    from .runs_pane import RunsPane
    from .screens.sweep import NewSweep
    from .state import RunState
    from .sweeps_pane import SweepsPane
    from .watcher import StoreWatcher

REDRAW_SECONDS = 0.25  # 4 Hz: the low end of 4-10 Hz, as each plot rebuild costs ~50 ms of a 2-core CPU
# Keys come first: a redraw tick within this long after a key press is skipped (the next one catches up), so a
# key does not queue behind live plots being rebuilt and repainted while the user moves through the form.
INPUT_QUIET_SECONDS = 0.3
BACKGROUND_AFTER_SECONDS = 0.2  # reading the store starts this long after the first form is mounted
HIDDEN_TABS_AFTER_SECONDS = 0.6  # the hidden tabs' contents mount this long after it (or when first shown)
MOUNT_GAP_SECONDS = 0.05


def _commands_provider():
    from .commands import LabdeckCommands  # textual.command is imported when the palette first opens

    return LabdeckCommands


OFFLINE_DATA = {"vision": ("dataset", "shapes"), "language": ("corpus", "stdlib")}  # data that needs no download
TABS = [(s.name, s.title) for s in registry.specs()] + [("runs", "Runs"), ("sweeps", "Sweeps")]
TAB_KEYS = [Binding(str(i + 1), f"tab('{name}')", title, show=False, id=f"tab.{name}")
            for i, (name, title) in enumerate(TABS)]


class MainScreen(Screen):
    AUTO_FOCUS = ""  # the first form's grid takes the focus once mounted (each focus change recomposes the footer)


class LabdeckApp(App):
    # Every screen's own stylesheet is read at start too: a screen whose CSS is new to the app restyles every widget
    # of the app when it is first shown (~300 ms for the help screen while a run trains).
    CSS_PATH = ["app.tcss", "screens/help.tcss", "screens/dialogs.tcss", "screens/sweep.tcss"]
    TITLE = "labdeck"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    COMMANDS = App.COMMANDS | {_commands_provider}

    BINDINGS = [
        Binding("s", "start", "Start", id="run.start", tooltip="Start a run with the form's values"),
        Binding("p", "pause", "Pause", id="run.pause"),
        Binding("r", "resume", "Resume", id="run.resume"),
        Binding("x", "stop", "Stop", id="run.stop"),
        Binding("l", "toggle_log", "Log scale", id="view.log"),
        Binding("R", "report", "Report", id="run.report", tooltip="Write a Markdown report of the current run or sweep"),
        Binding("S", "save_preset", "Save preset", show=False, id="preset.save"),
        Binding("O", "load_preset", "Load preset", show=False, id="preset.load"),
        Binding("escape", "leave_form", "Cancel edit", show=False, id="view.leave"),
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
        self._experiment_names = {s.name for s in self.specs}
        self.states: dict[str, RunState] = {}
        self.infos: dict[str, RunInfo] = {}
        self.log_scale = True  # losses span decades
        self.presets = Presets(self.home)
        self.watcher: StoreWatcher | None = None
        self.tab_keys = TAB_KEYS
        self._stop_polling = threading.Event()  # set at exit: the poll thread sleeps on it, not in 0.1 s naps
        self._last_experiment = self.specs[0].name  # a new sweep from the Sweeps tab uses this form
        self._last_key = 0.0
        # tab id -> its content ("module:Class", kwargs), mounted after the first paint
        self._to_mount: dict[str, tuple[str, dict]] = {
            f"tab-{s.name}": ("tui.experiment_pane:ExperimentPane", {"spec": s, "id": f"pane-{s.name}"})
            for s in self.specs}
        self._to_mount["tab-runs"] = ("tui.runs_pane:RunsPane", {"id": "pane-runs"})
        self._to_mount["tab-sweeps"] = ("tui.sweeps_pane:SweepsPane", {"id": "pane-sweeps"})
        self._contents: dict[str, Widget] = {}  # tab name -> its content, once mounted with its children
        self._started = False  # the first tab is mounted: the others may mount as soon as they are shown

    # -- layout ------------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"):
            for i, (name, title) in enumerate(TABS):
                yield TabPane(f"{i + 1} {title}", id=f"tab-{name}")  # filled by _mount_tab
        yield Static("", id="status-bar")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = str(self.home)
        self.call_after_refresh(self._mount_first)  # paint the frame first

    @property
    def mounted(self) -> bool:
        """Whether every tab has all its content (the first paint shows only the frame; see ``_mount_first``)."""
        return len(self._contents) == len(TABS) and all(pane.run_view is not None for pane in self._panes())

    async def _mount_first(self) -> None:
        """The first experiment's form, then the background work; the hidden tabs' contents a little later."""
        await self._mount_tab(f"tab-{self.specs[0].name}")
        self._started = True
        await self._mount_tab(self.query_one("#tabs", TabbedContent).active)  # a tab key came first
        # Later, not next: reading the store or mounting more before the form is painted would hold up that paint.
        self.set_timer(BACKGROUND_AFTER_SECONDS, self._start_background)
        self.set_timer(HIDDEN_TABS_AFTER_SECONDS, self._mount_hidden)

    async def _mount_hidden(self) -> None:
        if self._to_mount:
            await self._mount_tab(next(iter(self._to_mount)))
            self.set_timer(MOUNT_GAP_SECONDS, self._mount_hidden)  # a frame between tabs: keys are not held up
        else:
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

            self.install_screen(HelpScreen([("Everywhere", list(self.BINDINGS)), ("Runs tab", list(RunsPane.BINDINGS)),
                                            ("Sweeps tab", list(SweepsPane.BINDINGS))]), "help")

    async def _mount_tab(self, tab_id: str) -> None:
        """Mount a tab's content (importing its module) if it is not mounted yet."""
        entry = self._to_mount.pop(tab_id, None)
        if entry is None:
            return
        target, kwargs = entry
        module, _, name = target.partition(":")
        widget: Widget = getattr(importlib.import_module(module), name)(**kwargs)
        try:
            await self.query_one(f"#{tab_id}", TabPane).mount(widget)
        except (NoMatches, MountError):  # the app is closing
            return
        self._contents[tab_id.removeprefix("tab-")] = widget
        if isinstance(widget, ExperimentPane):
            self._follow_newest(widget)
        if self.query_one("#tabs", TabbedContent).active == tab_id:
            self._focus_pane(tab_id)
            self.redraw()

    def _start_background(self) -> None:
        self.watch_store()
        if self.system_stats:
            self.poll_system()
        self.set_interval(REDRAW_SECONDS, self._on_redraw_timer)

    # -- background work ---------------------------------------------------------------------------
    @work(thread=True, group="watch", exclusive=True, exit_on_error=False)
    def watch_store(self) -> None:
        from .watcher import StoreWatcher

        worker = get_current_worker()
        self.watcher = StoreWatcher(self.home, self.post_message, lambda: worker.is_cancelled)
        self.watcher.run()

    @work(thread=True, group="system", exclusive=True, exit_on_error=False)
    def poll_system(self) -> None:
        from .messages import SystemStats
        from .widgets.sys_status import system_text

        worker = get_current_worker()
        while not worker.is_cancelled:
            self.post_message(SystemStats(system_text()))
            if self._stop_polling.wait(2.0):
                return

    def on_unmount(self) -> None:
        self._stop_polling.set()

    @work(thread=True, group="launch", exit_on_error=False)
    def launch(self, experiment: str, raw: dict) -> None:
        from .messages import Launched

        try:
            store = engine.Store(self.home)
            run_id = engine.create(store, experiment, raw)
            engine.spawn(store, run_id)
        except LabdeckError as exc:
            self.post_message(Launched(experiment, None, str(exc)))
            return
        self.post_message(Launched(experiment, run_id))

    @work(thread=True, group="control", exit_on_error=False)
    def control(self, action: str, run_id: str) -> None:
        try:
            getattr(engine, action)(engine.Store(self.home), run_id)
        except LabdeckError as exc:
            self.call_from_thread(self.notify, str(exc), severity="warning")
            return
        if self.watcher:
            self.watcher.refresh_runs()

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.group}: {event.worker.error}", severity="error", timeout=10)

    # -- messages from threads ---------------------------------------------------------------------
    def on_run_events(self, message: RunEvents) -> None:
        from engine.events import RunEnded

        from .state import RunState

        state = self.states.get(message.run_id)
        if state is None or message.reset:
            state = self.states[message.run_id] = RunState(message.run_id)
        for event in message.events:
            state.apply(event)
            if isinstance(event, RunEnded) and event.status == "failed" and not message.reset:
                self.notify(f"run {message.run_id} failed: {event.message}", severity="error", timeout=10)
                if event.message.startswith("cannot download") and state.experiment in OFFLINE_DATA:
                    key, value = OFFLINE_DATA[state.experiment]
                    if (pane := self._experiment_pane(state.experiment)) is not None:
                        pane.show_error(f"download failed: Ctrl+P 'Use offline data' sets {key}={value} "
                                        "(needs no download)")
        info = self.infos.get(message.run_id)
        if info is not None and state.status != info.status and info.status == "interrupted":
            state.status = info.status

    def on_runs_changed(self, message: RunsChanged) -> None:
        engine.reap()  # runs this dashboard started and that have ended must not linger as zombies
        self.infos = {i.id: i for i in message.runs}
        for info in message.runs:
            state = self.states.get(info.id)
            if state is not None and state.status != info.status and (
                    info.status == "interrupted" or state.ended is None):
                state.status = info.status
                state.version += 1
        for pane in self._panes():
            self._follow_newest(pane)
        if (runs := self.runs_pane()) is not None:  # absent until mounted (lazily); it pulls self.infos then
            runs.update_runs(message.runs)
        if (sweeps := self.sweeps_pane()) is not None:
            sweeps.update_runs(message.runs)

    def on_store_failed(self, message: StoreFailed) -> None:
        self.query_one("#status-bar", Static).update(f"[b $error]{message.error}[/]", layout=False)
        self.notify(message.error, severity="error", timeout=30)

    def on_system_stats(self, message: SystemStats) -> None:
        self.query_one("#status-bar", Static).update(message.text, layout=False)  # one fixed line

    def on_launched(self, message: Launched) -> None:
        pane = self._experiment_pane(message.experiment)
        if pane is None:
            return
        if message.error:
            pane.show_error(message.error)
            self.notify(message.error, severity="error")
            return
        pane.show_error("")
        pane.pinned = False
        self.show_run(pane, message.run_id)
        self.notify(f"started run {message.run_id}")
        if self.watcher:
            self.watcher.refresh_runs()

    def _follow_newest(self, pane: ExperimentPane) -> None:
        """Show the newest run of the pane's experiment, unless the user opened another."""
        if pane.pinned:
            return
        newest = [info for info in self.infos.values() if info.experiment == pane.spec.name]
        if newest:
            self.show_run(pane, newest[-1].id)

    def show_run(self, pane: ExperimentPane, run_id: str, pinned: bool = False) -> None:
        pane.follow(run_id, pinned)
        if self.watcher:
            self.watcher.subscribe(run_id)

    # -- drawing -----------------------------------------------------------------------------------
    def active_tab(self) -> str:
        return (self.query_one("#tabs", TabbedContent).active or "tab-runs").removeprefix("tab-")

    def _experiment_pane(self, name: str) -> ExperimentPane | None:
        """An experiment's tab content, once mounted (children included); no DOM query (one each redraw tick)."""
        pane = self._contents.get(name)
        return pane if isinstance(pane, ExperimentPane) else None

    def _panes(self) -> list[ExperimentPane]:
        return [pane for pane in self._contents.values() if isinstance(pane, ExperimentPane)]

    def runs_pane(self) -> RunsPane | None:
        """The Runs tab's content, once mounted."""
        return self._contents.get("runs")  # type: ignore[return-value]

    def sweeps_pane(self) -> SweepsPane | None:
        """The Sweeps tab's content, once mounted."""
        return self._contents.get("sweeps")  # type: ignore[return-value]

    def compared_states(self) -> list[RunState]:
        runs = self.runs_pane()
        return [self.states[r] for r in runs.compared_ids() if r in self.states] if runs else []

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._last_key = time.monotonic()
        await super().on_event(event)

    def _on_redraw_timer(self) -> None:
        if time.monotonic() - self._last_key >= INPUT_QUIET_SECONDS:
            self.redraw()

    def redraw(self) -> None:
        try:
            self._redraw()
        except NoMatches:  # the timer may fire once more while the DOM is torn down at exit
            pass

    def _redraw(self) -> None:
        tab = self.active_tab()
        with self.batch_update():
            if tab == "sweeps":
                sweeps = self.sweeps_pane()
                if sweeps is None:
                    return
                states = []
                for run_id in sweeps.compared_ids():
                    if run_id not in self.states and self.watcher:
                        self.watcher.subscribe(run_id)
                    if run_id in self.states:
                        states.append(self.states[run_id])
                sweeps.redraw(states, self.log_scale)
                return
            if tab == "runs":
                runs = self.runs_pane()
                if runs is None:
                    return
                for run_id in runs.compared_ids():
                    if run_id not in self.states and self.watcher:
                        self.watcher.subscribe(run_id)
                runs.redraw(self.compared_states(), self.log_scale)
                return
            pane = self._experiment_pane(tab)
            if pane is None:
                return
            state = self.states.get(pane.run_id) if pane.run_id else None
            compared = [s for s in self.compared_states() if s.experiment == tab]
            pane.redraw(state, compared, self.log_scale)

    # -- actions -----------------------------------------------------------------------------------
    def current_pane(self) -> ExperimentPane | None:
        tab = self.active_tab()
        return self._experiment_pane(tab)

    def current_run(self) -> str | None:
        pane = self.current_pane()
        if pane is not None:
            return pane.run_id
        if self.active_tab() == "sweeps":
            sweeps = self.sweeps_pane()
            return sweeps.compared_ids()[0] if sweeps and sweeps.compared_ids() else None
        runs = self.runs_pane()
        return runs.cursor_run() if runs is not None else None

    def action_tab(self, name: str) -> None:
        self.query_one("#tabs", TabbedContent).active = f"tab-{name}"
        if self._started and f"tab-{name}" in self._to_mount:  # shown before its turn came
            self.call_later(self._mount_tab, f"tab-{name}")
        if name in registry.names():
            self._last_experiment = name
        # Focus inside the new pane too: a focus event still queued from start-up would otherwise bring its own
        # pane back (TabbedContent activates the pane of a focused widget).
        self._focus_pane(f"tab-{name}")
        self.redraw()

    def _focus_pane(self, pane_id: str) -> None:
        # Arrow keys act on the tab's table: the runs, or the parameter grid (letters still reach the app).
        if pane_id in ("tab-runs", "tab-sweeps"):
            table_id = "#runs-table" if pane_id == "tab-runs" else "#trials-table"
            if tables := self.query(table_id):
                tables.first().focus()
        elif grids := self.query_one(f"#{pane_id}").query("ParamGrid"):  # empty while still being mounted
            grids.first().focus()

    @on(TabbedContent.TabActivated, "#tabs")
    async def tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == self.query_one("#tabs", TabbedContent).active:  # not a stale activation
            if self._started:
                await self._mount_tab(event.pane.id)  # a tab clicked before its turn came
            self._focus_pane(event.pane.id)

    def action_start(self) -> None:
        pane = self.current_pane()
        if pane is None:
            self.notify("open an experiment tab to start a run", severity="warning")
            return
        errors = pane.form.field_errors()
        if errors:
            pane.show_error(errors[0])
            self.notify(errors[0], severity="error")
            return
        pane.show_error("starting…")
        self.launch(pane.spec.name, pane.form.raw_values())

    def _control(self, action: str) -> None:
        run_id = self.current_run()
        if not run_id:
            self.notify("no run selected", severity="warning")
            return
        self.control(action, run_id)

    def action_pause(self) -> None:
        self._control("pause")

    def action_resume(self) -> None:
        self._control("resume")

    def action_stop(self) -> None:
        self._control("stop")

    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale
        for pane in self._panes():
            pane.redraw_all()
        self.redraw()

    def action_leave_form(self) -> None:
        pane = self.current_pane()
        if pane is None or not pane.form.cancel_edit():
            self.query_one("#tabs", TabbedContent).focus()

    def action_use_offline_data(self) -> None:
        """Fill the current tab's form with data that needs no download."""
        pane = self.current_pane()
        if pane is None or pane.spec.name not in OFFLINE_DATA:
            self.notify("this tab's data needs no download", timeout=4)
            return
        key, value = OFFLINE_DATA[pane.spec.name]
        pane.form.set_value(key, value)
        pane.show_error("")
        self.notify(f"{key}={value}: press s to start")

    # -- sweeps and reports ----------------------------------------------------------------------
    def action_new_sweep(self) -> None:
        from .screens.sweep import NewSweep

        pane = self.current_pane() or self._experiment_pane(self._last_experiment)
        if pane is None:
            return
        self.push_screen(NewSweep(pane.spec.name, pane.form.raw_values()), self._sweep_dialog_closed)

    def _sweep_dialog_closed(self, sweep_id: str | None) -> None:
        if sweep_id:
            # after the screen below has its focus back (that focus would bring its own tab back)
            self.call_after_refresh(self._show_sweep, sweep_id)

    def _show_sweep(self, sweep_id: str) -> None:
        self.action_tab("sweeps")
        if (sweeps := self.sweeps_pane()) is not None:
            sweeps.selected = sweep_id
            sweeps.update_runs(list(self.infos.values()))

    def start_sweep(self, values: dict, dialog: NewSweep) -> None:
        self._create_sweep(values, dialog)

    @work(thread=True, group="launch-sweep", exit_on_error=False)
    def _create_sweep(self, v: dict, dialog: NewSweep) -> None:
        try:
            store = engine.Store(self.home)
            trials = engine.sweep.plan(v["experiment"], v["base"], engine.sweep.parse_grid(v["grid"]), v["random"],
                                       engine.sweep.parse_ranges(v["ranges"], v["experiment"]))
            engine.sweep.check_options(v["parallel"], v["budget"], v["backend"], asha=v["asha"], address=v["address"])
            options = {k: v[k] for k in ("parallel", "backend", "address", "asha")}
            sweep_id = engine.sweep.create(store, v["experiment"], trials, v["budget"], options)
            engine.sweep.spawn(store, sweep_id, v["parallel"])
        except LabdeckError as exc:
            self.call_from_thread(dialog.show_error, str(exc))
            return
        self.call_from_thread(self._sweep_started, sweep_id, len(trials), dialog)

    def _sweep_started(self, sweep_id: str, count: int, dialog: NewSweep) -> None:
        dialog.dismiss(sweep_id)
        self.notify(f"started sweep {sweep_id}: {count} trials")
        if self.watcher:
            self.watcher.refresh_runs()

    def _current_sweep(self) -> str | None:
        sweeps = self.sweeps_pane()
        return sweeps.selected if sweeps is not None and self.active_tab() == "sweeps" else None

    def action_stop_sweep(self) -> None:
        if sweep_id := self._current_sweep():
            self.control_sweep("stop", sweep_id)

    def action_resume_sweep(self) -> None:
        if sweep_id := self._current_sweep():
            self.control_sweep("resume", sweep_id)

    @work(thread=True, group="control", exit_on_error=False)
    def control_sweep(self, action: str, sweep_id: str) -> None:
        try:
            getattr(engine.sweep, action)(engine.Store(self.home), sweep_id)
        except LabdeckError as exc:
            self.call_from_thread(self.notify, str(exc), severity="warning")
            return
        self.call_from_thread(self.notify, f"{action}: sweep {sweep_id}")

    def action_report(self) -> None:
        target = self._current_sweep() or self.current_run()
        if target:
            self.write_report(target)
        else:
            self.notify("no run or sweep to report on", severity="warning")

    @work(thread=True, group="report", exit_on_error=False)
    def write_report(self, target: str) -> None:
        try:
            path = engine.write_report(engine.Store(self.home), target, self.home / "reports" / target)
        except LabdeckError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.call_from_thread(self.notify, f"report written: {path}", timeout=10)

    def action_help(self) -> None:
        self._install_help()
        self.push_screen("help")

    def action_save_preset(self) -> None:
        pane = self.current_pane()
        if pane is None:
            return

        def save(name: str | None) -> None:
            if name:
                self.presets.save(pane.spec.name, name, pane.form.overrides())
                self.notify(f"saved preset {name!r}")

        from .screens.dialogs import AskName

        self.push_screen(AskName(f"Save the {pane.spec.title} form as preset:"), save)

    def action_load_preset(self) -> None:
        pane = self.current_pane()
        if pane is None:
            return
        presets = self.presets.all(pane.spec.name)
        if not presets:
            self.notify(f"no {pane.spec.title} presets yet (Shift+S saves one)", severity="warning")
            return

        def load(name: str | None) -> None:
            if name:
                pane.form.load(presets[name])
                self.notify(f"loaded preset {name!r}")

        from .screens.dialogs import Pick

        self.push_screen(Pick("Load preset", sorted(presets)), load)

    # Runs tab actions (bound in RunsPane)
    def action_open_run(self) -> None:
        info = self.infos.get(self.current_run() or "")
        pane = self._experiment_pane(info.experiment) if info is not None else None
        if pane is None:
            return
        self.show_run(pane, info.id, pinned=True)
        pane.form.load(info.params)
        self.action_tab(info.experiment)

    def action_delete_run(self) -> None:
        run_id = self.current_run()
        if not run_id:
            return

        def delete(yes: bool | None) -> None:
            if yes:
                self.delete(run_id)

        from .screens.dialogs import Confirm

        self.push_screen(Confirm(f"Delete run {run_id} and its files?"), delete)

    @work(thread=True, group="delete", exit_on_error=False)
    def delete(self, run_id: str) -> None:
        store = engine.Store(self.home)
        info = store.get(run_id)
        if info.status in engine.ACTIVE:
            self.call_from_thread(self.notify, f"run {run_id} is {info.status}; stop it first", severity="warning")
            return
        store.delete_run(run_id)
        if self.watcher:
            self.watcher.refresh_runs()


def run_dashboard(home: str | None = None) -> int:
    LabdeckApp(home, freeze_gc=True).run()
    return 0
