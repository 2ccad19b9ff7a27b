"""Vision results: accuracy curves, per-class metrics, the confusion matrix, test images with their predicted
labels, and prediction on an image file the user names."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Checkbox, DataTable, Input, Static

from labdeck.engine.formatting import fmt

from ..history import PLOT_POINTS
from ..state import RunState

if TYPE_CHECKING:
    from ..app import LabdeckApp
from ..widgets.confusion import ConfusionTable, most_confused
from ..widgets.image_grid import ImageGrid
from ..widgets.line_plot import Line, LinePlot
from ..widgets.row_table import RowTable


class Predicted(Message):
    def __init__(self, text: str, error: bool = False):
        super().__init__()
        self.text, self.error = text, error


class VisionResults(VerticalScroll):
    DEFAULT_CSS = """
    VisionResults { height: 1fr; }
    VisionResults .vision-top { height: 14; }
    VisionResults #vision-acc { width: 1fr; }
    VisionResults #vision-classes { width: auto; max-width: 60; height: 14; }
    .-narrow VisionResults #vision-acc { display: none; }  /* accuracy is on the metrics panel: the table's room */
    .-narrow VisionResults #vision-classes { width: 1fr; max-width: 100%; }
    VisionResults ConfusionTable { width: 1fr; margin-top: 1; }
    VisionResults #vision-pairs { height: auto; padding: 0 1; margin-top: 1; }
    VisionResults .vision-bar { height: 3; margin-top: 1; }
    VisionResults #vision-path { width: 1fr; }
    VisionResults #vision-predicted { height: auto; padding: 0 1; }
    VisionResults #vision-grid { margin-top: 1; }
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._evaluation = None
        self._narrow = False  # the per-class table was drawn for a narrow view
        self._run_id: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="vision-top"):
            yield LinePlot("test accuracy", "step", id="vision-acc")
            yield RowTable(id="vision-classes", zebra_stripes=True)
        yield ConfusionTable(id="vision-confusion")
        yield Static("The confusion matrix appears when a run ends.", id="vision-pairs")
        with Horizontal(classes="vision-bar"):
            yield Checkbox("mistakes only", id="vision-mistakes")
            yield Input(placeholder="an image file to classify, then Enter (i: here)", id="vision-path")
        yield Static("", id="vision-predicted")
        yield ImageGrid(id="vision-grid")

    def focus_input(self) -> None:
        self.query_one("#vision-path", Input).focus()

    def toggle_mistakes(self) -> None:
        box = self.query_one("#vision-mistakes", Checkbox)
        box.value = not box.value

    def forget(self) -> None:
        """Another run is shown: a prediction made with the one before is not its."""
        self.query_one("#vision-predicted", Static).update("")

    def show(self, state: RunState | None, compared: list[RunState], log: bool) -> None:
        lines = []
        for run in ([state] if state is not None else []) + [r for r in compared if r is not state]:
            xs, ys = run.series("test_accuracy", PLOT_POINTS)
            if xs:
                lines.append(Line(run.run_id[-4:] if run is not state else "test accuracy", xs, ys))
        self.query_one("#vision-acc", LinePlot).show(lines)
        self._run_id = state.run_id if state is not None else None
        evaluation = state.evaluation if state is not None else None
        if evaluation is not self._evaluation:
            self._evaluation = evaluation
            self._show_evaluation()

    def _show_evaluation(self) -> None:
        ev = self._evaluation
        table = self.query_one("#vision-classes", DataTable)
        table.clear(columns=True)
        if ev is None or "confusion" not in ev.tables:
            self.query_one("#vision-grid", ImageGrid).show([])
            return
        t = ev.tables
        classes, per = t["classes"], t["per_class"]
        self._narrow = self._is_narrow()
        # at 80 columns "precision" would push "support" out of sight: the short name there
        table.add_columns("class", "prec" if self._narrow else "precision", "recall", "F1", "support")
        for i, name in enumerate(classes):
            table.add_row(name, fmt(per["precision"][i]), fmt(per["recall"][i]), fmt(per["f1"][i]),
                          str(per["support"][i]))
        self.query_one(ConfusionTable).show(t["confusion"], classes)
        pairs = most_confused(t["confusion"], classes)
        text = Text("Most confused (true → predicted): ", style="bold")
        text.append(",  ".join(f"{true} → {pred} {count}" for true, pred, count in pairs) or "no mistakes")
        self.query_one("#vision-pairs", Static).update(text)
        self._show_grid()

    NARROW = 60  # columns of the results below which the per-class table takes short headers

    def _is_narrow(self) -> bool:
        return 0 < self.size.width < self.NARROW

    def on_resize(self) -> None:
        if self._evaluation is not None and self._is_narrow() != self._narrow:
            self._show_evaluation()

    def _show_grid(self) -> None:
        ev = self._evaluation
        if ev is None or "grid" not in ev.tables:
            return
        classes = ev.tables["classes"]
        mistakes = self.query_one("#vision-mistakes", Checkbox).value
        items = []
        for g in ev.tables["grid"]:
            wrong = g["pred"] != g["true"]
            if mistakes and not wrong:
                continue
            items.append({"pixels": g["pixels"], "size": 16, "caption": classes[g["pred"]],
                          "style": "bold red" if wrong else "green",
                          "caption2": f"({classes[g['true']]})" if wrong else f"{g['confidence']:.0%}"})
        self.query_one("#vision-grid", ImageGrid).show(items)

    @on(Checkbox.Changed, "#vision-mistakes")
    def _mistakes(self) -> None:
        self._show_grid()

    @on(Input.Submitted, "#vision-path")
    def _predict(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path:
            return
        if self._run_id is None:
            self._show_prediction(Predicted("no run to predict with: start or open a Vision run", error=True))
            return
        self.query_one("#vision-predicted", Static).update(f"classifying {path} …")
        self._classify(cast("LabdeckApp", self.app).home, self._run_id, path)

    @work(thread=True, group="predict", exclusive=True, exit_on_error=False)
    def _classify(self, home, run_id: str, path: str) -> None:
        from labdeck import engine

        try:
            if (link := cast("LabdeckApp", self.app).links.of(run_id)) is not None:
                result, on = self._classify_there(link, run_id, path), f" (on {link.host.name})"
            else:
                result, on = engine.predict_with(engine.Store(home), run_id, [path]), ""
        except Exception as exc:
            self.post_message(Predicted(engine.one_line(exc), error=True))
            return
        top = result["images"][0]["top"]
        text = f"{path}{on}: " + ", ".join(f"{t['class']} {t['probability']:.1%}" for t in top)
        self.post_message(Predicted(text))

    @staticmethod
    def _classify_there(link, run_id: str, path: str) -> dict:
        """A host's run: this machine's image, sent to be classified by the model on the host."""
        import base64
        from pathlib import Path

        from labdeck.engine import DataError
        from labdeck.engine.hosts import split
        from labdeck.engine.serve import IMAGE_BYTES

        file = Path(path).expanduser()
        try:
            if file.stat().st_size > IMAGE_BYTES:
                raise DataError(f"{path}: over {IMAGE_BYTES >> 20} MB, more than a host is sent to classify")
            data = file.read_bytes()
        except OSError as exc:
            raise DataError(f"{path}: {exc.strerror or exc}") from None
        return link.call("classify", timeout=120, run=split(run_id)[1], name=file.name,
                         data=base64.b64encode(data).decode())

    @on(Predicted)
    def _show_prediction(self, message: Predicted) -> None:
        self.query_one("#vision-predicted", Static).update(Text(message.text,
                                                                style="bold red" if message.error else "bold"))
