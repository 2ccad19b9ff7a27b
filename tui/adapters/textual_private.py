"""Textual's private names that labdeck relies on (Textual 8.2).

- ``App._handle_exception``: the one place every error of a handler or worker passes. Quitting, Textual composes
  nothing more, then takes widgets down leaves first: one still mounting finds no children (its on_mount's
  query) or its parent closed. Such an error ends an app that is ending anyway; it is no error to end it with.
  Waits for a public hook for a handler's unhandled error (none in Textual 8.2; no upstream issue found).
- ``DataTable._render_line_in_row`` and ``DataTable._row_locations``: a row's rendered lines are cached keyed on
  where the cursor is, so an arrow key re-rendered every visible row; the cursor's place is passed only to the
  row it is on. Waits for a row cache that ignores the cursor's place on other rows (no upstream issue found).
- ``Input._on_key`` and ``Widget._bindings``: an editor's bound keys run in the order typed, with printable keys,
  instead of as bindings that overtook them in a burst: Textual issue #6605, fixed by its open PR #6631.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.app import App
from textual.coordinate import Coordinate
from textual.css.query import NoMatches
from textual.widget import MountError
from textual.widgets import DataTable, Input

if TYPE_CHECKING:
    from rich.console import RenderableType

_ELSEWHERE = Coordinate(-2, -2)  # no row's (the header row is -1): the cursor is not on this row


class QuietCloseApp(App):
    """An App whose widgets' errors raised while it closes end it quietly."""

    _quitting = False

    def exit(self, result: object = None, return_code: int = 0, message: RenderableType | None = None) -> None:
        self._quitting = True
        super().exit(result, return_code, message)

    @property
    def closing(self) -> bool:
        """Quitting (``exit()`` was called) or being taken down (a test's app closes without ``exit()``)."""
        return self._quitting or not self.is_running

    def _handle_exception(self, error: Exception) -> None:
        if self.closing and isinstance(error, (NoMatches, MountError)):
            return
        super()._handle_exception(error)


class RowCachedTable(DataTable):
    """A DataTable with a row cursor whose rows are re-rendered only when their own look changes."""

    def _render_line_in_row(self, row_key, line_no, base_style, cursor_location, hover_location):
        if self.cursor_type == "row":
            row = self._row_locations.get(row_key)
            row = -1 if row is None else row
            if cursor_location.row != row:
                cursor_location = _ELSEWHERE
            if hover_location.row != row:
                hover_location = _ELSEWHERE
        return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)


class InOrderInput(Input):
    """An Input whose bound keys (backspace, enter, arrows, ...) run from ``_on_key``, in the order typed."""

    async def _on_key(self, event: events.Key) -> None:
        bindings = self._bindings.key_to_bindings.get(event.key)
        if bindings:
            event.stop()
            event.prevent_default()
            self._restart_blink()
            await self.run_action(bindings[0].action)
            return
        await super()._on_key(event)
