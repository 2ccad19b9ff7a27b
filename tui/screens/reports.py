"""Reports: the one just written, shown until dismissed, and the list of every report in the store's home."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Markdown, OptionList

CSS = Path(__file__).with_name("dialogs.tcss")


def reports_in(home: Path) -> list[Path]:
    """Every report.md under ``home/reports``, newest first."""
    folder = home / "reports"
    found = folder.glob("*/report.md") if folder.is_dir() else []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


class ReportDone(ModalScreen[None]):
    """Where a report is: shown until dismissed, with its path to copy and its text to read."""

    CSS_PATH = CSS
    BINDINGS = [Binding("c", "copy", "Copy path", id="report.copy"),
                Binding("escape,enter,q", "close", "Close", id="report.close")]

    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog report-dialog"):
            yield Label(f"[b]Report[/]: {self.path}", classes="report-path")
            yield Label("[b]c[/] copy the path   [b]Esc[/] close   (figures and CSV files lie beside it)",
                        classes="dialog-hint")
            with VerticalScroll(classes="report-text"):
                yield Markdown("*reading the report …*")

    def on_mount(self) -> None:
        # shown first, filled after: a sweep's report (tables of every trial) takes seconds to lay out
        self.call_after_refresh(self._fill)

    async def _fill(self) -> None:
        try:
            text = self.path.read_text(errors="replace")
        except OSError as exc:
            text = f"cannot read {self.path}: {exc.strerror or exc}"
        await self.query_one(Markdown).update(text)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(str(self.path))  # OSC 52: reaches the local clipboard over SSH and tmux too
        self.notify(f"copied {self.path}")

    def action_close(self) -> None:
        self.dismiss(None)


class ReportList(ModalScreen[None]):
    """Every report written so far: Enter reads one (and copies its path on c)."""

    CSS_PATH = CSS
    BINDINGS = [Binding("escape,q", "close", "Close", id="reports.close")]

    def __init__(self, home: Path):
        super().__init__()
        self.reports = reports_in(home)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("[b]Reports[/] (newest first)" if self.reports else
                        "No reports yet: Shift+R writes one of the current run or sweep.")
            yield OptionList(*(p.parent.name for p in self.reports))
            yield Label("[b]Enter[/] read   [b]Esc[/] close", classes="dialog-hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.app.push_screen(ReportDone(self.reports[event.option_index]))

    def action_close(self) -> None:
        self.dismiss(None)
