"""Every control of every tab from the keyboard alone, over deterministic runs in a store (no training)."""

from __future__ import annotations

from textual.widgets import Checkbox, Input, OptionList, Static, TabbedContent, TextArea

from labdeck.engine import registry
from labdeck.tui.app import LabdeckApp
from labdeck.tui.experiment_pane import ExperimentPane
from labdeck.tui.widgets.param_form import ParamForm, ParamGrid

from .demo_runs import demo_store
from .test_tui import until

KEY = {name: str(i + 1) for i, name in enumerate([*registry.names(), "runs", "sweeps"])}


async def start(pilot) -> LabdeckApp:
    app = pilot.app
    await until(pilot, lambda: app.mounted, what="mounted")
    return app


async def follow_a_sequence_run(pilot) -> tuple[ExperimentPane, str]:
    """The Sequence tab, following the newest of its runs once loaded: its pane and the run's id."""
    app = await start(pilot)
    await pilot.press(KEY["sequence"])
    pane = app.query_one("#pane-sequence", ExperimentPane)
    run_id = await until(pilot, lambda: pane.run_id and app.model.states.get(pane.run_id) and pane.run_id,
                         what="a run followed")
    return pane, run_id


def help_text(form: ParamForm) -> str:
    return str(form.query_one(".param-help", Static).render())


async def to_row(pilot, form: ParamForm, name: str) -> None:
    form.grid.focus()
    while form.grid.coordinate_to_cell_key(form.grid.cursor_coordinate).row_key.value != name:
        await pilot.press("down")


async def test_the_form_on_keys_full_help_choices_and_a_budget(home):
    demo_store(home)
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start(pilot)
        await pilot.press(KEY["vision"])
        form = app.query_one("#form-vision", ParamForm)
        await to_row(pilot, form, "dataset")
        assert "folder:PATH (PATH/train/<class>/, PATH/test/<class>/ or PATH/<class>/ split 70/30)" in \
            help_text(form).replace("\n", " ")  # the whole help, at 80x24 too
        form.set_value("dataset", "folder:/data/my-own-images/2026")
        assert "value: folder:/data/my-own-images/2026" in help_text(form)  # a long value, whole
        # a parameter with a fixed set of values is picked from its list, or stepped
        await to_row(pilot, form, "model")
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "Pick", what="choices")
        options = app.screen.query_one(OptionList)
        assert [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)] == \
            list(registry.get("vision").params["model"].choices)
        await pilot.press("down", "enter")
        assert form.raw_values()["model"] == "lenet" and app.focused is form.grid
        await pilot.press("right")
        assert form.raw_values()["model"] == "fast"
        # the budget: seconds, or empty for the epochs
        await to_row(pilot, form, "budget")
        await pilot.press("enter", *"30", "enter")
        assert form.budget() == 30.0 and "budget" not in form.raw_values()
        assert app.focused is form.grid


async def test_sub_tabs_inputs_and_escape_from_any_field(home):
    demo_store(home)
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        await pilot.press(KEY["sequence"])
        tabs = app.query_one("#pane-sequence .run-tabs", TabbedContent)
        await pilot.press("right_square_bracket")
        assert tabs.active == "data-sequence"
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        assert tabs.active == "curves-sequence"  # round the four views
        await pilot.press("left_square_bracket")
        assert tabs.active == "log-sequence"
        # Language: i types into the prompt; Escape leaves it, and the digits switch tabs again
        await pilot.press(KEY["language"])
        await pilot.press("i")
        prompt = await until(pilot, lambda: (q := app.query("#lang-prompt")) and q.first(Input).has_focus
                             and q.first(Input), what="prompt focused")
        await pilot.press("a", "2")
        assert prompt.value == "a2"
        await pilot.press("escape")
        assert isinstance(app.focused, ParamGrid)
        await pilot.press(KEY["vision"])
        assert app.query_one("#tabs", TabbedContent).active == "tab-vision"
        # Vision: m shows the mistakes only; i goes to the file to classify
        await pilot.press("m")
        box = await until(pilot, lambda: (q := app.query("#vision-mistakes")) and q.first(Checkbox), what="results")
        await until(pilot, lambda: box.value, what="mistakes only")
        await pilot.press("i")
        await until(pilot, lambda: app.focused is app.query_one("#vision-path"), what="path focused")
        await pilot.press("escape")
        assert isinstance(app.focused, ParamGrid)
        # Runs: / filters, Escape goes back to the table
        await pilot.press(KEY["runs"], "slash", "l", "m")
        assert app.query_one("#runs-filter", Input).value == "lm"
        await pilot.press("escape")
        assert app.focused is app.query_one("#runs-table")


