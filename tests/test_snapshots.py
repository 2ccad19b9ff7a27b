"""Snapshot tests of each tab at a fixed terminal size, over deterministic runs in a store."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Input

from labdeck.engine import Store, registry
from labdeck.tui.app import LabdeckApp
from labdeck.tui.experiment_pane import ExperimentPane
from labdeck.tui.redraw import RedrawPace
from labdeck.tui.screens.help import HelpScreen
from labdeck.tui.widgets.line_plot import LinePlot

from .demo_runs import demo_store
from .test_tui import until

SIZE = (100, 30)
RUNS_KEY = str(len(registry.specs()) + 1)
SEQUENCE_KEY = str(registry.names().index("sequence") + 1)


@pytest.fixture
def app(home, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    # the help screen shows the redraw pace, which follows this machine's load: a fixed one here
    monkeypatch.setattr(RedrawPace, "describe", lambda self: "redrawing at 4.0 Hz (the machine's cores were 50% busy)")
    demo_store(home)
    yield LabdeckApp(home, system_stats=False)
    monkeypatch.delenv("TZ")
    time.tzset()


def snapshot(snap_compare, app, size, before) -> bool:
    """Compare a snapshot taken after `before`, with every text cursor steady: a blink depends on timing."""

    async def steady(pilot):
        await before(pilot)
        for screen in pilot.app.screen_stack:
            for field in screen.query(Input):
                field.cursor_blink = False
        await pilot.pause()

    return snap_compare(app, terminal_size=size, run_before=steady)


async def drawn(pilot) -> None:
    """Wait until the shown tab's runs are loaded, draw them now rather than on the next redraw tick, and wait until
    every plot on screen shows its lines (figures are built in worker threads)."""
    app = pilot.app
    content = app.tabs.get(app.active_tab())
    app.redraw()  # follows the runs the tab wants
    wanted = content.wanted_runs() if content is not None and app.screen is app.screen_stack[0] else []
    # the demo runs have all ended: a run's end is the last of its events the store watcher delivers
    await until(pilot, lambda: all((s := app.model.states.get(r)) and s.ended for r in wanted), what="the runs loaded")
    app.redraw()
    await pilot.pause(0)  # the messages it caused, handled: a plot newly shown learns its size
    await until(pilot, lambda: all(p.drawn for p in app.screen.query(LinePlot) if p.region.area), what="the plots")
    await pilot.pause(0)


async def settle(pilot) -> None:
    """Wait until the newest run is loaded and drawn, then pin the path-dependent subtitle."""
    app = pilot.app
    pilot.app.sub_title = "snapshot"
    await until(pilot, lambda: app.mounted, what="every tab mounted")
    await pilot.press(SEQUENCE_KEY)
    await newest_drawn(pilot, "sequence")


async def newest_drawn(pilot, name: str) -> None:
    """Wait until an experiment tab follows its newest run, loaded and drawn."""
    app = pilot.app
    pane = app.query_one(f"#pane-{name}", ExperimentPane)
    await until(pilot, lambda: (s := app.model.states.get(pane.run_id or "")) and s.ended
                and pane.drawn_version == s.version, what=f"the newest {name} run drawn")
    await drawn(pilot)


def test_sequence_curves(app, snap_compare):
    assert snapshot(snap_compare, app, SIZE, settle)


def on_subtab(name: str):
    """A run_before that shows one of the Sequence tab's sub-tabs (results, data)."""

    async def show(pilot):
        await settle(pilot)
        pilot.app.query_one("#pane-sequence TabbedContent").active = f"{name}-sequence"
        await drawn(pilot)

    return show


def test_sequence_results(app, snap_compare):
    assert snapshot(snap_compare, app, SIZE, on_subtab("results"))


def test_sequence_data(app, snap_compare):
    assert snapshot(snap_compare, app, SIZE, on_subtab("data"))


def on_experiment(name: str, sub: str):
    """A run_before that shows an experiment tab's sub-tab once its demo run is drawn."""

    async def show(pilot):
        await settle(pilot)
        await pilot.press(str(registry.names().index(name) + 1))
        await newest_drawn(pilot, name)
        pilot.app.query_one(f"#pane-{name} TabbedContent").active = f"{sub}-{name}"
        await drawn(pilot)

    return show


def test_vision_results(app, snap_compare):
    assert snapshot(snap_compare, app, SIZE, on_experiment("vision", "results"))


def test_vision_data(app, snap_compare):
    assert snapshot(snap_compare, app, SIZE, on_experiment("vision", "data"))


def test_language_results(app, snap_compare):
    assert snapshot(snap_compare, app, SIZE, on_experiment("language", "results"))


def test_runs_tab_compare(app, snap_compare):
    async def runs(pilot):
        await settle(pilot)
        await pilot.press(RUNS_KEY)
        await pilot.press("down", "space", "down", "space")
        assert len(pilot.app.tabs.get("runs").wanted_runs()) == 2
        await drawn(pilot)

    assert snapshot(snap_compare, app, SIZE, runs)


