"""Latest and final metrics of a run as a two-column table."""

from __future__ import annotations

from textual.widgets import DataTable

from engine.formatting import fmt


class MetricsPanel(DataTable):
    DEFAULT_CSS = """
    MetricsPanel { width: 30; height: 1fr; }
    """

    def on_mount(self) -> None:
        self.cursor_type = "none"
        # fixed widths: sized from content, a table filled while its tab is hidden could keep its header's width
        self.add_column("metric", key="metric", width=16)
        self.add_column("value", key="value", width=10)

    def show(self, metrics: dict[str, float]) -> None:
        keys = list(metrics)
        if keys == [str(r.value) for r in self.rows]:
            for k, v in metrics.items():  # same rows: update values in place (no relayout)
                self.update_cell(k, "value", fmt(v))
            return
        self.clear()
        for k, v in metrics.items():
            self.add_row(k, fmt(v), key=k)