async def test_sweeps_and_their_dialog_on_keys(home):
    from labdeck.tui.screens.sweep import NewSweep

    from .demo_runs import add_sweep

    add_sweep(demo_store(home))
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start(pilot)
        await pilot.press(KEY["sweeps"])
        trials = app.query_one("#trials-table")
        await until(pilot, lambda: trials.row_count == 3, what="trials")
        assert app.focused is trials
        await pilot.press("tab")
        assert app.focused is app.query_one("#sweeps-table")
        await pilot.press("n")
        dialog = await until(pilot, lambda: isinstance(app.screen, NewSweep) and app.screen, what="dialog")
        # over the last experiment tab shown (Vision): its example grid names Vision's own parameters
        example = dialog.query_one("#sweep-grid", Input).placeholder
        assert example and all(part.split("=")[0] in registry.get("vision").params for part in example.split())
        for button in ("#sweep-start", "#sweep-cancel"):  # on screen at 80x24
            region = dialog.query_one(button).region
            assert region.area and region.bottom <= 24 and region.right <= 80
        assert app.focused is dialog.query_one("#sweep-grid")
        await pilot.press(*"hidden=4,8", "escape")
        await until(pilot, lambda: not isinstance(app.screen, NewSweep), what="dialog closed")


async def test_nothing_stale_the_form_follows_its_run_and_errors_go_when_fixed(home):
    demo_store(home)
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        await pilot.press(KEY["language"])
        form = app.query_one("#form-language", ParamForm)
        await until(pilot, lambda: form.raw_values()["epochs"] == "6", what="the run's values in the form")
        form.apply("hidden", "0")
        await pilot.press("s")
        error = app.query_one("#pane-language .form-error", Static)
        assert "hidden" in str(error.render())
        form.apply("hidden", "32")
        await until(pilot, lambda: str(error.render()) == "", what="the error gone with its cause")
        # the generated text belongs to the run it was generated with
        pane = app.query_one("#pane-language", ExperimentPane)
        pane.run_view.show_view("results")
        output = await until(pilot, lambda: (q := app.query("#lang-output")) and q.first(TextArea), what="results")
        output.load_text("text of demo-lm")
        pane.follow("demo-rnn")
        assert output.text == ""


async def test_a_report_stays_until_dismissed_is_listed_and_the_plot_saves_as_png(home, monkeypatch):
    import threading

    from labdeck import engine
    from labdeck.tui.screens.reports import ReportDone

    release = threading.Event()
    real = engine.write_report

    def slow(*args, **kwargs):  # as on a busy machine: the report takes its time
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "write_report", slow)

    demo_store(home)
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        await pilot.press(KEY["sequence"])
        pane = app.query_one("#pane-sequence", ExperimentPane)
        await until(pilot, lambda: (s := app.model.state(pane.run_id)) and s.ended, what="run loaded")
        from labdeck.tui.widgets.status_bar import StatusBar

        status = app.query_one(StatusBar)
        await pilot.press("R")
        # the bottom line says so for as long as it takes (seconds: matplotlib's figures), not only for a toast's 4 s
        await pilot.pause(0.5)
        assert f"writing a report of {pane.run_id}" in status.shown
        release.set()
        dialog = await until(pilot, lambda: isinstance(app.screen, ReportDone) and app.screen, timeout=60,
                             what="report shown")
        assert "writing a report" not in status.shown
        assert dialog.path == home / "reports" / pane.run_id / "report.md" and dialog.path.exists()
        await pilot.press("c")
        assert app.clipboard == str(dialog.path)
        await pilot.press("escape")
        assert not isinstance(app.screen, ReportDone)
        app.action_open("reports")
        await until(pilot, lambda: type(app.screen).__name__ == "ReportList", what="reports list")
        await pilot.press("enter")
        assert isinstance(app.screen, ReportDone)
        await pilot.press("escape")  # back to the list, then to the tab
        assert type(app.screen).__name__ == "ReportList"
        await pilot.press("escape")
        await pilot.press("P")
        png = home / "plots" / f"{pane.run_id}-loss.png"
        await until(pilot, png.exists, timeout=60, what="plot saved")
        assert png.read_bytes()[:4] == b"\x89PNG"


