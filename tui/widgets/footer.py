"""Textual's Footer without its leak, recomposed only when what it shows changes.

Every recompose (each focus change, tab switch or screen opened) left the old keys alive in the footer's watcher
list (textual issue #6666: ``FooterKey.data_bind(compact=Footer.compact)`` stores each key on the footer, and the
list is pruned only when ``compact`` changes, which it never does here). An idle dashboard switching tabs grew by
~10 MB a minute. And a tab switch moves the focus several times, each asking for a recompose of the same keys.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    _shown: tuple | None = None  # what the keys on screen were composed from

    def compose(self) -> ComposeResult:
        # the keys being replaced are already removed when the footer composes again: drop what watches for them
        for entries in getattr(self, "__watchers", {}).values():
            entries[:] = [(node, callback) for node, callback in entries
                          if node.is_attached and not node._closing]
        self._shown = self._to_show() if self._bindings_ready else None
        yield from super().compose()

    def _to_show(self) -> tuple:
        """Everything the footer's keys are made of: the bindings shown, enabled or not, and their tooltips."""
        active = self.screen.active_bindings
        shown = tuple((b, enabled, tooltip) for _, b, enabled, tooltip in active.values() if b.show)
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        return shown, palette[1:] if palette else None, self.show_command_palette, self.app.ENABLE_COMMAND_PALETTE

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self.call_after_refresh(self._recompose_if_changed)

    def _recompose_if_changed(self) -> AwaitComplete | None:
        if self.is_attached and self._to_show() != self._shown:
            return self.recompose()
        return None
