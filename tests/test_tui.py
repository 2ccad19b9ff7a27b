"""Pilot tests: the dashboard driven by keys, watching real run processes through the store."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time

import pytest
from textual.widgets import DataTable, Select, Static

from labdeck.engine import Store, registry
from labdeck.tui.app import LabdeckApp
from labdeck.tui.commands import LabdeckCommands
from labdeck.tui.experiment_pane import ExperimentPane
from labdeck.tui.runs_pane import RunsPane
from labdeck.tui.widgets.metrics_panel import MetricsPanel
from labdeck.tui.widgets.param_form import ParamForm
from labdeck.tui.widgets.virtual_table import VirtualTable

from .conftest import cli, set_args, tiny


async def until(pilot, predicate, timeout: float = 90.0, what: str = "condition"):
    """Let the app run until ``predicate()`` holds (watching real processes; no fixed sleeps). The app runs in this
    event loop, so a plain sleep lets it work: ``pilot.pause`` would also visit every widget and repaint the whole
    screen at each poll (about 25 ms of CPU), which the tests' own runs and the other test worker need."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


RUNS_KEY = str(len(registry.specs()) + 1)
SWEEPS_KEY = str(len(registry.specs()) + 2)
SEQUENCE_KEY = str(registry.names().index("sequence") + 1)


async def ready(pilot) -> None:
    """Every tab's content is mounted just after the first paint; then the Sequence tab is shown."""
    await until(pilot, lambda: pilot.app.mounted, what="mounted")
    await pilot.press(SEQUENCE_KEY)


def fill(app: LabdeckApp, values: dict[str, str]) -> None:
    form = app.query_one("#form-sequence", ParamForm)
    for key, value in values.items():
        form.set_value(key, value)


def pane_state(app: LabdeckApp):
    pane = app.query_one("#pane-sequence", ExperimentPane)
    return app.model.states.get(pane.run_id or "")


async def test_start_a_run_from_the_form_and_watch_epochs_arrive(home):
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        fill(app, tiny(epochs=4))
        await pilot.press("s")
        # the new run is on screen at once, whether its process has said anything yet or not
        title = app.query_one("#pane-sequence .run-title", Static)
        await until(pilot, lambda: (s := pane_state(app)) and s.run_id in str(title.render()), what="run shown")
        assert "no run" not in str(title.render())
        state = await until(pilot, lambda: (s := pane_state(app)) and s.epochs and s, what="first epoch")
        await until(pilot, lambda: state.ended is not None, what="run ended")
        assert state.status == "finished"
        assert sorted(state.epochs) == [1, 2, 3, 4]
        assert state.summary is not None and state.summary.sizes["train_samples"] == 210
        panel = app.query_one("#pane-sequence MetricsPanel", MetricsPanel)
        # the final metrics reach the panel on the next redraw tick
        await until(pilot, lambda: "forecast_rmse" in dict(panel.rows), what="final metrics drawn")
        assert "forecast_rmse" in str(panel.render())
    info = Store(home).runs()[0]
    assert info.status == "finished" and info.params["epochs"] == 4 and info.params["hidden"] == 8


async def test_pause_resume_stop_from_the_keyboard(home):
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        fill(app, tiny(epochs=100000, length=2000, window=40, hidden=32))
        await pilot.press("s")
        state = await until(pilot, lambda: (s := pane_state(app)) and s.epochs and s, what="first epoch")
        await pilot.press("p")
        await until(pilot, lambda: state.status == "paused", what="paused")
        await pilot.press("r")
        await until(pilot, lambda: state.status == "running", what="running")
        await pilot.press("x")
        await until(pilot, lambda: state.status == "stopped", what="stopped")
    assert Store(home).runs()[0].status == "stopped"


async def test_invalid_form_input_shows_an_error_and_starts_nothing(home):
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        form = app.query_one("#form-sequence", ParamForm)
        form.grid.focus()
        form.grid.move_cursor(row=form.grid.get_row_index("hidden"))
        await pilot.press("enter", "backspace", "backspace", "0")  # edit "64" into "0"
        error = form.query_one(".param-error", Static)
        assert "hidden: must be an integer from 1" in str(error.render())
        await pilot.press("enter", "s")  # apply the bad value, then try to start
        assert "hidden" in str(app.query_one("#pane-sequence .form-error", Static).render())
        assert form.raw_values()["hidden"] == "0"
        fill(app, {"hidden": "8", "window": "5000"})
        await pilot.press("s")
        await until(pilot, lambda: "window: 5000" in str(app.query_one("#pane-sequence .form-error", Static).render()),
                    what="cross-check error")
        assert app.is_running
    assert Store(home).runs() == []


