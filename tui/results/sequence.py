"""Sequence results: true vs predicted vs forecast values, and the gradient reach per time step."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from ..state import RunState
from ..widgets.line_plot import Line, LinePlot


class SequenceResults(Vertical):
    DEFAULT_CSS = """
    SequenceResults { height: 1fr; }
    SequenceResults LinePlot { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield LinePlot("true / one-step predicted / free-running forecast", "t (0 = start of the test part)",
                       id="seq-waves")
        yield LinePlot("|d loss / d x_t| per time step", "time step in window", id="seq-grads")

    def show(self, state: RunState | None, compared: list[RunState], log: bool) -> None:
        waves, grads = [], []
        if state is not None and state.predictions is not None:
            s = state.predictions.series
            # Zoom on where it matters: the end of the training part, then the forecast region.
            shown = min(len(s["true"]), len(s["forecast"]) + 50)
            tail = s["train_tail"][-50:]
            xs = [float(i) for i in range(shown)]
            # drawn in this order so that "true" lies on top and any disagreement shows around it
            waves = [Line("forecast", xs[: len(s["forecast"])], s["forecast"][:shown]),
                     Line("predicted", xs, s["predicted"][:shown]),
                     Line("train (end)", [float(i - len(tail)) for i in range(len(tail))], tail),
                     Line("true", xs, s["true"][:shown])]
        for run in ([state] if state is not None else []) + [r for r in compared if r is not state]:
            if run.evaluation is not None and "grad_norms" in run.evaluation.tables:
                g = run.evaluation.tables["grad_norms"]
                label = f"{run.evaluation.tables.get('cell', '?')} {run.run_id[-4:]}"
                grads.append(Line(label, [float(i) for i in range(len(g))], g))
        self.query_one("#seq-waves", LinePlot).show(waves)
        self.query_one("#seq-grads", LinePlot).show(grads, log=True)
