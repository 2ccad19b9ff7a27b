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
    """Rows are true classes, columns predicted ones; a cell's background grows with its share of the row."""

    DEFAULT_CSS = """
    ConfusionTable { height: auto; max-height: 24; }
    """

    def __init__(self, **kwargs):
        super().__init__(cursor_type="cell", zebra_stripes=False, **kwargs)
        self._shown: tuple | None = None

    def show(self, confusion: list[list[int]], classes: list[str]) -> None:
        key = (id(confusion), len(classes))
        if key == self._shown:
            return
        self._shown = key
        self.clear(columns=True)
        short = [c[:5] for c in classes]
        self.add_column("true \\ pred", key="_label")
        for j, name in enumerate(short):
            self.add_column(name, key=str(j))
        for i, row in enumerate(confusion):
            total = max(1, sum(row))
            cells = []
            for j, count in enumerate(row):
                share = count / total
                level = int(40 + 180 * share) if count else 0
                colour = f"rgb(0,{level // 2},{level})" if i == j else f"rgb({level},{level // 4},0)"
                cells.append(Text(str(count), style=Style.parse(f"bold white on {colour}") if count else "dim",
                                  justify="right"))
            self.add_row(classes[i][:14], *cells, key=str(i))