@pytest.mark.slow
async def test_a_run_started_from_the_cli_appears_and_streams(home):
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        proc = cli("run", "sequence", *set_args(tiny(epochs=8, length=2000, window=40, hidden=32)), "--detach",
                   check=True)
        run_id = proc.stdout.strip()
        await pilot.press(RUNS_KEY)
        table = app.query_one("#runs-table", VirtualTable)
        await until(pilot, lambda: run_id in table.keys, what="run listed")
        def state():  # looked up each time: a replayed history replaces the run's state
            return app.model.states.get(run_id)

        await until(pilot, lambda: (s := state()) and len(s.epochs) >= 2, what="epochs streaming")
        try:
            await until(pilot, lambda: state().status == "finished", what="finished")
        except AssertionError as exc:  # what the dashboard and the store held then
            raise AssertionError(f"{exc}: state {state().status} ended {state().ended} epochs {len(state().epochs)};"
                                 f" store {Store(home).get(run_id)}") from None
        assert app.query_one(RunsPane).compared_ids() == [run_id]


async def test_the_header_says_how_far_an_evaluation_is_and_the_whole_runs_time_left(home):
    import os

    from labdeck.engine.events import EpochMetrics, Phase, Progress, RunStarted
    from labdeck.engine.procs import process_start_time

    store = Store(home)
    params = registry.get("sequence").resolve({})
    run_id = store.create_run("sequence", params, budget=60.0)
    store.claim(run_id, os.getpid(), process_start_time(os.getpid()))  # alive: this process holds it
    store.emit(RunStarted(run_id, "sequence", params, "cpu, fp32", "fp32", 0, 60.0, "wall", time.time() + 50))
    m = {"train_loss": 0.2, "test_loss": 0.1, "test_mse": 0.1, "test_mae": 0.2}
    store.log_epoch(run_id, 1, m, EpochMetrics(run_id, 1, 0, m, 0.01, 5.0, 0.2, 40))
    store.emit(Phase(run_id, "evaluating"))
    store.emit(Progress(run_id, "evaluating", 3000, 10000, 4.0))
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        detail = app.query_one("#pane-sequence .run-detail", Static)
        rate = app.query_one("#pane-sequence .run-rate", Static)
        await until(pilot, lambda: "evaluating 3,000/10,000 (30%), 0:04 left" in str(detail.render()),
                    what="the evaluation's progress in the header")
        header = str(rate.render()) + str(detail.render())  # the ETA goes to the second line where it must
        assert "ETA 0:4" in header  # the whole run's time left: 50 s from its deadline, not 60 - 5 s of training
        store.emit(Progress(run_id, "final evaluation", 10000, 10000, 0.0))
        await until(pilot, lambda: "final evaluation 10,000/10,000 (100%)" in str(detail.render()),
                    what="the final evaluation's end")


