"""Reusable widgets on their own."""

import time

from textual.app import App, ComposeResult

from labdeck.tui.widgets.line_plot import Line, LinePlot


class PlotApp(App):
    def compose(self) -> ComposeResult:
        yield LinePlot("t", "x")


def decay(n: int) -> Line:
    return Line("loss", [float(i) for i in range(n)], [1.0 / (i + 1) for i in range(n)])


async def test_long_series_are_downsampled_to_the_plot_width():
    app = PlotApp()
    async with app.run_test(size=(60, 20)) as pilot:
        plot = app.query_one(LinePlot)
        drawn = []
        real = plot.plt.plot
        plot.plt.plot = lambda xs, ys, **kw: (drawn.append((xs, ys)), real(xs, ys, **kw))
        n = 10_000
        plot.show([decay(n), Line("short", [0.0, 1.0], [1.0, 0.5])], log=True)
        await pilot.pause()
        (xs, ys), (sx, _) = drawn[-2:]
        assert len(xs) <= 2 * 60 + 1 and xs[0] == 0.0 and xs[-1] == n - 1  # ends kept
        assert ys == sorted(ys, reverse=True)  # still the same decreasing curve
        assert sx == [0.0, 1.0]  # short lines untouched


async def test_a_log_plot_survives_a_resize():
    # plotext transforms its data in place: rendering the same figure twice used to take the log of a log.
    app = PlotApp()
    async with app.run_test(size=(60, 20)) as pilot:
        plot = app.query_one(LinePlot)
        plot.show([decay(100)], log=True)
        await until_drawn(pilot, plot)
        before = str(plot.render())
        await pilot.resize_terminal(80, 24)
        await until_drawn(pilot, plot)  # built again, in the worker, for the new size
        assert app.is_running
        after = str(plot.render())
        assert "loss" in before and "loss" in after and len(after.splitlines()[0]) > len(before.splitlines()[0])


async def test_what_changes_beside_a_plot_waits_for_its_figure():
    # A run view's header and metrics are applied in the frame that paints the new figure, not a frame earlier.
    app = PlotApp()
    async with app.run_test(size=(60, 20)) as pilot:
        plot = app.query_one(LinePlot)
        calls = []
        plot.show([decay(50)], then=lambda: calls.append(plot.drawn))
        assert calls == []  # the figure is still being built
        await until_drawn(pilot, plot)
        await pilot.pause()
        assert calls == [True]  # ran once, with the new figure in place
        plot.show([decay(50)], then=lambda: calls.append("same lines"))
        assert calls[-1] == "same lines"  # nothing to build: at once
        plot.show([decay(55)], then=lambda: calls.append("stale"))
        plot.show([decay(55)], then=lambda: calls.append("newer, same lines"))  # e.g. the run's final metrics
        await until_drawn(pilot, plot)
        await pilot.pause()
        assert calls[-1] == "newer, same lines" and "stale" not in calls  # the older one does not undo it
        real = plot._figure
        plot._figure = lambda *a: 1 / 0
        plot.show([decay(60)], then=lambda: calls.append("failed build"))
        deadline = time.monotonic() + 10
        while calls[-1] != "failed build":
            assert time.monotonic() < deadline, "a failed build left its caller waiting"
            await pilot.pause(0.02)
        plot._figure = real


