"""Staged mounting of the tabs' contents: the frame paints first, then the first tab, then the hidden ones.

Each content's module is imported only when it mounts (``"module:Class"``), so the first paint waits for none
of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.app import App
from textual.css.query import NoMatches
from textual.widget import MountError, Widget
from textual.widgets import TabbedContent, TabPane

from labdeck.engine.spec import Spec, import_object

from .experiment_pane import ExperimentPane
from .tab_content import TabContent

MOUNT_GAP_SECONDS = 0.05  # a frame between two hidden tabs' mounts: keys are not held up
BACKGROUND_AFTER_SECONDS = 0.2  # the background work starts this long after the first tab is mounted
HIDDEN_TABS_AFTER_SECONDS = 0.6  # the hidden tabs' contents mount this long after it (or when first shown)


def plan(specs: list[Spec], **shared: object) -> dict[str, tuple[str, dict]]:
    """Each tab's content ("module:Class", keyword arguments): a pane per experiment, then Runs and Sweeps."""
    contents = {f"tab-{s.name}": ("labdeck.tui.experiment_pane:ExperimentPane",
                                  {"spec": s, "id": f"pane-{s.name}", **shared}) for s in specs}
    contents["tab-runs"] = ("labdeck.tui.runs_pane:RunsPane", {"id": "pane-runs", **shared})
    contents["tab-sweeps"] = ("labdeck.tui.sweeps_pane:SweepsPane", {"id": "pane-sweeps", **shared})
    return contents


class TabContents:
    """The contents of a ``TabbedContent``'s panes, mounted on demand or one by one in the background."""

    def __init__(self, app: App, plan: dict[str, tuple[str, dict]],
                 mounted: Callable[[str, TabContent], Awaitable[None] | None]):
        """``plan``: tab id -> ("module:Class", keyword arguments); ``mounted(name, widget)`` runs after each."""
        self.app = app
        self.to_mount = dict(plan)
        self.contents: dict[str, Widget] = {}  # tab name (its id without "tab-") -> its content, once mounted
        self.started = False  # the first tab is mounted: the others may mount as soon as they are shown
        self._mounted = mounted

    def get(self, name: str) -> TabContent | None:
        content = self.contents.get(name)
        return content if isinstance(content, TabContent) else None

    def experiment(self, name: str) -> ExperimentPane | None:
        """An experiment's tab content, once mounted (children included)."""
        pane = self.contents.get(name)
        return pane if isinstance(pane, ExperimentPane) else None

    def mounted(self) -> list[TabContent]:
        return [content for content in self.contents.values() if isinstance(content, TabContent)]

    def experiments(self) -> list[ExperimentPane]:
        return [pane for pane in self.contents.values() if isinstance(pane, ExperimentPane)]

    async def start(self, first: str, background: Callable[[], None], then: Callable[[], None]) -> None:
        """The first tab's content, then (a little later: it would hold up the first paint) ``background``, and
        the hidden tabs' contents one at a time; ``then`` when all are mounted."""
        await self.mount(f"tab-{first}")
        self.started = True
        await self.mount(self.app.query_one(TabbedContent).active)  # a tab key came first
        self.app.set_timer(BACKGROUND_AFTER_SECONDS, background)
        self.app.set_timer(HIDDEN_TABS_AFTER_SECONDS, lambda: self.mount_hidden(then))

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
        widget: TabContent = import_object(target)(**kwargs)
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
