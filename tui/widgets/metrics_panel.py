"""Latest and final metrics of a run as aligned (metric, value) columns."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from engine.formatting import fmt

NAME, VALUE, GAP = 16, 10, 2


class MetricsPanel(Static):
    """Plain text, not a DataTable: the metrics change every epoch (several times a second for small runs), and a
    DataTable re-renders every cell of every row through Rich on each change, the costliest part of a redraw.
    Rows that do not fit the height flow into a second column pair where the width allows (80x24 terminals)."""

    DEFAULT_CSS = """
    MetricsPanel { width: 30; height: 1fr; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._rows: list[tuple[str, str]] = []
        self._drawn: object = None

    @property
    def rows(self) -> list[tuple[str, str]]:
        """The (metric, formatted value) pairs shown."""
        return list(self._rows)

    def show(self, metrics: dict[str, float]) -> None:
        rows = [(k, fmt(v)) for k, v in metrics.items()]
        if rows != self._rows:
            self._rows = rows
            self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        width, height = self.content_size
        key = (tuple(self._rows), width, height)
        if key == self._drawn:
            return
        self._drawn = key
        per_column = max(1, height - 1)  # under the header line
        pairs = max(1, min((width + GAP) // (NAME + VALUE + GAP), -(-len(self._rows) // per_column)))
        columns = [self._rows[i * per_column:(i + 1) * per_column] for i in range(pairs)]
        header = (" " * GAP).join(f"{'metric':<{NAME}}{'value':>{VALUE}}" for _ in columns)
        text = Text(header, style="bold")
        for r in range(max((len(c) for c in columns), default=0)):
            cells = [f"{c[r][0][:NAME]:<{NAME}}{c[r][1]:>{VALUE}}" if r < len(c) else "" for c in columns]
            text.append("\n" + (" " * GAP).join(cells), style="not bold")
        self.update(text, layout=False)  # a fixed-size box: no relayout of the screen
