"""The followed run's identity, status and phase, progress bar, rate with its unit and ETA; under them, where it
runs (device, precision) or, for a failed run, why it failed."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Static

from labdeck.engine.formatting import clock
from labdeck.engine.status import Status

from ..state import STATUS_STYLE, RunState


def eta_text(state: RunState) -> str:
    left = state.eta_seconds()
    return "" if left is None else f"ETA {clock(left)}"


def rate_text(state: RunState, unit: str) -> str:
    if state.rate is None or state.status != Status.RUNNING:
        return ""
    return f"{state.rate:,.0f} {unit}/s"


def detail_text(state: RunState, rate: str = "") -> Text:
    """The second line: a failure's reason, or what the run is doing (at ``rate``, where the first line has no
    room for it) and where."""
    if state.status == Status.FAILED:
        reason = state.ended.message if state.ended and state.ended.message else "see the Log view"
        return Text.assemble(("failed: ", "bold red"), (reason, "red"))
    where = state.device.split(" [")[0]  # the reason for the choice is in the Log view
    doing = state.phase if state.status == Status.RUNNING else ""
    if state.status == Status.INTERRUPTED:
        doing = "its process ended without a word: r resumes it from its last checkpoint"
    parts = [p for p in (doing, rate, where) if p]
    return Text(" · ".join(parts), style="dim")


class RunHeader(Vertical):
    DEFAULT_CSS = """
    RunHeader { height: auto; }
    RunHeader > Horizontal { height: 1; }
    /* fixed sizes: text updates repaint without a layout pass (update(..., layout=False)) */
    RunHeader .run-title { width: 42; }
    RunHeader ProgressBar { width: 1fr; }
    RunHeader ProgressBar Bar { width: 1fr; }
    RunHeader .run-rate { width: 26; text-align: right; }
    RunHeader .run-detail { height: 1; padding: 0 0 0 1; }
    /* why a run failed, and what to do about it, is read whole: up to three lines */
    RunHeader .run-detail.-failed { height: auto; max-height: 3; }
    """

    def __init__(self, unit: str = "samples", **kwargs):
        super().__init__(**kwargs)
        self.unit = unit

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("no run yet (s starts one)", classes="run-title")
            yield ProgressBar(total=100, show_eta=False)
            yield Static("", classes="run-rate")
        yield Static("", classes="run-detail")

    def on_mount(self) -> None:
        # looked up once: show() runs on every redraw tick
        self._title = self.query_one(".run-title", Static)
        self._bar = self.query_one(ProgressBar)
        self._rate = self.query_one(".run-rate", Static)
        self._detail = self.query_one(".run-detail", Static)
        self._shown_title: object = None
        self._shown_rate = ""
        self._shown_detail: object = None

    def show(self, state: RunState | None) -> None:
        if state is None:
            return
        epoch = state.latest_epoch
        planned = state.params.get("epochs") if not state.budget else None
        title = (state.run_id, state.status, epoch, planned)
        if title != self._shown_title:  # an update repaints even when the text is the same
            self._shown_title = title
            self._title.update(Text.assemble(
                (state.run_id, "bold"), " ", (state.status, STATUS_STYLE.get(state.status, "")),
                f" ep {epoch}" + (f"/{planned}" if planned else "")), layout=False)
        progress = round(state.progress() * 100, 1)
        if progress != self._bar.progress:
            self._bar.update(progress=progress)
        rate = " ".join(t for t in (rate_text(state, self.unit), eta_text(state)) if t)
        narrow = self._rate.size.width < len(rate)  # 80 columns: the rate and ETA go to the second line, whole
        shown = "" if narrow else rate
        if shown != self._shown_rate:
            self._shown_rate = shown
            self._rate.update(shown, layout=False)
        detail = detail_text(state, rate if narrow else "")
        if detail != self._shown_detail:
            self._shown_detail = detail
            failed = state.status == Status.FAILED
            grows = failed != self._detail.has_class("-failed")
            self._detail.set_class(failed, "-failed")
            self._detail.update(detail, layout=grows)  # a layout only as the reason comes or goes
