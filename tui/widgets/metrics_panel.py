"""Latest and final metrics of a run as aligned (metric, value) columns."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from labdeck.engine.formatting import fmt

from .repaint import repaint

NAME, VALUE, GAP = 16, 10, 2
BOLD = Style(bold=True)


class MetricsPanel(Widget):
    """Plain lines, not a DataTable: the metrics change every epoch (several times a second for small runs), and a
    DataTable re-renders every cell of every row through Rich on each change. Only the lines whose text changed are
    repainted. Rows that do not fit the height flow into a second column pair where the width allows (80x24)."""

    DEFAULT_CSS = """
    MetricsPanel { width: 30; height: 1fr; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._rows: list[tuple[str, str]] = []
        self._drawn: object = None
        self._strips: list[Strip] = []

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
        lines = [(" " * GAP).join(f"{'metric':<{NAME}}{'value':>{VALUE}}" for _ in columns)]
        for r in range(max((len(c) for c in columns), default=0)):
            cells = [f"{c[r][0][:NAME]:<{NAME}}{c[r][1]:>{VALUE}}" if r < len(c) else "" for c in columns]
            lines.append((" " * GAP).join(cells))
        old, self._strips = self._strips, [Strip([Segment(line, BOLD if y == 0 else None)]).adjust_cell_length(width)
                                           for y, line in enumerate(lines)]
        repaint(self, old, self._strips)

    def render(self) -> Text:
        """The panel as text (Textual draws it with ``render_line``)."""
        return Text("\n".join(strip.text.rstrip() for strip in self._strips))

    def render_line(self, y: int) -> Strip:
        return self._strips[y] if y < len(self._strips) else Strip.blank(self.content_size.width)
