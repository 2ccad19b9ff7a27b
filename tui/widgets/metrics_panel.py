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
        self.add_columns("metric", "value")

    def show(self, metrics: dict[str, float]) -> None:
        rows = [(k, fmt(v)) for k, v in metrics.items()]
        if [tuple(self.get_row_at(i)) for i in range(self.row_count)] == rows:
            return
        self.clear()
        for k, v in rows:
            self.add_row(k, v)
