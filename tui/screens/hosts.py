"""The Hosts view: each machine linked over ssh, live or why not, its labdeck and when it was last heard (``H``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from ..model import RunsModel

if TYPE_CHECKING:
    from labdeck.engine.remote import HostStatus

    from ..app import LabdeckApp
    from ..host_watcher import HostWatcher

REFRESH_SECONDS = 1.0


def heard(seen: float, now: float) -> str:
    """How long ago a host last said something: its rows are as fresh as this."""
    from ..runs_pane import age

    if not seen:
        return "never"
    return "now" if now - seen < 2 else f"{age(seen, now)} ago"


def tell(app: LabdeckApp, status: HostStatus) -> None:
    """A host's new state: the status bar names a host that is not live, and why; a host never reached, or one
    refusing, is toasted too (a link that dropped reconnects by itself: the status bar is enough)."""
    from labdeck.engine.remote import State

    from ..widgets.status_bar import StatusBar

    fine = status.state in (State.LIVE, State.CONNECTING, State.CLOSED)
    app.query_one(StatusBar).doing(f"host {status.name}", None if fine else f"{status.state}: {status.detail}")
    dropped = status.state in (State.UNREACHABLE, State.STALLED) and status.seen
    if not fine and not dropped:
        app.notify(status.detail or f"{status.name}: {status.state}", severity="warning", timeout=10)


class HostsView(ModalScreen[None]):
    CSS_PATH = Path(__file__).with_name("dialogs.tcss")
    BINDINGS = [Binding("escape,q,H", "close", "Close", id="hosts.close")]

    def __init__(self, model: RunsModel, links: dict[str, HostWatcher] | None = None):
        """``links``: their live statuses (the model keeps each host's last change of state)."""
        super().__init__()
        self.model, self.links = model, dict(links or {})

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog gpu-dialog"):
            yield Label("[b]Hosts[/] (linked over your ssh: labdeck --host NAME, or [hosts.NAME] in the settings)",
                        id="hosts-title")
            yield DataTable(id="hosts-table", cursor_type="row", zebra_stripes=True)
            yield Label("[b]Esc[/] close", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("host", "link", "labdeck", "heard", "runs", "what to do")
        self._show()
        self.set_interval(REFRESH_SECONDS, self._show)

    def _show(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        if not self.model.hosts:
            self.query_one("#hosts-title", Label).update(
                "[b]Hosts[/]: none (labdeck --host NAME, or [hosts.NAME] in the settings file: docs/remote.md)")
        now = time.time()
        counts: dict[str, int] = {}
        for info in self.model.infos.values():
            if info.where:
                counts[info.where] = counts.get(info.where, 0) + 1
        for name, known in self.model.hosts.items():
            status = self.links[name].status if name in self.links else known
            table.add_row(name, str(status.state), status.version or "-", heard(status.seen, now),
                          str(counts.get(name, 0)), status.detail or "-", key=name)

    def action_close(self) -> None:
        self.dismiss(None)
