"""Latest and final metrics of a run as aligned (metric, value) columns."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from engine.formatting import fmt

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
        self._lines: list[str] = []

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
        resized = self._drawn is None or self._drawn[1:] != (width, height)
        self._drawn = key
        per_column = max(1, height - 1)  # under the header line
        pairs = max(1, min((width + GAP) // (NAME + VALUE + GAP), -(-len(self._rows) // per_column)))
        columns = [self._rows[i * per_column:(i + 1) * per_column] for i in range(pairs)]
        lines = [(" " * GAP).join(f"{'metric':<{NAME}}{'value':>{VALUE}}" for _ in columns)]
        for r in range(max((len(c) for c in columns), default=0)):
            cells = [f"{c[r][0][:NAME]:<{NAME}}{c[r][1]:>{VALUE}}" if r < len(c) else "" for c in columns]
            lines.append((" " * GAP).join(cells))
        old, self._lines = self._lines, lines
        if resized:
            self.refresh()
        else:
            changed = [y for y in range(max(len(old), len(lines)))
                       if (old[y] if y < len(old) else None) != (lines[y] if y < len(lines) else None)]
            if changed:
                self.refresh(*(Region(0, y, width, 1) for y in changed))

    def render(self) -> Text:
        """The panel as text (Textual draws it with ``render_line``)."""
        return Text("\n".join(self._lines))

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if y >= len(self._lines):
            return Strip.blank(width)
        return Strip([Segment(self._lines[y], BOLD if y == 0 else None)]).adjust_cell_length(width)