async def test_a_store_that_cannot_be_opened_is_a_message_not_a_crash(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    app = LabdeckApp(not_a_dir, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        bar = app.query_one("#status-bar", Static)
        await until(pilot, lambda: "cannot open the run store" in str(bar.render()), what="store error")
        await pilot.press(RUNS_KEY)
        assert app.is_running


async def test_a_store_on_a_network_file_system_is_a_warning_that_stays_a_while(home, monkeypatch):
    from .test_store import _mounted_on

    _mounted_on(monkeypatch, home.parent, "nfs4")
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        shown = await until(pilot, lambda: [n for n in app._notifications if "network file system (nfs4)" in n.message],
                            what="the warning")
        assert shown[0].severity == "warning" and shown[0].timeout >= 30


async def test_the_gpu_view_shows_each_gpu_and_the_runs_on_it(home, monkeypatch):
    import os

    from labdeck.engine.procs import process_start_time

    from .conftest import fake_nvml

    store = Store(home)
    run_id = store.create_run("sequence", {})
    store.claim(run_id, os.getpid(), process_start_time(os.getpid()), "cuda:1 (NVIDIA H100 80GB HBM3), bf16")
    fake_nvml(monkeypatch, {0: [], 1: [os.getpid(), 999_999]})
    app = LabdeckApp(home)  # with the status bar's system readings
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        bar = app.query_one("#status-bar", Static)
        await until(pilot, lambda: "GPU0 40% 1.0/80G  GPU1 41% 2.0/80G" in str(bar.render()), what="GPUs in the bar")
        await until(pilot, lambda: run_id in app.model.infos, what="runs listed")
        await pilot.press("g")
        table = await until(pilot, lambda: (q := app.screen.query("#gpu-table")) and q.first(DataTable).row_count == 2
                            and q.first(DataTable), what="the GPU view")
        assert [str(c) for c in table.get_row("1")] == ["1", "NVIDIA H100 80GB HBM3", "41%", "2.0 / 80 GiB", run_id,
                                                      "1"]
        assert [str(c) for c in table.get_row("0")][4:] == ["-", "-"]
        await pilot.press("escape")
        assert type(app.screen).__name__ == "MainScreen"


async def test_a_tab_shown_before_its_turn_mounts_at_once_and_takes_the_keys(home):
    # Tab contents mount after the first paint, the hidden ones 0.6 s later; a tab key pressed before that mounts
    # the tab it shows and focuses its form, so the arrow keys that follow move through that form.
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        app.simulate_key("3")  # Language; not pilot.press, which waits until the app is idle (every tab mounted)
        deadline = time.monotonic() + 30
        while not app.query("#grid-language") and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert "tab-sequence" in app.tabs.to_mount  # the tab before it in the hidden tabs' turn is still waiting
        form = app.query_one("#form-language", ParamForm)
        await until(pilot, lambda: app.focused is form.grid, what="language form focused")
        await pilot.press("down")
        assert form.grid.cursor_row == 1
        await until(pilot, lambda: app.mounted, what="every tab mounted")
        assert app.focused is form.grid and app.query_one("#tabs").active == "tab-language"


async def test_a_tab_activation_still_queued_as_the_app_closes_is_no_crash(home):
    from textual.widgets import TabbedContent

    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.mounted, what="mounted")
        tabs = app.query_one("#tabs", TabbedContent)
        queued = TabbedContent.TabActivated(tabs, tabs.get_tab("tab-runs"))
        await tabs.remove()  # as when the app closes: the screen is emptied while messages are still on their way
        app.post_message(queued)
        await pilot.pause()
        assert app.is_running and app.return_code is None


@pytest.mark.parametrize("how", ["quit", "test-close"])
async def test_closing_while_a_tab_still_mounts_ends_cleanly_and_leaves_no_store_reader(home, how):
    # Quitting in the first second: the close comes just as the last tab's content joins the screen, before it
    # composes. Quitting (exit()), Textual composes nothing more; closed (as run_test does), it takes the content
    # down with the rest. Either way its on_mount finds no table of its own.
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)):
        deadline = time.monotonic() + 60
        while not app.query("#pane-sweeps"):
            assert time.monotonic() < deadline, "the Sweeps tab never began mounting"
            await asyncio.sleep(0)  # no later: the next turn of the loop composes it
        if how == "quit":
            pane = app.query_one("#pane-sweeps")
            app.exit()
            while not pane.is_mounted:  # its on_mount runs while the app quits
                assert time.monotonic() < deadline, "the Sweeps tab's content never finished mounting"
                await asyncio.sleep(0.01)
    assert app.return_code in (None, 0)  # no error ended it (run_test would also have raised it)
    # a test's app closes without exit(), so Textual's timers still fire: the store reader's start among them
    app._start_background()
    deadline = time.monotonic() + 10
    reader = app.watcher and app.watcher.thread
    while reader is not None and reader.is_alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert reader is None or not reader.is_alive(), "a store reader outlived the app"


