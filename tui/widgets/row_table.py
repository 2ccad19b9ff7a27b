"""A DataTable with a row cursor whose rows are re-rendered only when their own look changes."""

from __future__ import annotations

from textual.coordinate import Coordinate
from textual.widgets import DataTable

_ELSEWHERE = Coordinate(-2, -2)  # no row's (the header row is -1): the cursor is not on this row


class RowTable(DataTable):
    """DataTable caches a row's cells keyed on where the cursor is, so an arrow key that scrolls the table
    re-rendered every visible row (tens of ms on a small CPU while a run trains). A row looks the same wherever the
    cursor is, unless the cursor (or the mouse) is on that row; the cache is keyed on that alone."""

    def __init__(self, **kwargs):
        kwargs.setdefault("cursor_type", "row")
        super().__init__(**kwargs)

    def _render_line_in_row(self, row_key, line_no, base_style, cursor_location, hover_location):
        if self.cursor_type == "row":
            row = self._row_locations.get(row_key)
            row = -1 if row is None else row
            if cursor_location.row != row:
                cursor_location = _ELSEWHERE
            if hover_location.row != row:
                hover_location = _ELSEWHERE
        return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
