"""A confusion matrix as a colour-scaled, navigable table, and the list of the most confused class pairs."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable


def most_confused(confusion: list[list[int]], classes: list[str], n: int = 10) -> list[tuple[str, str, int]]:
    """The largest off-diagonal counts: (true class, predicted class, count)."""
    pairs = [(confusion[i][j], i, j) for i in range(len(confusion)) for j in range(len(confusion))
             if i != j and confusion[i][j]]
    pairs.sort(reverse=True)
    return [(classes[i], classes[j], c) for c, i, j in pairs[:n]]


class ConfusionTable(DataTable):
    """Rows are true classes, columns predicted ones; a cell's background grows with its share of the row.

    Where the counts do not fit the width (ten classes of 1,000 test images at 80 columns), the cells show each
    count's share of its row in percent, under three-letter labels, so every column stays in view; the arrow keys
    still move through the cells."""

    DEFAULT_CSS = """
    ConfusionTable { height: auto; max-height: 24; }
    """
    LABEL = 10  # characters of a class name in the row labels

    def __init__(self, **kwargs):
        super().__init__(cursor_type="cell", zebra_stripes=False, **kwargs)
        self._matrix: tuple[list[list[int]], list[str]] | None = None
        self._shown: tuple | None = None

    @property
    def percent(self) -> bool:
        """Whether the cells show shares of their rows (the counts would not fit)."""
        return bool(self._shown and self._shown[2])

    def show(self, confusion: list[list[int]], classes: list[str]) -> None:
        self._matrix = (confusion, classes)
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _fits(self, confusion: list[list[int]], classes: list[str]) -> bool:
        widest = max((len(str(c)) for row in confusion for c in row), default=1)
        needed = min(self.LABEL, max(map(len, classes), default=4)) + 2 + len(classes) * (max(widest, 4) + 2)
        return not self.size.width or needed <= self.size.width

    def _draw(self) -> None:
        if self._matrix is None:
            return
        confusion, classes = self._matrix
        percent = not self._fits(confusion, classes)
        key = (id(confusion), len(classes), percent)
        if key == self._shown:
            return
        self._shown = key
        self.clear(columns=True)
        self.cell_padding = 0 if percent else 1
        short = [c[:2] if percent else c[:4] for c in classes]  # by position: the row labels say the name
        self.add_column("%row" if percent else "true \\ pred", key="_label")
        for j, name in enumerate(short):
            self.add_column(name.rjust(3) if percent else name, key=str(j))
        for i, row in enumerate(confusion):
            total = max(1, sum(row))
            cells = []
            for j, count in enumerate(row):
                share = count / total
                level = int(40 + 180 * share) if count else 0
                colour = f"rgb(0,{level // 2},{level})" if i == j else f"rgb({level},{level // 4},0)"
                shown = f"{round(100 * share):3d}" if percent else str(count)
                cells.append(Text(shown, style=Style.parse(f"bold white on {colour}") if count else "dim",
                                  justify="right"))
            self.add_row(classes[i][:5 if percent else self.LABEL], *cells, key=str(i))