async def test_the_dashboard_leaves_what_start_up_built_out_of_the_collectors_work(home):
    # The real dashboard (run_dashboard) freezes its start-up objects: the collector's full passes walked them all
    # every few seconds, pausing keys. Apps in a test process must not, or each would never be freed.
    gc.unfreeze()
    try:
        app = LabdeckApp(home, system_stats=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.is_screen_installed("help"), what="start-up done")
            assert gc.get_freeze_count() == 0
        gc.collect()
        app = LabdeckApp(home, system_stats=False, freeze_gc=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.is_screen_installed("help"), what="start-up done")
            assert gc.get_freeze_count() > 10_000  # the app's widgets, styles and modules
    finally:
        gc.unfreeze()


async def test_presets_help_and_palette(home):
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        fill(app, {"hidden": "24"})
        await pilot.press("escape", "S")
        await pilot.press(*"wide", "enter")
        fill(app, {"hidden": "64"})
        await pilot.press("O", "enter")
        await pilot.pause()
        assert app.query_one("#form-sequence", ParamForm).raw_values()["hidden"] == "24"
        await pilot.press("question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        names = [name for name, _, _ in LabdeckCommands(app.screen).commands()]
        assert "Start" in names and "Go to Runs" in names and "Pause" in names and "Reports" in names
        # the palette as a user opens it: every entry shown with its key ("/", "[" and "?" are text, not markup)
        from textual.command import CommandList, CommandPalette

        await pilot.press("4", "ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette)
                    and app.screen.query_one(CommandList).option_count >= len(names), what="the palette's entries")
        await pilot.press(*"filt")
        await until(pilot, lambda: "Filter" in str(app.screen.query_one(CommandList).get_option_at_index(0).prompt),
                    what="Filter found")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CommandPalette), what="the palette closed")


@pytest.mark.slow
async def test_vision_tab_predicts_an_image_file_and_filters_mistakes(home, tmp_path):
    from PIL import Image
    from textual.widgets import Input

    from labdeck.engine.experiments.vision.shapes import generate
    from labdeck.tui.widgets.image_grid import ImageGrid

    from .test_vision import tiny as tiny_vision

    run_id = cli("run", "vision", *set_args(tiny_vision(epochs=1)), "--json", check=True).stdout.splitlines()[-1]
    image = tmp_path / "shape.png"
    Image.fromarray(generate(1, 32, seed=3)[0][0]).save(image)
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press(str(registry.names().index("vision") + 1))
        pane = app.query_one("#pane-vision", ExperimentPane)
        state = await until(pilot, lambda: (s := app.model.states.get(pane.run_id or "")) and s.evaluation and s,
                            what="vision run loaded")
        assert pane.run_id in run_id
        pane.query_one("TabbedContent").active = "results-vision"
        grid = await until(pilot, lambda: (g := app.query("#vision-grid")) and g.first(ImageGrid),
                           what="results mounted")
        await until(pilot, lambda: len(grid._items) == 60, what="test images drawn")
        wrong = sum(g["pred"] != g["true"] for g in state.evaluation.tables["grid"])
        app.query_one("#vision-mistakes").focus()
        await pilot.press("space")
        await until(pilot, lambda: len(grid._items) == wrong, what="mistakes only")
        path = app.query_one("#vision-path", Input)
        path.focus()
        path.value = str(image)  # a long path typed key by key takes seconds of a loaded CPU; Enter is the key here
        await pilot.press("enter")
        out = app.query_one("#vision-predicted", Static)
        await until(pilot, lambda: "%" in str(out.render()), timeout=120, what="prediction")
        assert str(out.render()).count("%") == 5
        app.query_one("#vision-path").value = str(tmp_path / "missing.png")
        await pilot.press("enter")
        await until(pilot, lambda: "no image file" in str(out.render()), what="error shown")
        assert app.is_running


