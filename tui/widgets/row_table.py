"""A DataTable with a row cursor whose rows are re-rendered only when their own look changes."""

from __future__ import annotations

from ..adapters.textual_private import RowCachedTable


class RowTable(RowCachedTable):
    """DataTable caches a row's cells keyed on where the cursor is, so an arrow key that scrolls the table
    re-rendered every visible row (tens of ms on a small CPU while a run trains). A row looks the same wherever the
    cursor is, unless the cursor (or the mouse) is on that row; the cache is keyed on that alone."""

    def __init__(self, **kwargs):
        kwargs.setdefault("cursor_type", "row")
        super().__init__(**kwargs)
