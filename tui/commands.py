"""The command palette's entries: every bound action (``keys.palette_entries``), run as its key would run it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode
from textual.markup import escape

from .keys import palette_entries

if TYPE_CHECKING:
    from .app import LabdeckApp


class LabdeckCommands(Provider):
    def commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        """(name, help, callback) of each entry."""
        app = cast("LabdeckApp", self.app)

        def shown(b: Binding) -> str:
            keys = app.settings.keymap.get(b.id or "")
            return app.get_key_display(replace(b, key=keys, key_display=None) if keys else b)

        def act(action: str) -> Callable[[], object]:
            # As its key would: the first of the focused widget and its ancestors (up to the app) that has the
            # action; a pane's own actions (start, presets) reach the pane shown.
            name = action.partition("(")[0]

            async def run() -> None:
                node: DOMNode | None = app.screen.focused
                while node is not None and not hasattr(node, f"action_{name}"):
                    node = node.parent
                if node is None and not hasattr(app, f"action_{name}"):
                    app.notify("not here: open a tab where it applies", severity="warning")
                    return
                await app.run_action(action, node or app)

            return run

        # the palette reads help as markup: a key such as "/" or "[" in it is text
        return [(name, escape(about), act(action)) for name, about, action in palette_entries(shown)]

    async def discover(self) -> Hits:
        for name, help_text, callback in self.commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
