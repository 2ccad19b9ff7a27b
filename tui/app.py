"""labdeck's dashboard: a tab per experiment plus Runs and Sweeps; starts, watches and controls runs.

The app composes the screen and routes: a thread reads the store into the ``RunsModel``; the keys that act on
whichever tab is shown go to its content (``TabContent``), which owns those actions and their workers and redraws
itself from the model on a timer whose pace adapts to the machine (``redraw``), inside ``batch_update()``.

Start-up paints the frame first; the first experiment's form follows, then the background work and, one tab at a
time, the other tabs' contents (``mounting``), so the modules behind them are imported only then.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Header, TabbedContent
from textual.worker import Worker, WorkerState

from labdeck import engine
from labdeck.engine import registry

from .adapters.textual_private import QuietCloseApp
from .host_watcher import Links
from .keys import APP_BINDINGS, TAB_KEYS, TABS, palette
from .messages import (
    AlertsArrived,
    Doing,
    Following,
    NewSweepAsked,
    OpenRun,
    RunEvents,
    RunsChanged,
    StoreChanged,
    StoreFailed,
    StoreWarning,
)
from .model import RunsModel
from .mounting import TabContents, plan
from .redraw import RedrawPace, RedrawTimer
from .remembered import remember_tab, remembered_tab
from .tab_content import TabContent
from .user_settings import UserSettings
from .widgets.footer import Footer
from .widgets.status_bar import StatusBar
from .widgets.tabs import Pane, Tabs

if TYPE_CHECKING:
    from labdeck.engine.hosts import Host

    from .messages import HostChanged
    from .watcher import StoreWatcher

class MainScreen(Screen):
    AUTO_FOCUS = ""  # the first form's grid takes the focus once mounted (each focus change recomposes the footer)


class LabdeckApp(QuietCloseApp):
    # Every screen's own stylesheet is read at start too: a screen whose CSS is new to the app restyles every widget
    # of the app when it is first shown (~300 ms for the help screen while a run trains).
    CSS_PATH = ["app.tcss", "screens/help.tcss", "screens/dialogs.tcss", "screens/sweep.tcss",
                "screens/run_metrics.tcss"]
    TITLE = "labdeck"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    COMMANDS = App.COMMANDS | {palette}

    BINDINGS: ClassVar[list[BindingType]] = [*APP_BINDINGS, *TAB_KEYS]

    def __init__(self, home: str | Path | None = None, system_stats: bool = True, freeze_gc: bool = False,
                 open_run: tuple[str, str] | None = None, hosts: list[Host] | None = None):
        """``freeze_gc``: once started, leave what start-up built out of the cyclic collector's work (for the app that
        owns its process: objects frozen are never collected, so an app in a test process would leak).
        ``open_run``: a run to open once the store is read, and the tab it opens in. ``hosts``: other machines
        whose runs are shown beside this one's, reached over ssh (docs/remote.md)."""
        super().__init__()
        self.home = Path(home) if home else engine.default_home()
        self.system_stats, self.freeze_gc = system_stats, freeze_gc
        self.specs = registry.specs()
        self.model = RunsModel()
        self.links = Links(list(hosts or []), self.post_message)
        for link in self.links.values():
            self.model.host_changed(link.status)
        self.log_scale = True  # losses span decades
        self.watcher: StoreWatcher | None = None
        self.pace = RedrawPace()
        self.redraws = RedrawTimer(self, self.pace, self.redraw, self.model.live, lambda: self.model.cpu_training)
        self._last_experiment = self.specs[0].name  # a new sweep from the Sweeps tab uses this form
        self.tabs = TabContents(self, plan(self.specs, model=self.model, home=self.home), self._tab_mounted)
        self.first_tab = open_run[1] if open_run else remembered_tab({n for n, _ in TABS}, TABS[0][0])
        self._open_first = open_run[0] if open_run else None
        self.settings = UserSettings(self)

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

    def on_mount(self) -> None:
        self.sub_title = str(self.home)
        self.settings.apply()
        # paint the frame first
        self.call_after_refresh(self.tabs.start, self.first_tab, self._start_background, self._all_mounted)

    @property
    def mounted(self) -> bool:
        """Whether every tab has all its content (the first paint shows only the frame)."""
        return self.tabs.complete and all(pane.run_view is not None for pane in self.tabs.experiments())

    def _all_mounted(self) -> None:
        from .screens.help import install_help

        install_help(self)  # last: its first opening then costs no import or build
        if self.freeze_gc:
            # What start-up built lives as long as the app: the cyclic collector need not walk it again. Its
            # full collections walked some 200,000 objects every few seconds, 40-200 ms each, keys waiting.
            gc.freeze()

    async def _tab_mounted(self, name: str, content: TabContent) -> None:
        content.update_runs()
        if self.active_tab() == name:
            content.focus_home()
            self.redraw()

    def _start_background(self) -> None:
        if self.closing:  # a reader started now would outlive the app's cancelling of workers
            return
        self.watch_store()
        if self.system_stats:
            self.query_one(StatusBar).start_polling()
        self.redraws.start()

    def watch_store(self) -> None:
        from .watcher import StoreWatcher

        self.watcher = StoreWatcher(self.home, self.post_message, lambda: self.closing)
        self.watcher.start()
        self.links.start()

    def follow(self, run_id: str) -> None:
        """Read a run's events from now on: this machine's store, or the host's link that holds it."""
        if (link := self.links.of(run_id)) is not None:
            link.subscribe(run_id)
        elif self.watcher:
            self.watcher.subscribe(run_id)

    def on_unmount(self) -> None:
        self.links.close(wait=False)

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.group}: {event.worker.error}", severity="error", timeout=10)

    # -- what the watcher and the panes say ----------------------------------------------------------------------
    def on_run_events(self, message: RunEvents) -> None:
        self.redraws.touch()
        for ended in self.model.apply(message.run_id, message.events, message.reset):
            self.notify(f"run {message.run_id} failed: {ended.message}", severity="error", timeout=10)
            state = self.model.states[message.run_id]
            if ended.reason == "download" and (pane := self.tabs.experiment(state.experiment)) is not None:
                pane.offer_offline_data()

    def on_runs_changed(self, message: RunsChanged) -> None:
        if not self.is_running:
            return  # shutting down: the store reader's last listing finds the panes' widgets half taken down
        self.redraws.touch()
        engine.reap()  # runs this dashboard started and that have ended must not linger as zombies
        self.model.update_runs(message.changed, message.removed)
        for content in self.tabs.mounted():  # the others are not mounted yet (lazily)
            content.update_runs()
        if self._open_first in self.model.infos:  # a host's run is listed only now: its tab may not be mounted
            from .keys import tab_of

            self.action_tab(tab_of(self.model.infos[self._open_first].experiment))
            self.post_message(OpenRun(self._open_first))
            self._open_first = None

    def on_alerts_arrived(self, message: AlertsArrived) -> None:
        self.model.add_alerts(message.alerts)
        if message.fresh:  # those from before this dashboard started are in the Alerts list (!), not told again
            from .screens.alerts import tell

            tell(self, message.alerts)

    def on_host_changed(self, message: HostChanged) -> None:
        from .screens.hosts import tell

        self.model.host_changed(message.status)
        for content in self.tabs.mounted():
            content.update_runs()
        tell(self, message.status)

    def on_store_warning(self, message: StoreWarning) -> None:
        self.notify(message.text, severity="warning", timeout=30)

    def on_store_failed(self, message: StoreFailed) -> None:
        self.query_one(StatusBar).show_error(message.error)
        self.notify(message.error, severity="error", timeout=30)

    def on_doing(self, message: Doing) -> None:
        self.query_one(StatusBar).doing(message.key, message.text)

    @on(OpenRun)
    def open_run(self, message: OpenRun) -> None:
        info = self.model.infos.get(message.run_id)
        if info is not None and not registry.is_own(info.experiment):  # a script's run: its own view
            from .screens.run_metrics import RunMetricsView

            self.follow(info.id)
            self.push_screen(RunMetricsView(self.model, info.id))
            return
        if info is not None and (pane := self.tabs.experiment(info.experiment)) is not None:
            pane.open(info.id)
            self.action_tab(info.experiment)

    @on(Following)
    def subscribe(self, message: Following) -> None:
        self.follow(message.run_id)
        self.redraw()  # a run just started or opened shows now, not on the next tick

    @on(StoreChanged)
    def _refresh_runs(self) -> None:
        self.redraws.touch()
        if self.watcher:
            self.watcher.refresh_runs()

    @on(NewSweepAsked)
    def new_sweep(self, message: NewSweepAsked) -> None:
        from .screens.sweep import ask_for_sweep

        if (pane := self.tabs.experiment(message.experiment or self._last_experiment)) is not None:
            ask_for_sweep(self, pane)

    # -- following and drawing ------------------------------------------------------------------------------------
    def active_tab(self) -> str:
        return (self.query_one("#tabs", TabbedContent).active or "tab-runs").removeprefix("tab-")

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.pace.key()
        if isinstance(event, (events.Key, events.MouseEvent, events.Resize)):
            self.redraws.touch()
        await super().on_event(event)

    def redraw(self) -> None:
        try:
            if (content := self.shown()) is None:
                return
            with self.batch_update():
                content.redraw(self.model, self.log_scale)
            for run_id in content.wanted_runs():
                self.follow(run_id)
        except NoMatches:  # the timer may fire once more while the DOM is torn down at exit
            pass

    # -- keys that act on whichever tab is shown: the tab's content does the work --------------------------------
    def action_tab(self, name: str) -> None:
        self.query_one("#tabs", TabbedContent).active = f"tab-{name}"
        if self.tabs.started and f"tab-{name}" in self.tabs.to_mount:  # shown before its turn came
            self.call_later(self.tabs.mount, f"tab-{name}")
        if registry.is_own(name):
            self._last_experiment = name
        if (content := self.tabs.get(name)) is not None:
            content.focus_home()
        self.redraw()

    @on(TabbedContent.TabActivated, "#tabs")
    async def tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # the event's own TabbedContent: one still queued as the app closes finds the screen emptied
        if event.pane.id == event.tabbed_content.active:  # not a stale activation
            if self.tabs.started:
                await self.tabs.mount(event.pane.id)  # a tab clicked before its turn came
                remember_tab(event.pane.id.removeprefix("tab-"))
            if (content := self.tabs.get(event.pane.id.removeprefix("tab-"))) is not None:
                content.focus_home()

    def shown(self) -> TabContent | None:
        """The content of the tab shown (None until mounted)."""
        return self.tabs.get(self.active_tab())

    def action_control(self, action: str) -> None:
        if content := self.shown():
            content.control_selected(action)

    def action_report(self) -> None:
        if content := self.shown():
            content.report()

    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale
        for pane in self.tabs.experiments():
            pane.redraw_all()
        self.redraw()

    def action_leave_field(self) -> None:
        if content := self.shown():
            content.leave_field()

    def action_open(self, name: str) -> None:
        """A view over the whole store: alerts, GPUs, reports."""
        from .screens import view

        self.push_screen(view(name, self))

    def action_new_sweep(self) -> None:
        self.post_message(NewSweepAsked(self.active_tab() if registry.is_own(self.active_tab()) else None))

    def action_help(self) -> None:
        from .screens.help import install_help

        self.push_screen(install_help(self))