async def test_language_prompt_streams_text_without_freezing(home, tmp_path):
    from textual.widgets import Input, TextArea

    from .test_language import TEXT
    from .test_language import tiny as tiny_language

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT)
    cli("run", "language", *set_args(tiny_language(corpus)), "--json", check=True)
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press(str(registry.names().index("language") + 1))
        pane = app.query_one("#pane-language", ExperimentPane)
        await until(pilot, lambda: (s := app.model.states.get(pane.run_id or "")) and s.ended,
                    what="language run loaded")
        pane.query_one("TabbedContent").active = "results-language"
        prompt = await until(pilot, lambda: (q := app.query("#lang-prompt")) and q.first(), what="results mounted")
        app.query_one("#lang-tokens", Input).value = "2000"
        prompt.focus()
        await pilot.press(*"the ", "enter")
        output = app.query_one("#lang-output", TextArea)
        status = app.query_one("#lang-status", Static)
        # text arrives in pieces while the app keeps handling input
        await until(pilot, lambda: len(output.text) > len("the "), what="first pieces")
        await pilot.press("x", "y")  # typed into the prompt while generating
        assert prompt.value == "the xy"
        await until(pilot, lambda: "2000 tokens at" in str(status.render()), timeout=120, what="generation done")
        assert len(output.text) == len("the ") + 2000
        app.query_one("#lang-top_p", Input).value = "7"
        prompt.focus()
        await pilot.press("enter")
        await until(pilot, lambda: "top-p" in str(status.render()), what="bad option shown")
        assert app.is_running


async def test_use_offline_data_from_the_palette(home):
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press(str(registry.names().index("vision") + 1))
        names = {name: cb for name, _, cb in LabdeckCommands(app.screen).commands()}
        await names["Use offline data"]()
        assert app.query_one("#form-vision", ParamForm).raw_values()["dataset"] == "shapes"
        await pilot.press(str(registry.names().index("language") + 1))
        app.query_one("#form-language", ParamForm).set_value("corpus", "tinyshakespeare")
        await names["Use offline data"]()
        assert app.query_one("#form-language", ParamForm).raw_values()["corpus"] == "stdlib"


async def test_the_ray_fields_follow_a_backend_chosen_before_the_dialog_has_mounted(home):
    # Select posts no Changed for a value set before its own parts mount: the dialog must follow the value itself.
    from textual.app import App

    from labdeck.tui.screens.sweep import NewSweep

    app = App()
    async with app.run_test() as pilot:
        dialog = NewSweep(registry.get("sequence"), {}, home)
        app.push_screen(dialog)
        for _ in range(1_000):  # the first moment the Select exists, before its parts mount
            if dialog.query("#sweep-backend"):
                break
            await asyncio.sleep(0)
        else:
            raise AssertionError("the dialog never composed")
        dialog.query_one("#sweep-backend", Select).value = "ray"
        await until(pilot, lambda: not dialog.query_one("#sweep-address").disabled, timeout=10, what="address on")
        assert not dialog.query_one("#sweep-asha").disabled
        dialog.query_one("#sweep-backend", Select).value = "local"
        await until(pilot, lambda: dialog.query_one("#sweep-asha").disabled, timeout=10, what="ASHA off")


