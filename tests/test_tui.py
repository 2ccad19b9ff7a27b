"""Pilot tests: the dashboard driven by keys, watching real run processes through the store."""

from __future__ import annotations

import subprocess
import sys
import time

from textual.widgets import DataTable, Static

from engine import Store
from tui.app import LabdeckApp
from tui.commands import LabdeckCommands
from tui.experiment_pane import ExperimentPane
from tui.runs_pane import RunsPane
from tui.widgets.metrics_panel import MetricsPanel
from tui.widgets.param_form import ParamForm

from .conftest import set_args, tiny


async def until(pilot, predicate, timeout: float = 90.0, what: str = "condition"):
    """Let the app run until ``predicate()`` holds (watching real processes; no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def ready(pilot) -> None:
    """The form and the Runs tab are mounted just after the first paint."""
    await until(pilot, lambda: pilot.app.query("#form-sequence") and pilot.app.query(RunsPane), what="mounted")


def fill(app: LabdeckApp, values: dict[str, str]) -> None:
    form = app.query_one("#form-sequence", ParamForm)
    for key, value in values.items():
        form.set_value(key, value)


def pane_state(app: LabdeckApp):
    pane = app.query_one("#pane-sequence", ExperimentPane)
    return app.states.get(pane.run_id or "")


async def test_start_a_run_from_the_form_and_watch_epochs_arrive(home):
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        fill(app, tiny(epochs=4))
        await pilot.press("s")
        state = await until(pilot, lambda: (s := pane_state(app)) and s.epochs and s, what="first epoch")
        await until(pilot, lambda: state.ended is not None, what="run ended")
        assert state.status == "finished"
        assert sorted(state.epochs) == [1, 2, 3, 4]
        assert state.summary is not None and state.summary.sizes["train_samples"] == 210
        panel = app.query_one(MetricsPanel)
        # the final metrics reach the panel on the next redraw tick
        await until(pilot, lambda: "forecast_rmse" in [panel.get_row_at(i)[0] for i in range(panel.row_count)],
                    what="final metrics drawn")
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
        assert "hidden" in str(app.query_one(".form-error", Static).render())
        assert form.raw_values()["hidden"] == "0"
        fill(app, {"hidden": "8", "window": "5000"})
        await pilot.press("s")
        await until(pilot, lambda: "window: 5000" in str(app.query_one(".form-error", Static).render()),
                    what="cross-check error")
        assert app.is_running
    assert Store(home).runs() == []


async def test_a_run_started_from_the_cli_appears_and_streams(home):
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        proc = subprocess.run([sys.executable, "-m", "engine", "run", "sequence",
                               *set_args(tiny(epochs=8, length=2000, window=40, hidden=32)), "--detach"],
                              capture_output=True, text=True, check=True)
        run_id = proc.stdout.strip()
        await pilot.press("2")
        table = app.query_one("#runs-table", DataTable)
        await until(pilot, lambda: run_id in [r.value for r in table.rows], what="run listed")
        state = await until(pilot, lambda: (s := app.states.get(run_id)) and s, what="run followed")
        await until(pilot, lambda: len(state.epochs) >= 2, what="epochs streaming")
        await until(pilot, lambda: state.status == "finished", what="finished")
        assert app.query_one(RunsPane).compared_ids() == [run_id]


async def test_a_store_that_cannot_be_opened_is_a_message_not_a_crash(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    app = LabdeckApp(not_a_dir, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        bar = app.query_one("#status-bar", Static)
        await until(pilot, lambda: "cannot open the run store" in str(bar.render()), what="store error")
        await pilot.press("2")
        assert app.is_running


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
        names = [name for name, _, _ in LabdeckCommands(app.screen)._commands()]
        assert "Start run" in names and "Go to Runs" in names
