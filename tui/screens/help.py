"""The ``?`` screen: every key of the app, generated from the bindings themselves.

A full screen, not a modal one: a modal screen is drawn over the whole dashboard, dimmed, so opening it repainted
every live plot and table beneath it (~100-400 ms while a run trains on 2 cores).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

if TYPE_CHECKING:
    from ..app import LabdeckApp
    from ..redraw import RedrawPace


class HelpScreen(Screen[None]):
    CSS_PATH = Path(__file__).with_name("help.tcss")
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close", id="help.close")]

    def __init__(self, sections: list[tuple[str, list[Binding]]], pace: RedrawPace | None = None,
                 keymap: dict[str, str] | None = None):
        """``keymap``: the keys the user's settings give some bindings (by id) instead of their own."""
        super().__init__()
        self.sections, self.pace, self.keymap = sections, pace, keymap or {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="help"):
            yield Static("[b]labdeck keys[/]  (Escape closes; Ctrl+P opens the command palette)")
            yield Static("", id="help-pace")
            for title, bindings in self.sections:
                yield Static(f"\n[b]{title}[/]")
                # a Rich table in a Static: nothing here is selected or scrolled, and a DataTable per section made the
                # first opening slow
                table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
                for b in bindings:
                    text = f"{b.description}[dim]  {b.tooltip}[/]" if b.tooltip else b.description
                    keys = self.keymap.get(b.id or "")
                    table.add_row(keys or b.key_display or b.key, text)
                yield Static(table)

    def on_screen_resume(self) -> None:
        if self.pace is not None:  # how the dashboard paces its redraws now
            self.query_one("#help-pace", Static).update(f"[dim]{self.pace.describe()}[/]")


def install_help(app: LabdeckApp) -> str:
    """The help screen's name, built and installed once: opening it again only shows it."""
    if not app.is_screen_installed("help"):
        from ..keys import binding_groups

        app.install_screen(HelpScreen(binding_groups(), app.pace, app.settings.keymap), "help")
    return "help"
