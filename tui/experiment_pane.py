"""An experiment tab: the hyperparameter form and run controls on the left, the followed run on the right."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import MountError
from textual.widgets import Button, Static

from engine.spec import Spec

from .widgets.param_form import ParamForm

RUN_VIEW_AFTER_SECONDS = 0.2  # the form is painted first

if TYPE_CHECKING:
    from .run_view import RunView
    from .state import RunState


class ExperimentPane(Horizontal):
    """Follows one run of its experiment: the newest, unless the user opened another."""

    def __init__(self, spec: Spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.run_id: str | None = None
        self.pinned = False  # True when the user opened a run: new runs then do not take over the view
        self._run_view: RunView | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-column"):
            yield Static(f"[b]{self.spec.title}[/]: {self.spec.summary}", classes="pane-title")
            yield ParamForm(self.spec, id=f"form-{self.spec.name}")
            yield Static("", classes="form-error")
            with Horizontal(classes="controls"):
                yield Button("Start", id=f"start-{self.spec.name}", variant="success", classes="start", compact=True)
                yield Button("Pause", classes="pause", compact=True)
                yield Button("Resume", classes="resume", compact=True)
                yield Button("Stop", variant="error", classes="stop", compact=True)

    def on_mount(self) -> None:
        # A timer, not call_after_refresh: that would run before the form has asked for its first paint, and the
        # run view's imports (plotext, ...) and mounting would hold that paint up. Textual offers no "painted" event.
        self.set_timer(RUN_VIEW_AFTER_SECONDS, self._mount_run_view)

    async def _mount_run_view(self) -> None:
        from .run_view import RunView

        view = RunView(self.spec, classes="run-column")
        try:
            await self.mount(view)
        except MountError:  # the app is closing
            return
        self._run_view = view
        self.app.redraw()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        for action in ("start", "pause", "resume", "stop"):
            if event.button.has_class(action):
                getattr(self.app, f"action_{action}")()

    @property
    def form(self) -> ParamForm:
        return self.query_one(ParamForm)

    @property
    def run_view(self) -> RunView | None:
        """The right-hand side, once mounted (just after the first paint)."""
        return self._run_view

    @property
    def drawn_version(self) -> int:
        """The version of the followed run's state on screen (-1: none yet)."""
        return self.run_view.drawn_version if self.run_view is not None else -1

    def redraw_all(self) -> None:
        """Draw everything again on the next redraw (a display setting changed)."""
        if self.run_view is not None:
            self.run_view.drawn_version = -1

    def show_error(self, text: str) -> None:
        self.query_one(".form-error", Static).update(f"[b $error]{text}[/]" if text else "")

    def follow(self, run_id: str, pinned: bool = False) -> None:
        if run_id != self.run_id:
            self.run_id = run_id
            if self.run_view is not None:
                self.run_view.follow()
        self.pinned = pinned or self.pinned

    def redraw(self, state: RunState | None, compared: list[RunState], log_scale: bool) -> None:
        """Called by the app's timer (inside ``batch_update``); cheap when nothing changed."""
        if self.run_view is not None:
            self.run_view.redraw(state, compared, log_scale)