@pytest.mark.slow
async def test_sweeps_tab_ranks_trials_starts_a_sweep_and_writes_a_report(home):
    from labdeck.tui.sweeps_pane import SweepsPane

    from .demo_runs import add_sweep

    add_sweep(Store(home))  # a finished sweep, written into the store: the new one below trains for real
    first = {i.sweep for i in Store(home).runs()}
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press(SWEEPS_KEY)
        pane = await until(pilot, lambda: (q := app.query(SweepsPane)) and q.first(), what="sweeps mounted")
        trials = app.query_one("#trials-table", DataTable)
        await until(pilot, lambda: trials.row_count == 3, what="trials listed")
        infos = {i.id: i for i in Store(home).runs()}
        ranked = [trials.coordinate_to_cell_key((r, 0)).row_key.value for r in range(3)]
        mse = [infos[r].metrics["test_mse"] for r in ranked]
        assert mse == sorted(mse)  # best (lowest test_mse) first
        assert "best " + ranked[0] in str(app.query_one("#sweeps-info", Static).render())
        await pilot.press("space")
        assert pane.compared_ids() == [ranked[0]]
        await pilot.press("R")
        report = home / "reports" / pane.selected / "report.md"
        await until(pilot, report.exists, what="report written")
        assert "trials.csv" in report.read_text()
        await until(pilot, lambda: type(app.screen).__name__ == "ReportDone", what="report shown")
        await pilot.press("escape")
        # a new sweep from the Sequence form
        await pilot.press(SEQUENCE_KEY)
        fill(app, tiny())
        await pilot.press("escape")
        app.action_new_sweep()
        # the whole dialog: its fields mount one after another, and the first takes the focus once all have
        grid = await until(pilot, lambda: type(app.screen).__name__ == "NewSweep" and app.screen.query("#sweep-cancel")
                           and app.focused is app.screen.query_one("#sweep-grid") and app.focused, what="dialog")
        grid.value = "cell=rnn,gru"
        # on Ray: the address field opens with the choice; an unreachable cluster is one line, nothing is created
        dialog = app.screen
        dialog.query_one("#sweep-backend", Select).value = "ray"
        address = await until(pilot, lambda: not dialog.query_one("#sweep-address").disabled
                              and dialog.query_one("#sweep-address"), what="Ray address enabled")
        address.value = "127.0.0.1:1"
        await pilot.click("#sweep-start")
        shown = lambda: str(dialog.query_one("#sweep-error").render())  # noqa: E731
        error = await until(pilot, lambda: "cannot reach a Ray cluster" in shown() and shown(),
                            what="Ray address error")
        assert "\n" not in error.strip() and len({i.sweep for i in Store(home).runs()}) == 1
        dialog.query_one("#sweep-backend", Select).value = "local"
        await until(pilot, lambda: dialog.query_one("#sweep-address").disabled, what="Ray address disabled")
        # a Button ignores clicks while its last press still shows (-active, 0.2 s; longer on a loaded CPU)
        await until(pilot, lambda: not dialog.query_one("#sweep-start").has_class("-active"), what="button up")
        await pilot.click("#sweep-start")
        await until(pilot, lambda: len({i.sweep for i in Store(home).runs()}) == 2,
                    what="second sweep created")
        # its trials train on (a local sweep's run to the end is tested in test_sweep_report.py)
        await until(pilot, lambda: any(i.status in ("running", "finished") for i in Store(home).runs()
                                       if i.sweep not in first), what="its trials started")
        assert app.active_tab() == "sweeps"


def logging_script() -> subprocess.Popen:
    """A user's script logging three metrics every 20 ms until it is asked to stop."""
    return subprocess.Popen([sys.executable, "-c", (
        "import labdeck, math, time\n"
        "with labdeck.init('my-loop', {'lr': 0.01, 'width': 64}) as run:\n"
        "    step = 0\n"
        "    while not run.should_stop():\n"
        "        metrics = {'loss': 1 / (step + 1), 'val_loss': 2 / (step + 1), 'grad_norm': math.sin(step)}\n"
        "        run.log(metrics, step=step)\n"
        "        step += 1\n"
        "        time.sleep(0.02)\n")])


