"""Small RGB images drawn in the terminal with half blocks (two pixel rows per text row), with captions."""

from __future__ import annotations

from typing import Any

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widgets import Static


def image_rows(pixels: list[int], size: int) -> list[Text]:
    """``size`` x ``size`` RGB pixels (flat) as ``size // 2`` rows of ``size`` cells."""
    rows = []
    for y in range(0, size - 1, 2):
        row = Text()
        for x in range(size):
            top = (y * size + x) * 3
            bottom = ((y + 1) * size + x) * 3
            # Style objects built directly: parsing a style string per pixel made each redraw slow
            row.append("▀", Style(color=Color.from_rgb(*pixels[top: top + 3]),
                                  bgcolor=Color.from_rgb(*pixels[bottom: bottom + 3])))
        rows.append(row)
    return rows


class ImageGrid(Static):
    """Thumbnails in rows that fit the widget's width; each item is {"pixels", "size", "caption", "style"}."""

    DEFAULT_CSS = """
    ImageGrid { height: auto; }
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._items: list[dict[str, Any]] = []

    def show(self, items: list[dict[str, Any]]) -> None:
        self._items = items
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if not self._items:
            self.update("")
            return
        size = self._items[0]["size"]
        cell = size + 2
        per_row = max(1, (self.size.width or 80) // cell)
        out = Text()
        for start in range(0, len(self._items), per_row):
            chunk = self._items[start: start + per_row]
            images = [image_rows(item["pixels"], size) for item in chunk]
            for r in range(size // 2):
                for img in images:
                    out.append_text(img[r])
                    out.append("  ")
                out.append("\n")
            for item in chunk:
                out.append(item["caption"][: cell - 1].ljust(cell), item.get("style", ""))
            out.append("\n")
            for item in chunk:
                out.append(item.get("caption2", "")[: cell - 1].ljust(cell), item.get("style2", "dim"))
            out.append("\n")
        self.update(out)
