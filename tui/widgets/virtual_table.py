"""A table of many rows that draws only the rows on screen: 10,000 runs cost what 40 do.

Textual's DataTable builds and measures every row it holds (1.8 s to show 10,000 rows here, 64 ms an arrow key);
this one holds only the rows' keys, asks its owner for a row's cells when the row comes into view, and keeps the
drawn lines of the rows it has shown. Columns have fixed widths (one takes the rest), some shown only on a wide
enough screen. The header stays on the first line while the rows scroll beneath it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | Text
MAX_CACHED = 400  # drawn rows kept: a few screens' worth


@dataclass(frozen=True)
class Column:
    label: str
    width: int  # cells; 0: whatever the other columns leave
    wide_only: int = 0  # shown only when the table is at least this wide


class VirtualTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {"virtual-table--header", "virtual-table--cursor", "virtual-table--even-row"}
    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        color: $foreground;
        & > .virtual-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .virtual-table--even-row { background: $surface-lighten-1 50%; }
        & > .virtual-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .virtual-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """
    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "move(-1_000_000_000)", "First", show=False),
        Binding("end", "move(1_000_000_000)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    cursor = reactive(0, always_update=True, repaint=False)

    class Highlighted(Message):
        """The cursor is on another row (``key`` None: the table is empty)."""

        def __init__(self, table: VirtualTable, key: str | None) -> None:
            super().__init__()
            self.table, self.key = table, key

        @property
        def control(self) -> VirtualTable:
            return self.table

    class Selected(Message):
        """Enter (or a click on the row under the cursor)."""

        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__()
            self.table, self.key = table, key

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(self, columns: Sequence[Column], cells: Callable[[str], Sequence[Cell]], **kwargs):
        super().__init__(**kwargs)
        self.columns = list(columns)
        self._cells = cells
        self._keys: list[str] = []
        self._index: dict[str, int] = {}
        self._lines: dict[tuple, Strip] = {}

    # -- the owner's side -------------------------------------------------------------------------------------
    @property
    def keys(self) -> list[str]:
        return self._keys

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def cursor_key(self) -> str | None:
        return self._keys[self.cursor] if 0 <= self.cursor < len(self._keys) else None

    def set_rows(self, keys: list[str]) -> None:
        """Show these rows, in this order; the cursor stays on its row if it is still shown."""
        current = self.cursor_key
        self._keys = list(keys)
        self._index = {k: i for i, k in enumerate(self._keys)}
        self._lines.clear()
        self.virtual_size = Size(self.size.width, len(self._keys) + 1)
        self.cursor = self._index.get(current or "", min(self.cursor, max(0, len(self._keys) - 1)))
        self.refresh()

    def changed(self, keys: Sequence[str] | None = None) -> None:
        """These rows' cells changed (all rows: None); they are asked for again when drawn."""
        if keys is None:
            self._lines.clear()
        else:
            wanted = set(keys)
            for line_key in [k for k in self._lines if k[0] in wanted]:
                del self._lines[line_key]
        self.refresh()

    def move_to(self, key: str) -> None:
        if key in self._index:
            self.cursor = self._index[key]

    def cells_of(self, key: str) -> list[str]:
        """The row's cells as plain text (what it shows), for tests and copy."""
        return [c.plain if isinstance(c, Text) else str(c) for c in self._cells(key)]

    # -- cursor and keys ---------------------------------------------------------------------------------------
    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._keys) - 1)) if self._keys else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        if old != new:
            self.refresh()
        self.post_message(self.Highlighted(self, self.cursor_key))

    def _scroll_to_cursor(self) -> None:
        rows = max(1, self.size.height - 1)  # the header takes a line
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows:
            self.scroll_to(y=self.cursor - rows + 1, animate=False, immediate=True)

    def action_move(self, rows: int) -> None:
        self.cursor += rows

    def action_page(self, pages: int) -> None:
        self.cursor += pages * max(1, self.size.height - 2)

    def action_select(self) -> None:
        if (key := self.cursor_key) is not None:
            self.post_message(self.Selected(self, key))

    def on_click(self, event: events.Click) -> None:
        row = round(self.scroll_offset.y) + event.y - 1
        if event.y >= 1 and 0 <= row < len(self._keys):
            if row == self.cursor and event.chain > 1:
                self.action_select()
            self.cursor = row

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self._keys) + 1)
        self._lines.clear()
        self._scroll_to_cursor()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()  # the theme's colours are in the drawn lines

    def on_focus(self) -> None:
        self._lines.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._lines.clear()
        self.refresh()

    # -- drawing -----------------------------------------------------------------------------------------------
    def _widths(self, total: int) -> list[int]:
        """Each column's width at this table width (0: not shown); one cell of space between columns."""
        shown = [c for c in self.columns if total >= c.wide_only]
        fixed = sum(c.width + 1 for c in shown if c.width)
        rest = max(4, total - fixed - sum(1 for c in shown if not c.width))
        return [0 if total < c.wide_only else (c.width or rest) for c in self.columns]

    def _strip(self, cells: Sequence[Cell], widths: list[int], style: Style) -> Strip:
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        for cell, width in zip(cells, widths):
            if not width:
                continue
            text = cell.copy() if isinstance(cell, Text) else Text(str(cell))
            text.truncate(width, overflow="ellipsis", pad=True)
            line.append_text(text)
            line.append(" ")
        segments = list(line.render(self.app.console))
        width = self.scrollable_content_region.width
        return Strip(Segment.apply_style(segments, style)).adjust_cell_length(width, style)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width  # the vertical scrollbar takes its own cells
        widths = self._widths(width)
        if y == 0:
            style = self.get_component_rich_style("virtual-table--header")
            return self._strip([c.label for c in self.columns], widths, style)
        row = round(self.scroll_offset.y) + y - 1
        if row >= len(self._keys):
            return Strip.blank(width, self.rich_style)
        key = self._keys[row]
        where = "cursor" if row == self.cursor else "even" if row % 2 else "odd"
        line_key = (key, where, width)
        strip = self._lines.get(line_key)
        if strip is None:
            base = self.rich_style
            if where == "cursor":
                base += self.get_component_rich_style("virtual-table--cursor")
            elif where == "even":
                base += self.get_component_rich_style("virtual-table--even-row")
            strip = self._strip(self._cells(key), widths, base)
            if len(self._lines) >= MAX_CACHED:
                self._lines.clear()
            self._lines[line_key] = strip
        return strip
