"""Staged mounting of the tabs' contents: the frame paints first, then the first tab, then the hidden ones.

Each content's module is imported only when it mounts (``"module:Class"``), so the first paint waits for none
of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.app import App
from textual.css.query import NoMatches
from textual.widget import MountError, Widget
from textual.widgets import TabPane

from labdeck.engine.spec import import_object

MOUNT_GAP_SECONDS = 0.05  # a frame between two hidden tabs' mounts: keys are not held up


class TabContents:
    """The contents of a ``TabbedContent``'s panes, mounted on demand or one by one in the background."""

    def __init__(self, app: App, plan: dict[str, tuple[str, dict]],
                 mounted: Callable[[str, Widget], Awaitable[None] | None]):
        """``plan``: tab id -> ("module:Class", keyword arguments); ``mounted(name, widget)`` runs after each."""
        self.app = app
        self.to_mount = dict(plan)
        self.contents: dict[str, Widget] = {}  # tab name (its id without "tab-") -> its content, once mounted
        self._mounted = mounted

    def get(self, name: str) -> Widget | None:
        return self.contents.get(name)

    @property
    def complete(self) -> bool:
        return not self.to_mount

    async def mount(self, tab_id: str) -> None:
        """Mount a tab's content (importing its module) if it is not mounted yet."""
        if not self.app.is_running:  # closing: Textual takes the widgets down, leaves first
            return
        entry = self.to_mount.pop(tab_id, None)
        if entry is None:
            return
        target, kwargs = entry
        widget: Widget = import_object(target)(**kwargs)
        try:
            await self.app.query_one(f"#{tab_id}", TabPane).mount(widget)
        except (NoMatches, MountError):  # the app is closing
            return
        if not self.app.is_running:  # it began closing while this content mounted
            return
        name = tab_id.removeprefix("tab-")
        self.contents[name] = widget
        result = self._mounted(name, widget)
        if result is not None:
            await result

    async def mount_hidden(self, then: Callable[[], None]) -> None:
        """Mount the rest one at a time, a frame apart; ``then`` runs when all are mounted."""
        if not self.app.is_running:  # a test's app closes without exit(): its timers still fire
            return
        if self.to_mount:
            await self.mount(next(iter(self.to_mount)))
            self.app.set_timer(MOUNT_GAP_SECONDS, lambda: self.mount_hidden(then))
        else:
            then()