def test_help_screen(app, snap_compare):
    async def help_screen(pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="the help screen")
        await pilot.pause(0)

    assert snap_compare(app, terminal_size=(80, 24), run_before=help_screen)


SMALL = (80, 24)


def test_language_with_generated_text_at_80x24(app, snap_compare):
    async def generated(pilot):
        from labdeck.tui.results.language import Streamed

        await on_experiment("language", "results")(pilot)
        view = pilot.app.query_one("LanguageResults")
        view.query_one("#lang-prompt").value = "def "
        view.query_one("#lang-output").load_text("def ")
        view.post_message(Streamed("read(self, path):\n    return self.open(path)\n" * 6, done=True,
                                   stats="300 tokens at 1,234/s (checkpoint of epoch 6)"))
        await until(pilot, lambda: "1,234/s" in str(view.query_one("#lang-status").render()), what="the streamed text")
        await pilot.pause(0)

    assert snapshot(snap_compare, app, SMALL, generated)


async def on_sweeps(pilot):
    """The Sweeps tab with a demo sweep's three trials drawn."""
    await settle(pilot)
    await pilot.press(str(len(registry.specs()) + 2))
    trials = pilot.app.query_one("#trials-table")
    await until(pilot, lambda: trials.row_count == 3, what="the trials")
    await drawn(pilot)


def test_sweeps_with_trials_at_80x24(app, snap_compare):
    from .demo_runs import add_sweep

    add_sweep(Store(app.home))
    assert snapshot(snap_compare, app, SMALL, on_sweeps)


def test_new_sweep_dialog_at_80x24(app, snap_compare):
    async def dialog(pilot):
        from labdeck.tui.screens.sweep import NewSweep

        await settle(pilot)
        pilot.app.action_new_sweep()
        await until(pilot, lambda: isinstance(pilot.app.screen, NewSweep) and pilot.app.screen.query("#sweep-grid")
                    and pilot.app.focused is pilot.app.screen.query_one("#sweep-grid"), what="the dialog")
        await pilot.pause(0)

    assert snapshot(snap_compare, app, SMALL, dialog)


BIG = (120, 40)


def test_vision_confusion_matrix_at_80x24(app, snap_compare):
    """Ten classes at 80 columns: every column in view (shares of the row, short labels), the footer's Help and Quit."""
    from labdeck.tui.widgets.confusion import ConfusionTable

    async def matrix(pilot):
        await on_experiment("vision", "results")(pilot)
        table = pilot.app.query_one(ConfusionTable)
        table.focus()  # Tab reaches it; the results scroll to it
        await until(pilot, lambda: table.percent and table.region.area, what="the matrix in view")
        await pilot.pause(0)

    assert snapshot(snap_compare, app, SMALL, matrix)


def test_two_runs_compared_at_80x24(app, snap_compare):
    async def runs(pilot):
        await settle(pilot)
        await pilot.press(RUNS_KEY)
        await pilot.press("down", "space", "down", "space")
        await drawn(pilot)

    assert snapshot(snap_compare, app, SMALL, runs)


def test_vision_results_at_120x40(app, snap_compare):
    assert snapshot(snap_compare, app, BIG, on_experiment("vision", "results"))


def test_sweeps_at_120x40(app, snap_compare):
    from .demo_runs import add_sweep

    add_sweep(Store(app.home))
    assert snapshot(snap_compare, app, BIG, on_sweeps)


def test_runs_of_two_hosts_at_80x24(home, monkeypatch, snap_compare):
    """The Runs tab with other machines: a host column, a live host's runs beside this machine's, and a host that
    cannot be reached named in the status bar (the links are synthetic: tests/test_remote.py has real ones)."""
    from labdeck.engine import hosts, wire
    from labdeck.engine.remote import HostStatus, State
    from labdeck.tui import host_watcher
    from labdeck.tui.messages import HostChanged, RunsChanged

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    demo_store(home)
    infos = [wire.info_in(wire.info_out(i), "gpu1") for i in Store(home).runs()[:3]]

    def start(self) -> None:
        if self.host.name == "gpu1":
            self.post(HostChanged(HostStatus("gpu1", State.LIVE, "", 1.0, "0.1.0")))
            self.post(RunsChanged(infos))
        else:
            self.post(HostChanged(HostStatus("gpu2", State.UNREACHABLE,
                                             "gpu2: ssh: connect to host gpu2 port 22: Connection refused")))

    monkeypatch.setattr(host_watcher.HostWatcher, "start", start)
    app = LabdeckApp(home, system_stats=False, hosts=[hosts.host("gpu1"), hosts.host("me@gpu2")])

    async def runs(pilot):
        await settle(pilot)
        await pilot.press(RUNS_KEY)
        await until(pilot, lambda: "gpu1:" + infos[0].id.split(":")[1] in pilot.app.model.infos, what="host runs")
        await drawn(pilot)

    assert snapshot(snap_compare, app, SMALL, runs)
    monkeypatch.delenv("TZ")
    time.tzset()
