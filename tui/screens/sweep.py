"""The New sweep dialog: the grid or random ranges to try, on top of the current experiment form's values."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static


class NewSweep(ModalScreen[dict | None]):
    CSS_PATH = Path(__file__).with_name("sweep.tcss")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="sweep.cancel")]

    def __init__(self, experiment: str, base: dict[str, str]):
        super().__init__()
        self.experiment, self.base = experiment, base

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"[b]New {self.experiment} sweep[/] (the other values come from the form)")
            yield Label("grid: KEY=V1,V2 … (space between keys; every combination)")
            yield Input(placeholder="hidden=16,32,64 lr=0.01,0.003", id="sweep-grid")
            yield Label("random trials, and the ranges they draw from: KEY=LOW:HIGH[:log] …")
            with Horizontal(classes="sweep-row"):
                yield Input("0", id="sweep-random", type="integer")
                yield Input(placeholder="lr=0.0001:0.1:log", id="sweep-ranges")
            yield Label("budget per trial (s; empty: the epochs) · trials at once · where they run")
            with Horizontal(classes="sweep-row"):
                yield Input(placeholder="seconds", id="sweep-budget", type="number")
                yield Input("1", id="sweep-parallel", type="integer")
                yield Select([("local", "local"), ("Ray", "ray")], value="local", allow_blank=False,
                             id="sweep-backend")
                yield Input(placeholder="Ray address (empty: local)", id="sweep-address", disabled=True)
                yield Checkbox("ASHA", id="sweep-asha", disabled=True,
                               tooltip="stop poor trials early (Ray Tune's ASHA scheduler)")
            yield Static("", id="sweep-error")
            with Horizontal(classes="sweep-buttons"):
                yield Button("Start sweep", variant="success", id="sweep-start")
                yield Button("Cancel", id="sweep-cancel")

    def values(self) -> dict:
        get = lambda name: self.query_one(f"#sweep-{name}", Input).value.strip()  # noqa: E731
        budget = get("budget")
        backend = self.query_one("#sweep-backend", Select).value
        ray = backend == "ray"
        return {"experiment": self.experiment, "base": self.base, "grid": get("grid").split(),
                "random": int(get("random") or 0), "ranges": get("ranges").split(),
                "budget": float(budget) if budget else None, "parallel": int(get("parallel") or 1),
                "backend": backend, "address": (get("address") or None) if ray else None,
                "asha": ray and self.query_one("#sweep-asha", Checkbox).value}

    def on_select_changed(self, event: Select.Changed) -> None:
        for widget in (self.query_one("#sweep-address"), self.query_one("#sweep-asha")):
            widget.disabled = event.value != "ray"

    def show_error(self, text: str) -> None:
        self.query_one("#sweep-error", Static).update(f"[b $error]{text}[/]", layout=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "sweep-start":
            self._submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self) -> None:
        self._submit()

    def _submit(self) -> None:
        try:
            values = self.values()
        except ValueError as exc:
            self.show_error(f"not a number: {exc}")
            return
        self.app.start_sweep(values, self)

    def action_cancel(self) -> None:
        self.dismiss(None)