async def test_a_scripts_run_arrives_live_and_opens_in_its_own_view(home):
    from textual.widgets import SelectionList

    from labdeck.tui.screens.run_metrics import RunMetricsView
    from labdeck.tui.widgets.line_plot import LinePlot

    script = logging_script()
    try:
        store = Store(home)
        app = LabdeckApp(home, system_stats=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            await pilot.press(RUNS_KEY)
            table = await until(pilot, lambda: (q := app.query("#runs-table")) and q.first(VirtualTable).row_count
                                and q.first(VirtualTable), what="the script's run listed")
            run_id = store.runs()[0].id
            cells = table.cells_of(run_id)
            assert cells[2] == "my-loop" and cells[6] == "lr=0.01 width=64"  # its params in its row
            table.focus()
            await pilot.press("enter")
            view = await until(pilot, lambda: isinstance(app.screen, RunMetricsView) and app.screen, what="its view")
            listing = view.query_one("#metric-list", SelectionList)
            await until(pilot, lambda: listing.option_count == 3, what="every metric listed")
            # its own metrics, losses first and picked, until the user picks
            assert [listing.get_option_at_index(i).value for i in range(3)] == ["loss", "val_loss", "grad_norm"]
            assert sorted(listing.selected) == ["loss", "val_loss"]
            plot = view.query_one("#script-plot", LinePlot)
            first = await until(pilot, lambda: plot.lines and len(plot.lines[0].xs), what="plotted")
            await until(pilot, lambda: len(plot.lines[0].xs) > first, what="new steps arriving")
            await pilot.press("slash", "g", "r", "a", "d", "enter")  # filter, then pick grad_norm
            assert [listing.get_option_at_index(i).value for i in range(listing.option_count)] == ["grad_norm"]
            await pilot.press("space")
            await until(pilot, lambda: [ln.label for ln in plot.lines] == ["loss", "val_loss", "grad_norm"],
                        what="grad_norm added, the others kept")
            await pilot.press("t")
            await until(pilot, lambda: plot.xlabel == "seconds" and plot.lines[0].xs[-1] < 60, what="time axis")
            await pilot.press("plus", "plus")
            assert "smoothing: 0.9" in str(view.query_one("#script-header", Static).render())
            assert "width" in str(view.query_one("#script-params", Static).render())
            await pilot.press("escape")
            assert not isinstance(app.screen, RunMetricsView)
        Store(home).request(run_id, "stop")
        assert script.wait(timeout=30) == 0
        assert Store(home).get(run_id).status == "stopped"
    finally:
        script.kill()


async def test_a_scripts_view_overlays_only_shared_metrics_within_its_own_steps(home):
    """A script's run opens on its own metrics and steps: a marked run of another experiment that logs none of them
    is named, not drawn; one that shares a metric is drawn only over this run's steps."""
    import numpy as np

    from labdeck.tui.screens.run_metrics import RunMetricsView
    from labdeck.tui.widgets.line_plot import LinePlot

    from .demo_runs import demo_store

    demo_store(home)
    store = Store(home)

    def script_run(name: str, steps: int) -> str:
        run_id = store.create_run(name, {"lr": 0.1})
        x = np.arange(steps)
        store.append_points(run_id, {"acc": (x, x / steps), "loss": (x, 1 / (x + 1.0)), "lr": (x, x * 0 + 0.1)},
                            steps - 1, 1.0)
        store.finish(run_id, "finished", {"loss": 1 / steps}, 1.0, steps - 1)
        return run_id

    mine, longer = script_run("my-loop", 60), script_run("other-loop", 668)
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press(RUNS_KEY)
        table = await until(pilot, lambda: (q := app.query("#runs-table")) and mine in q.first(VirtualTable).keys
                            and q.first(VirtualTable), what="listed")
        table.focus()
        for run_id in ("demo-lstm", longer):  # a lab run without a "loss", a script's run with one
            table.move_to(run_id)
            await pilot.press("space")
        table.move_to(mine)
        assert "step 59" in table.cells_of(mine)  # the same count as the view's header below
        await pilot.press("enter")
        view = await until(pilot, lambda: isinstance(app.screen, RunMetricsView) and app.screen, what="its view")
        plot = view.query_one("#script-plot", LinePlot)
        # drawn once both marked runs are loaded (their histories are read as the view opens)
        await until(pilot, lambda: any(ln.label.endswith(f"{longer[-4:]} loss") for ln in plot.lines)
                    and "lstm" in plot.heading, what="drawn")
        assert [ln.label for ln in plot.lines] == [f"{mine[-4:]} loss", f"{longer[-4:]} loss"]
        assert max(x for ln in plot.lines for x in ln.xs) == 59  # this run's steps, not the other's 667
        assert "not lstm (no such metric)" in plot.heading
        assert "step 59" in str(view.query_one("#script-header").render())


async def test_labdeck_run_opens_the_dashboard_on_that_run(home):
    """``labdeck RUN`` (or ``labdeck ui RUN``): a lab run in its experiment's tab, a script's run in its own view."""
    import numpy as np

    from labdeck.tui.screens.run_metrics import RunMetricsView

    from .demo_runs import demo_store

    demo_store(home)
    store = Store(home)
    app = LabdeckApp(home, system_stats=False, open_run=("demo-lstm", "sequence"))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await until(pilot, lambda: (p := app.query("#pane-sequence")) and p.first(ExperimentPane).run_id
                           == "demo-lstm" and p.first(ExperimentPane), what="opened on the run")
        assert app.active_tab() == "sequence" and pane.pinned
    mine = store.create_run("my-loop", {"lr": 0.1})
    store.append_points(mine, {"loss": (np.arange(5), np.ones(5))}, 4, 1.0)
    app = LabdeckApp(home, system_stats=False, open_run=(mine, "runs"))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunMetricsView)
                    and "my-loop" in str(app.screen.query_one("#script-header").render()), what="its view")
