"""The GPU view: each GPU's use and memory, and which labdeck runs train on it (``g``)."""

from __future__ import annotations

import time
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label
from textual.worker import get_current_worker

from labdeck.engine import gpus

from ..model import RunsModel

POLL_SECONDS = 2.0


class GpuView(ModalScreen[None]):
    CSS_PATH = Path(__file__).with_name("dialogs.tcss")
    BINDINGS = [Binding("escape,q,g", "close", "Close", id="gpus.close")]

    def __init__(self, model: RunsModel):
        super().__init__()
        self.model = model

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog gpu-dialog"):
            yield Label("[b]GPUs[/] (read through NVML or nvidia-smi every 2 s)", id="gpu-title")
            yield DataTable(id="gpu-table", cursor_type="row", zebra_stripes=True)
            yield Label("[b]Esc[/] close", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("GPU", "name", "use", "memory", "labdeck runs", "other processes")
        self._poll()

    @work(thread=True, group="gpus", exclusive=True, exit_on_error=False)
    def _poll(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled:
            found = gpus.read()
            self.app.call_from_thread(self._show, found)
            time.sleep(POLL_SECONDS)

    def _show(self, found: list[gpus.Gpu]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        table.display = bool(found)
        if not found:
            self.query_one("#gpu-title", Label).update("[b]GPUs[/]: none found here (NVML and nvidia-smi read none)")
            return
        on = gpus.runs_on(found, list(self.model.infos.values()))
        for g in found:
            others = len(g.pids) - len(on[g.index])
            table.add_row(str(g.index), g.name, f"{g.util:.0f}%",
                          f"{g.used_mb / 1024:.1f} / {g.total_mb / 1024:.0f} GiB", " ".join(on[g.index]) or "-",
                          str(others) if others else "-", key=str(g.index))

    def action_close(self) -> None:
        self.dismiss(None)
