"""The New sweep dialog: the grid or random ranges to try, on top of the current experiment form's values.

It creates and starts the sweep itself (in a worker) and closes with its id; a bad value is one line in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from labdeck.engine.hosts import qualify
from labdeck.engine.spec import Spec

from ..messages import StoreChanged

if TYPE_CHECKING:
    from ..app import LabdeckApp
    from ..experiment_pane import ExperimentPane


def grid_example(spec: Spec) -> str:
    """A grid over two of the experiment's own numeric parameters, e.g. ``hidden=16,32 lr=0.01,0.003``."""
    parts: list[str] = []
    for name in spec.key_params + tuple(p.name for p in spec.params):
        p = spec.params[name]
        if p.type not in ("int", "float") or name in ("epochs", "seed") or any(x.startswith(f"{name}=") for x in parts):
            continue
        if p.type == "int":
            parts.append(f"{name}={p.default},{p.default * 2}")
        else:
            parts.append(f"{name}={p.default:g},{p.default / 3:.2g}")
        if len(parts) == 2:
            break
    return " ".join(parts)


def range_example(spec: Spec) -> str:
    return "lr=0.0001:0.1:log" if "lr" in spec.params else ""


class NewSweep(ModalScreen[str | None]):
    CSS_PATH = Path(__file__).with_name("sweep.tcss")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="sweep.cancel"),
                Binding("ctrl+s", "submit", "Start sweep", id="sweep.start")]

    @classmethod
    def over(cls, pane: ExperimentPane) -> NewSweep:
        """The dialog over an experiment pane's form: its values are every trial's, bar what the sweep varies."""
        return cls(pane.spec, pane.form.raw_values(), pane.home, pane.form.raw["budget"], pane.form.host())

    def __init__(self, spec: Spec, base: dict[str, str], home: Path, budget: str = "", host: str = ""):
        """``host``: the machine the trials train on ("" this one), from the form's host row."""
        super().__init__()
        self.spec, self.experiment, self.base, self.home, self.budget = spec, spec.name, base, home, budget
        self.host = host

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            on = f" on {self.host}" if self.host else ""
            yield Label(f"[b]New {self.spec.title} sweep{on}[/] (the other values come from the form)")
            yield Label("grid: KEY=V1,V2 … (space between keys; every combination)")
            yield Input(placeholder=grid_example(self.spec), id="sweep-grid", compact=True)
            yield Label("random trials · the ranges they draw from: KEY=LOW:HIGH[:log] …")
            with Horizontal(classes="sweep-row"):
                yield Input("0", id="sweep-random", type="integer", compact=True)
                yield Input(placeholder=range_example(self.spec), id="sweep-ranges", compact=True)
            yield Label("budget per trial (s; empty: the epochs) · trials at once · where they run")
            with Horizontal(classes="sweep-row"):
                yield Input(self.budget, placeholder="seconds", id="sweep-budget", type="number", compact=True)
                yield Input("1", id="sweep-parallel", type="integer", compact=True)
                yield Select([("local", "local"), ("Ray", "ray")], value="local", allow_blank=False,
                             id="sweep-backend", compact=True)
                yield Input(placeholder="Ray address (empty: local)", id="sweep-address", disabled=True, compact=True)
                yield Checkbox("ASHA", id="sweep-asha", disabled=True, compact=True,
                               tooltip="stop poor trials early (Ray Tune's ASHA scheduler)")
            yield Static("", id="sweep-error")
            with Horizontal(classes="sweep-buttons"):
                yield Label("Enter: start · Esc: cancel", classes="sweep-keys")
                yield Button("Start sweep", variant="success", id="sweep-start", compact=True)
                yield Button("Cancel", id="sweep-cancel", compact=True)

    def values(self) -> dict:
        get = lambda name: self.query_one(f"#sweep-{name}", Input).value.strip()  # noqa: E731
        backend = self.query_one("#sweep-backend", Select).value
        ray = backend == "ray"
        return {"experiment": self.experiment, "base": self.base, "grid": get("grid").split(),
                "random": int(get("random") or 0), "ranges": get("ranges").split(),
                "budget": get("budget"), "parallel": int(get("parallel") or 1),
                "backend": backend, "address": (get("address") or None) if ray else None,
                "asha": ray and self.query_one("#sweep-asha", Checkbox).value}

    def on_mount(self) -> None:
        # A watch rather than Select.Changed: the Select posts no message for a value set before its own parts mount.
        self.watch(self.query_one("#sweep-backend", Select), "value", self._backend_chosen)

    def _backend_chosen(self, backend: object) -> None:
        for widget in (self.query_one("#sweep-address"), self.query_one("#sweep-asha")):
            widget.disabled = backend != "ray"

    def show_error(self, text: str) -> None:
        self.query_one("#sweep-error", Static).update(f"[b $error]{text}[/]", layout=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "sweep-start":
            self.action_submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        try:
            values = self.values()
        except ValueError as exc:
            self.show_error(f"not a number: {exc}")
            return
        self.show_error("")
        self._create(values)

    @work(thread=True, group="launch-sweep", exclusive=True, exit_on_error=False)
    def _create(self, v: dict) -> None:
        from labdeck.engine import LabdeckError, Store, sweep

        try:
            if self.host:
                bare, count = cast("LabdeckApp", self.app).links.to(self.host).call("sweep", **v)
                sweep_id = qualify(self.host, bare)
            else:
                sweep_id, count = sweep.start(Store(self.home), v)
        except LabdeckError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self.notify, f"started sweep {sweep_id}: {count} trials")
        self.app.call_from_thread(self.dismiss, sweep_id)

    def action_cancel(self) -> None:
        self.dismiss(None)


def ask_for_sweep(app: LabdeckApp, pane: ExperimentPane) -> None:
    """The New sweep dialog over ``pane``'s form; a sweep it starts is then shown, selected, in the Sweeps tab."""
    def started(sweep_id: str | None) -> None:
        if sweep_id:
            app.post_message(StoreChanged())
            app.call_after_refresh(show, sweep_id)  # once the screen below has its focus back

    def show(sweep_id: str) -> None:
        from ..sweeps_pane import SweepsPane

        app.action_tab("sweeps")
        if isinstance(sweeps := app.tabs.get("sweeps"), SweepsPane):
            sweeps.select(sweep_id)

    app.push_screen(NewSweep.over(pane), started)
