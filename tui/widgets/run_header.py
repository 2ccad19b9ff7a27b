"""The current run's identity, status, progress bar, rate and ETA."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from ..state import STATUS_STYLE, RunState


def eta_text(state: RunState) -> str:
    progress, spent = state.progress(), state.train_seconds()
    if state.status not in ("running", "paused") or progress <= 0:
        return ""
    left = spent * (1 - progress) / progress
    return f"ETA {int(left // 60)}:{int(left % 60):02d}"


class RunHeader(Horizontal):
    DEFAULT_CSS = """
    RunHeader { height: 1; }
    /* fixed sizes: text updates repaint without a layout pass (update(..., layout=False)) */
    RunHeader .run-title { width: 42; }
    RunHeader ProgressBar { width: 1fr; }
    RunHeader ProgressBar Bar { width: 1fr; }
    RunHeader .run-rate { width: 22; text-align: right; }
    """

    def compose(self) -> ComposeResult:
        yield Static("no run", classes="run-title")
        yield ProgressBar(total=100, show_eta=False)
        yield Static("", classes="run-rate")

    def on_mount(self) -> None:
        # looked up once: show() runs on every redraw tick
        self._title = self.query_one(".run-title", Static)
        self._bar = self.query_one(ProgressBar)
        self._rate = self.query_one(".run-rate", Static)
        self._shown_title: object = None
        self._shown_rate = ""

    def show(self, state: RunState | None) -> None:
        if state is None:
            return
        epoch = state.latest_epoch
        title = (state.run_id, state.status, epoch)
        if title != self._shown_title:  # an update repaints even when the text is the same
            self._shown_title = title
            self._title.update(Text.assemble(
                (state.run_id, "bold"), " ", (state.status, STATUS_STYLE.get(state.status, "")), f" epoch {epoch}"),
                layout=False)
        progress = round(state.progress() * 100, 1)
        if progress != self._bar.progress:
            self._bar.update(progress=progress)
        rate = f"{state.last_batch.samples_per_second:,.0f}/s " if state.last_batch and state.status == "running" \
            else ""
        rate += eta_text(state)
        if rate != self._shown_rate:
            self._shown_rate = rate
            self._rate.update(rate, layout=False)

