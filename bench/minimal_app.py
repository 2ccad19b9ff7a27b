"""Floors for ``bench/ui.py``: what Python and Textual alone cost on this machine.

``python bench/minimal_app.py``: labdeck's frame (header, five tabs, footer) and nothing else, for first paint.
``python bench/minimal_app.py --table``: a 27-row table whose help line follows the cursor, for key latency.
"""

import sys

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane


class Frame(App):
    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent():
            for name in ("Vision", "Sequence", "Language", "Runs", "Sweeps"):
                with TabPane(name):
                    yield Static(name)
        yield Footer()


class Table(App):
    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(cursor_type="row")
        yield Static("", id="help")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("parameter", "value")
        for i in range(27):
            table.add_row(f"param{i:02d}", str(i), key=str(i))
        table.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.query_one("#help", Static).update(f"HELP{int(event.row_key.value):02d}xx", layout=False)


if __name__ == "__main__":
    (Table if "--table" in sys.argv else Frame)().run()
