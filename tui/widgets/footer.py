"""Textual's Footer without its leak: every recompose (each focus change, tab switch or screen opened) left the old
keys alive in the footer's watcher list (textual issue #6666: ``FooterKey.data_bind(compact=Footer.compact)``
stores each key on the footer, and the list is pruned only when ``compact`` changes, which it never does here).
An idle dashboard switching tabs grew by ~10 MB a minute."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    def compose(self) -> ComposeResult:
        # the keys being replaced are already removed when the footer composes again: drop what watches for them
        for entries in getattr(self, "__watchers", {}).values():
            entries[:] = [(node, callback) for node, callback in entries
                          if node.is_attached and not node._closing]
        yield from super().compose()
