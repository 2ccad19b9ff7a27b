"""Textual's ``TabbedContent``, except that a pane's stale focus message does not bring its tab back; a tab can
carry a mark (an alert about one of its runs) until it is shown."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.content import Content
from textual.widgets import TabbedContent, TabPane


class Tabs(TabbedContent):
    """A widget focused in a pane makes Textual activate that pane, by a message handled later. A tab key pressed
    between the two (a tab's form focused as it mounts, then ``4`` in the dashboard's first second) would be undone:
    here the focus leaves the pane the user left, and a pane's message activates it only while the focus is in it."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._titles: dict[str, Content] = {}  # a marked tab's title without its mark

    def mark(self, pane_id: str) -> None:
        """A red ``!`` after the tab's title until the tab is shown (an alert about one of its runs)."""
        if pane_id == self.active or pane_id in self._titles:
            return
        tab = self.get_tab(pane_id)
        self._titles[pane_id] = tab.label
        tab.label = Content.assemble(tab.label, (" !", "bold $error"))

    @property
    def marked(self) -> list[str]:
        return list(self._titles)

    def watch_active(self, active: str) -> None:
        if not active or not self.is_mounted:
            return
        if (title := self._titles.pop(active, None)) is not None:
            self.get_tab(active).label = title
        focused = self.screen.focused
        if focused is not None and self in focused.ancestors and self.get_pane(active) not in focused.ancestors:
            self.screen.set_focus(None)

    @on(TabPane.Focused)
    def _only_while_focused(self, event: TabPane.Focused) -> None:
        focused = self.screen.focused
        if focused is None or event.tab_pane not in focused.ancestors_with_self:
            event.prevent_default()  # Textual's own handler would activate the pane
            event.stop()


class Pane(TabPane):
    """A tab's pane, filled after the first paint (``mounting``). Until then it is blank: an empty widget draws its
    own name (``TabPane#tab-vision``) otherwise."""

    def render(self) -> str:
        return ""
