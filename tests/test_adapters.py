"""Pins on the private names of dependencies that tui/adapters uses: each test fails when an upgrade changes what
labdeck relies on, in the adapter's terms."""

from __future__ import annotations

import inspect

from rich.console import Console
from rich.text import Text
from textual.app import App, ComposeResult
from textual.css.query import NoMatches
from textual.widgets import DataTable, Input

from labdeck.tui.adapters.plotext_private import ThemedPlot
from labdeck.tui.adapters.textual_private import InOrderInput, QuietCloseApp, RowCachedTable
from labdeck.tui.widgets.line_plot import Line, LinePlot, figure_strips

from .test_widgets import decay


def test_the_private_names_are_there_with_the_arguments_used():
    assert list(inspect.signature(DataTable._render_line_in_row).parameters) == [
        "self", "row_key", "line_no", "base_style", "cursor_location", "hover_location"]
    assert list(inspect.signature(App._handle_exception).parameters) == ["self", "error"]
    assert list(inspect.signature(Input._on_key).parameters) == ["self", "event"]
    assert list(inspect.signature(ThemedPlot._register_theme).parameters) == ["self", "app_theme_name"]


def test_figure_lines_read_from_plotexts_cells_match_its_ansi_output():
    # The figure's cells are read from plotext's matrix: what its own ANSI output says, cell for cell, in both
    # themes, with a log scale and a scatter.
    plot = LinePlot("t", "x")
    lines = [decay(300), Line("test", [0.0, 100.0, 299.0], [1.0, 0.02, 0.004], scatter=True)]
    for theme in ("textual-dark", "textual-light"):
        ours = figure_strips(plot._figure(lines, True, None, 70, 20, theme), 70)
        plot.plt.monitor.matrix.set_canvas()
        parsed = Text.from_ansi(plot.plt.monitor.matrix.get_canvas())
        console = Console(width=70, color_system="truecolor", force_terminal=True)
        theirs = list(console.render_lines(parsed, console.options.update(width=70, height=20), pad=True))
        assert len(ours) == len(theirs) == 20

        def cells(segments):
            return [(ch, seg.style or None) for seg in segments for ch in seg.text]

        for mine, real in zip(ours, theirs):
            assert cells(mine) == cells(real)
        assert len({seg.style for strip in ours for seg in strip}) > 3  # coloured lines, not plain text


class Widgets(App):
    def compose(self) -> ComposeResult:
        yield ThemedPlot()
        yield InOrderInput()
        table = RowCachedTable(cursor_type="row")
        table.add_columns("a")
        table.add_rows([[str(i)] for i in range(20)])
        yield table


async def test_a_theme_change_is_told_once_its_plotext_theme_is_made():
    told = []
    app = Widgets()
    async with app.run_test() as pilot:
        plot = app.query_one(ThemedPlot)
        plot.theme_registered = lambda: told.append(plot.plotext_theme())
        app.theme = "nord"
        await pilot.pause()
        assert told == ["textual-auto-nord"]


async def test_bound_keys_in_a_burst_keep_their_order_with_typed_ones():
    app = Widgets()
    async with app.run_test() as pilot:
        editor = app.query_one(InOrderInput)
        editor.focus()
        await pilot.press("b", "a", "backspace", "c")  # pressed without waiting between them
        assert editor.value == "bc"


async def test_moving_the_row_cursor_renders_only_the_rows_it_leaves_and_reaches():
    app = Widgets()
    async with app.run_test() as pilot:
        table = app.query_one(RowCachedTable)
        table.focus()
        await pilot.pause()
        rendered = []
        real = DataTable._render_cell
        table._render_cell = lambda row, *a, **k: (rendered.append(row), real(table, row, *a, **k))[1]
        await pilot.press("down")
        await pilot.pause()
        assert set(rendered) <= {0, 1}


class Closing(QuietCloseApp):
    quitting = False

    @property
    def closing(self) -> bool:
        return self.quitting

    def quit_then_fail(self) -> None:
        self.quitting = True  # as the quit key does
        self.exit()
        raise NoMatches("a widget taken down as the app closes")


async def test_a_missing_widget_while_closing_ends_the_app_quietly_and_is_an_error_otherwise():
    import asyncio

    app = Closing()
    async with app.run_test():
        app.call_later(app.quit_then_fail)
        for _ in range(500):
            if not app.is_running:
                break
            await asyncio.sleep(0.01)
        assert not app.is_running
    assert app.return_code == 0
    app = Closing()
    try:
        async with app.run_test():
            app._handle_exception(NoMatches("not closing"))
    except NoMatches:
        pass
    assert app.return_code == 1