async def until_drawn(pilot, plot, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not plot.drawn:
        assert time.monotonic() < deadline, "the plot was never drawn"
        await pilot.pause(0.02)


def test_smoothed_batch_loss_follows_a_fall_through_decades():
    from labdeck.tui.state import RunState

    state = RunState("r")
    for step, loss in enumerate([1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6]):
        state.batches.append((step, loss))
    xs, ys = state.smoothed_batches()
    assert xs == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert ys == sorted(ys, reverse=True)
    assert ys[-1] < 1e-5  # within a decade of the last point, not stuck near the first


async def test_the_form_editor_keeps_a_burst_of_keys_in_order(tmp_path):
    # Keys posted back-to-back, as a paste or fast typing over SSH delivers them: bound keys (backspace, enter) must
    # not overtake printable ones.
    from textual import events

    from labdeck.tui.app import LabdeckApp

    from .test_tui import ready

    app = LabdeckApp(tmp_path, system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)  # on the Sequence tab
        form = app.query_one("#form-sequence")
        await pilot.press("down", "down", "enter")  # edit "length" (2000)
        assert form.editor.has_focus
        burst = [("backspace", None)] * 4 + [("1", "1"), ("0", "0"), ("0", "0"), ("0", "0"), ("enter", None)]
        for key, character in burst:
            app.post_message(events.Key(key, character))
        await pilot.pause()
        assert form.raw["length"] == "1000"


class FormApp(App):
    def compose(self) -> ComposeResult:
        from labdeck.engine import registry
        from labdeck.tui.widgets.param_form import ParamForm

        yield ParamForm(registry.get("sequence"))


async def test_an_arrow_key_that_scrolls_a_table_renders_only_the_rows_that_change():
    from textual.widgets import DataTable

    app = FormApp()
    async with app.run_test(size=(60, 16)) as pilot:
        grid = app.query_one(DataTable)
        grid.focus()
        await pilot.pause()  # the help panel takes its height for the longest help at this width
        visible = grid.size.height
        assert visible < grid.row_count  # the grid scrolls at this size
        for _ in range(visible - 1):  # to the last visible row
            await pilot.press("down")
        await pilot.pause()
        rendered = []
        real = grid._render_cell
        grid._render_cell = lambda row, column, *a, **k: (rendered.append(row), real(row, column, *a, **k))[1]
        await pilot.press("down")
        await pilot.pause()
        assert grid.scroll_y > 0 and grid.cursor_row == visible
        # the cursor's old and new rows; every other row comes from the cache (it used to be every visible row)
        assert visible in rendered and set(rendered) <= {visible - 1, visible}, sorted(set(rendered))
        cursor_line = grid.region.y + visible - int(grid.scroll_y)
        cursor_bg = grid.get_component_rich_style("datatable--cursor").bgcolor
        assert app.screen.get_style_at(grid.region.x + 1, cursor_line).bgcolor == cursor_bg  # still highlighted
        assert app.screen.get_style_at(grid.region.x + 1, cursor_line - 1).bgcolor != cursor_bg


class MetricsApp(App):
    CSS = "MetricsPanel { width: 1fr; height: 1fr; }"

    def compose(self) -> ComposeResult:
        from labdeck.tui.widgets.metrics_panel import MetricsPanel

        yield MetricsPanel()


async def test_metrics_that_do_not_fit_the_height_flow_into_a_second_column():
    from labdeck.tui.widgets.metrics_panel import MetricsPanel

    metrics = {f"metric_{i}": i / 7 for i in range(6)}
    app = MetricsApp()
    async with app.run_test(size=(60, 4)) as pilot:  # a header line and 3 rows: two column pairs needed
        panel = app.query_one(MetricsPanel)
        panel.show(metrics)
        await pilot.pause()
        lines = str(panel.render()).splitlines()
        assert len(lines) == 4 and lines[0].count("metric") == 2
        assert all(name in "\n".join(lines) for name in metrics)
        await pilot.resize_terminal(30, 10)  # room for one column pair: one metric a line
        await pilot.pause()
        lines = str(panel.render()).splitlines()
        assert len(lines) == 7 and lines[0].count("metric") == 1 and "metric_5" in lines[6]


async def test_a_changed_metric_repaints_its_line_and_leaves_the_rest_as_they_were():
    from labdeck.tui.widgets.metrics_panel import MetricsPanel

    app = MetricsApp()
    async with app.run_test(size=(40, 6)) as pilot:
        panel = app.query_one(MetricsPanel)
        panel.show({"train_loss": 0.5, "test_loss": 0.25})
        await pilot.pause()
        repainted = []
        real = panel.render_line
        panel.render_line = lambda y: (repainted.append(y), real(y))[1]
        panel.show({"train_loss": 0.5, "test_loss": 0.125})
        await pilot.pause()
        screen = app.export_screenshot()
        assert "0.125" in screen and "0.25" not in screen and "0.5" in screen
        assert set(repainted) == {2}  # under the header line and train_loss


def test_only_the_rows_of_a_figure_that_differ_count_as_changed():
    from rich.segment import Segment
    from textual.geometry import Region
    from textual.strip import Strip

    from labdeck.tui.widgets.repaint import changed_lines

    rows = [Strip([Segment(f"row {i}")], 5) for i in range(3)]
    assert changed_lines(rows, list(rows)) == []
    assert changed_lines(rows, [rows[0], Strip([Segment("row 9")], 5), rows[2]]) == [Region(0, 1, 5, 1)]
    assert changed_lines(rows, rows[:2]) is None  # another size: repaint it all


def test_a_runs_series_follow_epochs_sent_again_out_of_order_and_a_resume():
    from labdeck.engine.events import EpochMetrics, RunStarted
    from labdeck.tui.state import RunState

    def epoch(e: int, loss: float) -> EpochMetrics:
        return EpochMetrics(run_id="r", epoch=e, epochs=9, metrics={"train_loss": loss}, lr=0.1, train_seconds=e,
                            progress=e / 9, step=10 * e)

    state = RunState("r")
    for e in (1, 2, 4, 3):  # 3 arrives late
        state.apply(epoch(e, 1.0 / e))
    assert state.series("train_loss") == ([10.0, 20.0, 30.0, 40.0], [1.0, 0.5, 1 / 3, 0.25])
    state.apply(epoch(2, 0.75))  # sent again
    assert state.series("train_loss")[1] == [1.0, 0.75, 1 / 3, 0.25]
    assert state.latest_epoch == 4 and state.latest_metrics()["train_loss"] == 0.25
    state.apply(RunStarted(run_id="r", experiment="sequence", params={}, device="cpu", precision="fp32",
                               resumed_from_epoch=2))
    assert state.series("train_loss") == ([10.0, 20.0], [1.0, 0.75]) and state.latest_epoch == 2
    state.apply(epoch(3, 0.2))
    assert state.series("train_loss")[1] == [1.0, 0.75, 0.2] and state.progress() == 3 / 9
    xs, _ = state.series("train_loss")
    xs.append(99.0)  # a copy: the caller cannot change the state
    assert state.series("train_loss")[0] == [10.0, 20.0, 30.0]


async def test_a_run_followed_before_its_results_view_composes_is_no_crash():
    # A store poll can switch the followed run while the lazily mounted results view has not composed its children.
    from labdeck.engine.experiments import LANGUAGE
    from labdeck.tui.results.language import LanguageResults
    from labdeck.tui.run_view import RunView

    class RunViewApp(App):
        def compose(self) -> ComposeResult:
            yield RunView(LANGUAGE)

    app = RunViewApp()
    async with app.run_test() as pilot:
        view = app.query_one(RunView)
        results = LanguageResults(classes="results-view")
        view._views[".results-view"] = results
        view.mount(results)  # not awaited: its children come later
        view.follow()
        await pilot.pause()
        assert results.query("#lang-output")


def test_a_run_read_as_interrupted_a_moment_before_its_end_arrives_shows_how_it_ended():
    # A Ray trial's run on the head node: its process has exited, its end is not yet forwarded, so one listing
    # reads it as interrupted; then its RunEnded event and a listing that says finished arrive.
    from labdeck.engine import RunInfo
    from labdeck.engine.events import RunEnded
    from labdeck.tui.model import RunsModel

    def listing(status: str) -> list[RunInfo]:
        return [RunInfo("r", "sequence", status, {}, 0.0, None, 4321, "", {}, 1.0, 3, "cpu", "run")]

    model = RunsModel()
    model.apply("r", [], reset=True)
    model.update_runs(listing("running"))
    model.update_runs(listing("interrupted"))
    assert model.states["r"].status == "interrupted"
    model.apply("r", [RunEnded(run_id="r", status="finished", metrics={}, train_seconds=1.0, epochs=3)])
    model.update_runs(listing("finished"))
    assert model.states["r"].status == "finished"
    # a run whose process died with no end is interrupted, and stays so
    model.apply("q", [], reset=True)
    model.update_runs([*listing("finished"), RunInfo("q", "sequence", "interrupted", {}, 0.0, None, 1, "", {},
                                                     1.0, 1, "cpu", "run")])
    model.apply("q", [])
    assert model.states["q"].status == "interrupted"


async def test_the_key_bar_follows_the_focus_and_keeps_help_and_quit_however_narrow():
    from textual.binding import Binding
    from textual.widgets import Input, Static

    from labdeck.tui.widgets.footer import Footer

    class Pane(Static, can_focus=True):
        BINDINGS = [Binding(f"f{n}", f"hit({n})", f"Action {n}") for n in range(3, 12)]
        hits: list[int] = []

        def action_hit(self, n: int) -> None:
            self.hits.append(n)

    class Fields(App):
        BINDINGS = [Binding("f2", "bell", "Other", id="app.other"),
                    Binding("question_mark", "noop", "Help", key_display="?", id="app.help"),
                    Binding("q", "quit", "Quit", id="app.quit")]

        def compose(self) -> ComposeResult:
            yield Pane("pane")
            yield Input(id="a")
            yield Footer()

    app = Fields()
    async with app.run_test(size=(200, 10)) as pilot:
        bar = app.query_one(Footer)
        await pilot.pause()
        assert bar.keys == [*(f"f{n}" for n in range(3, 12)), "f2", "question_mark", "q"]  # the focused widget's first
        widgets = len(app.screen.query("*"))
        app.query_one(Input).focus()
        await pilot.pause()
        assert bar.keys == ["f2"]  # an input takes the printable keys
        assert len(app.screen.query("*")) == widgets  # repainted, nothing mounted
    app = Fields()
    async with app.run_test(size=(60, 10)) as pilot:
        app.query_one(Pane).focus()
        await pilot.pause()
        bar = app.query_one(Footer)
        assert bar.keys[-2:] == ["question_mark", "q"] and "f11" not in bar.keys  # dropped from the end
        shown = str(bar.render())
        assert "? Help" in shown and "q Quit" in shown and len(shown) <= 60
        await pilot.click(Footer, offset=(2, 0))  # a click presses the key under it
        assert Pane.hits == [3]


async def test_a_tab_chosen_after_a_pane_took_the_focus_stays_chosen():
    # Textual activates the pane of a focused widget by a message handled later. At start-up the first tab's form
    # takes the focus as it mounts; a tab key pressed before that message is handled, for a tab with nothing yet to
    # focus, was undone: the dashboard went back to the first tab with the keys on its hidden form.
    from textual.widgets import Button, Input, Static, TabPane

    from labdeck.tui.widgets.tabs import Tabs

    class TwoTabs(App):
        def compose(self) -> ComposeResult:
            yield Input(id="elsewhere")
            with Tabs(id="tabs"):
                with TabPane("first", id="first"):
                    yield Button("start", id="start")
                with TabPane("second", id="second"):
                    yield Static("nothing to focus yet")

    app = TwoTabs()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        tabs = app.query_one(Tabs)
        assert app.focused is app.query_one("#elsewhere") and tabs.active == "first"
        app.screen.set_focus(app.query_one("#start"))  # its pane's message is on its way
        tabs.active = "second"  # the user's tab key, before that message is handled
        await pilot.pause()
        assert tabs.active == "second"
        assert app.focused is None or app.query_one("#first", TabPane) not in app.focused.ancestors
        # a widget focused in a pane afterwards still brings its tab, as Textual does
        app.screen.set_focus(app.query_one("#start"))
        await pilot.pause()
        assert tabs.active == "first"


async def test_a_virtual_table_draws_only_what_is_seen_and_keeps_its_cursor_on_its_row():
    from labdeck.tui.widgets.virtual_table import Column, VirtualTable

    asked: list[str] = []

    def cells(key: str) -> list[str]:
        asked.append(key)
        return [key, f"value of {key}"]

    class Table(App):
        selected: list[str] = []

        def compose(self) -> ComposeResult:
            yield VirtualTable([Column("name", 10), Column("value", 0)], cells)

        def on_virtual_table_selected(self, message: VirtualTable.Selected) -> None:
            self.selected.append(message.key)

    app = Table()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(VirtualTable)
        table.set_rows([f"r{i:05d}" for i in range(100_000)])
        table.focus()
        await pilot.pause()
        assert len(set(asked)) <= 12  # the rows on screen, not 100,000
        await pilot.press("down", "down", "pagedown", "end")
        assert table.cursor_key == "r99999" and table.scroll_offset.y > 99_000  # the cursor's row is in view
        await pilot.press("home", "down", "enter")
        await pilot.pause()
        assert table.cursor_key == "r00001" and app.selected == ["r00001"]
        table.set_rows(["a", "r00001", "b"])  # the list changes: the cursor stays on its run
        assert table.cursor_key == "r00001"
        await pilot.pause()
        asked.clear()
        table.changed(["b"])
        await pilot.pause()
        assert asked == ["b"]  # only the row that changed is asked for again
        assert table.cells_of("a") == ["a", "value of a"]
