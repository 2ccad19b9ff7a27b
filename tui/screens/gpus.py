"""The GPU view: each GPU's use and memory, and which labdeck runs train on it (``g``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label
from textual.worker import get_current_worker

from labdeck.engine import LabdeckError, gpus
from labdeck.engine.hosts import qualify

from ..model import RunsModel

if TYPE_CHECKING:
    from ..host_watcher import HostWatcher

Machine = tuple[str, list[gpus.Gpu], dict[int, list[str]], str]  # host ("" here), its GPUs, runs on each, error

POLL_SECONDS = 2.0


class GpuView(ModalScreen[None]):
    CSS_PATH = Path(__file__).with_name("dialogs.tcss")
    BINDINGS = [Binding("escape,q,g", "close", "Close", id="gpus.close")]

    def __init__(self, model: RunsModel, links: dict[str, HostWatcher] | None = None):
        """``links``: the other machines shown, whose GPUs are read through their links too."""
        super().__init__()
        self.model, self.links = model, dict(links or {})

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
            here = gpus.read()
            found: list[Machine] = [("", here, gpus.runs_on(here, list(self.model.infos.values())), "")]
            for name, link in self.links.items():
                try:
                    answer = link.call("gpus", timeout=POLL_SECONDS * 2)
                except LabdeckError as exc:
                    found.append((name, [], {}, str(exc)))
                    continue
                found.append((name, [gpus.Gpu(**{**g, "pids": tuple(g["pids"])}) for g in answer["gpus"]],
                              {int(k): [qualify(name, r) for r in v] for k, v in answer["runs"].items()}, ""))
            self.app.call_from_thread(self._show, found)
            time.sleep(POLL_SECONDS)

    def _show(self, machines: list[Machine]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        table.display = len(machines) > 1 or bool(machines[0][1])  # with hosts: a row each, GPUs or not
        if not table.display:
            self.query_one("#gpu-title", Label).update("[b]GPUs[/]: none found here (NVML and nvidia-smi read none)")
            return
        for where, found, on, error in machines:
            prefix = f"{where or 'here'} " if len(machines) > 1 else ""
            if error or not found:
                table.add_row(prefix.strip(), error or "no GPU found", "", "", "", "", key=qualify(where, "none"))
            for g in found:
                others = len(g.pids) - len(on.get(g.index, []))
                table.add_row(f"{prefix}{g.index}", g.name, f"{g.util:.0f}%",
                              f"{g.used_mb / 1024:.1f} / {g.total_mb / 1024:.0f} GiB",
                              " ".join(on.get(g.index, [])) or "-", str(others) if others else "-",
                              key=qualify(where, str(g.index)))

    def action_close(self) -> None:
        self.dismiss(None)