async def test_a_failed_download_offers_the_offline_data_by_its_reason_not_its_text(home):
    from labdeck.engine.events import RunEnded, RunStarted
    from labdeck.tui.messages import RunEvents

    demo_store(home)
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        started = RunStarted("demo-cnn", "vision", {}, "cpu", "fp32")
        app.post_message(RunEvents("demo-cnn", [started, RunEnded("demo-cnn", "failed", {}, 0.0, 0, "no network",
                                                                  "download")]))
        error = app.query_one("#pane-vision .form-error", Static)
        await until(pilot, lambda: "dataset=shapes" in str(error.render()), what="offline data offered")
        app.query_one("#pane-vision", ExperimentPane).show_error("")
        app.post_message(RunEvents("demo-cnn", [started, RunEnded("demo-cnn", "failed", {}, 0.0, 0,
                                                                  "cannot download CIFAR-10")]))
        await until(pilot, lambda: (s := app.model.states.get("demo-cnn")) and s.ended
                    and s.ended.message == "cannot download CIFAR-10", what="the failure folded in")
        await pilot.pause()
        assert str(error.render()) == ""  # the text alone does not decide


async def test_a_hidden_log_keeps_no_backlog_and_shows_the_last_lines_when_opened(home):
    from textual.widgets import RichLog

    from labdeck.engine.events import EpochMetrics
    from labdeck.tui.messages import RunEvents

    demo_store(home)
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        pane, run_id = await follow_a_sequence_run(pilot)
        log = pane.query_one(RichLog)
        m = {"train_loss": 0.5, "test_loss": 0.6}
        state = app.model.states[run_id]
        for first in range(100, 3100, 500):  # days of epochs, the Log view never opened
            app.post_message(RunEvents(run_id, [EpochMetrics(run_id, e, 0, m, 0.01, 1.0, 0.5, e)
                                                for e in range(first, first + 500)]))
            last = first + 499
            await until(pilot, lambda last=last: pane.drawn_version == state.version
                        and state.history.last.epoch == last, what="the epochs drawn")
        # Textual's RichLog queues every line written before it knows its width, past its max_lines
        assert not log._deferred_renders
        await pilot.press("left_square_bracket")  # the Log view
        await until(pilot, lambda: any("3099" in line.text for line in log.lines), what="the last epoch logged")
        assert len(log.lines) <= log.max_lines


async def test_switching_tabs_for_hours_leaves_no_widgets_behind(home):
    """Textual's own Footer mounted a widget per key at each tab switch and kept the old ones alive (textual issue
    #6666); the key bar is one widget, and a tab switch mounts nothing."""
    demo_store(home)
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        for key in ("4", "5", "1", "2"):
            await pilot.press(key)
        await pilot.pause()
        widgets = len(app.query("*"))
        for _ in range(2):
            for key in ("4", "5", "1", "2"):
                await pilot.press(key)
        await pilot.pause()
        assert len(app.query("*")) == widgets


async def test_shift_m_picks_any_metric_of_an_experiments_run_over_epochs_or_time(home):
    from textual.widgets import SelectionList

    from labdeck.tui.screens.run_metrics import RunMetricsView
    from labdeck.tui.widgets.line_plot import LinePlot

    demo_store(home)
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await follow_a_sequence_run(pilot)
        await pilot.press("escape", "M")
        view = await until(pilot, lambda: isinstance(app.screen, RunMetricsView) and app.screen, what="the view")
        listing = view.query_one("#metric-list", SelectionList)
        await until(pilot, lambda: listing.option_count, what="metrics listed")
        keys = [listing.get_option_at_index(i).value for i in range(listing.option_count)]
        assert "test_mse" in keys and "train_loss" in keys and "train_seconds" not in keys
        plot = view.query_one("#script-plot", LinePlot)
        await until(pilot, lambda: plot.lines, what="plotted")
        await pilot.press("t")
        await until(pilot, lambda: plot.xlabel == "seconds" and all(x == x for x in plot.lines[0].xs),
                    what="the time axis, every epoch at its training time")
        await pilot.press("escape")
        assert not isinstance(app.screen, RunMetricsView)


