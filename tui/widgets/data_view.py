"""The lab's 'inspect the data' step: first rows, statistics, missing values, split sizes, notes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from labdeck.engine.events import DataSummary
from labdeck.engine.formatting import fmt

from .image_grid import ImageGrid


class DataView(VerticalScroll):
    DEFAULT_CSS = """
    DataView { height: 1fr; }
    DataView DataTable { height: auto; max-height: 14; margin-bottom: 1; }
    DataView .data-notes { margin-bottom: 1; }
    """

    _shown: DataSummary | None = None  # the summary on screen (the same object until another run is shown)

    def compose(self) -> ComposeResult:
        yield Static("No run yet: start one to see its data.", classes="data-notes")
        yield DataTable(id="data-head", zebra_stripes=True, cursor_type="none")
        yield DataTable(id="data-stats", zebra_stripes=True, cursor_type="none")
        yield ImageGrid(id="data-images")

    def show(self, summary: DataSummary | None) -> None:
        if summary is None or summary is self._shown:
            return  # the same data: redrawing it would relayout the screen on every redraw tick
        self._shown = summary
        sizes = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.sizes.items())
        missing = ", ".join(f"{k}: {v}" for k, v in summary.missing.items())
        notes = "\n".join(["[b]Sizes[/] " + sizes, "[b]Missing values[/] " + (missing or "none"),
                           *summary.notes])
        self.query_one(".data-notes", Static).update(notes)
        head = self.query_one("#data-head", DataTable)
        head.clear(columns=True)
        head.add_columns(*summary.columns)
        for row in summary.head:
            head.add_row(*("—" if v is None else fmt(v) for v in row))
        self.query_one("#data-images", ImageGrid).show(
            [{"pixels": im["pixels"], "size": im["size"], "caption": im["label"]} for im in summary.images])
        stats = self.query_one("#data-stats", DataTable)
        stats.clear(columns=True)
        names = list(summary.stats)
        if names:
            stats.add_columns("statistic", *names)
            keys = list(summary.stats[names[0]])
            for key in keys:
                stats.add_row(key, *(fmt(summary.stats[n].get(key, float("nan"))) for n in names))