async def test_a_relaunch_opens_on_the_last_tab_with_the_values_the_user_gave(home):
    from labdeck.engine import Store, runs

    store = Store(home)
    run_id = runs.create(store, "vision", {"dataset": "shapes", "width": 0, "epochs": 1})
    store.set_params(run_id, {**store.get(run_id).params, "width": 16})  # what the recipe made of width=0
    store.set_meta(run_id, {"asked": {**store.get(run_id).params, "width": 0}})
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        await pilot.press(KEY["sequence"])
        await until(pilot, lambda: app.active_tab() == "sequence", what="sequence shown")
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.mounted, what="mounted")
        assert app.active_tab() == "sequence"  # where it was left
        pane = app.query_one("#pane-vision", ExperimentPane)
        await until(pilot, lambda: pane.run_id == run_id, what="the vision run followed")
        assert pane.form.raw["width"] == "0"  # auto, as asked, not the 16 it became


async def test_a_running_sweep_trial_shows_how_far_it_is(home):
    import os

    from textual.widgets import DataTable

    from .demo_runs import add_sweep

    store = demo_store(home)
    sweep_id = add_sweep(store)
    store.set_status("demo-trial-32", "running")
    store.claim("demo-trial-32", os.getpid(), None)  # alive: this test's process
    store.set_params("demo-trial-32", {**store.get("demo-trial-32").params, "epochs": 30})
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await start(pilot)
        await pilot.press(KEY["sweeps"])
        table = app.query_one("#trials-table", DataTable)
        await until(pilot, lambda: table.row_count == 3, what="the trials listed")
        assert str(table.get_row("demo-trial-32")[3]) == "12/30 ep" and sweep_id


async def test_new_batch_points_wait_their_turn_and_anything_else_redraws_the_run_at_once(home, monkeypatch):
    """A live run's batch points come several times a second: they redraw its view (a new figure and a screen update)
    at most once a POINTS_SECONDS; anything else, as an epoch's end, at once, with the points before it."""
    from labdeck.engine.events import BatchMetrics, EpochMetrics
    from labdeck.tui import run_view
    from labdeck.tui.messages import RunEvents
    from labdeck.tui.widgets.line_plot import LinePlot

    demo_store(home)
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        pane, run_id = await follow_a_sequence_run(pilot)
        state = app.model.states[run_id]
        plot = pane.query_one(".loss-plot", LinePlot)
        monkeypatch.setattr(run_view, "POINTS_SECONDS", 3600.0)
        m = {"train_loss": 0.5, "test_loss": 0.6}
        epoch = state.latest_epoch + 1
        app.post_message(RunEvents(run_id, [EpochMetrics(run_id, epoch, 0, m, 0.01, 1.0, 0.5, epoch)]))
        await until(pilot, lambda: state.latest_epoch == epoch and pane.drawn_version == state.version and plot.drawn,
                    what="the epoch drawn")

        def batch_points() -> int:
            return next((len(ln.xs) for ln in plot.lines if ln.label.startswith("batch")), 0)

        before = batch_points()
        app.post_message(RunEvents(run_id, [BatchMetrics(run_id, epoch + 1, step, 0.4, 1000.0, step / 100, step / 10)
                                            for step in range(1, 6)]))
        await until(pilot, lambda: state.last_batch is not None and state.last_batch.step == 5, what="the points")
        app.redraw()
        assert batch_points() == before and pane.drawn_version < state.version  # they wait their turn
        app.post_message(RunEvents(run_id, [EpochMetrics(run_id, epoch + 1, 0, m, 0.01, 1.0, 0.5, epoch + 1)]))
        await until(pilot, lambda: batch_points() == before + 5 and pane.drawn_version == state.version,
                    what="an epoch redraws at once")
        monkeypatch.setattr(run_view, "POINTS_SECONDS", 0.0)
        app.post_message(RunEvents(run_id, [BatchMetrics(run_id, epoch + 2, 9, 0.3, 900.0, 0.2, 2.0)]))
        await until(pilot, lambda: batch_points() == before + 6, what="the points at their turn")
