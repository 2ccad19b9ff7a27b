"""The key bar at the bottom: the keys the focused widget and its screen offer, drawn as one line of text.

Textual's Footer is a widget per key: each tab switch (the keys change) removed and mounted them and laid out the
screen again, ~50 ms of a 2-core machine per switch, and it kept the old keys alive (textual issue #6666). This
bar repaints one line. Where the keys do not fit, the ones named ``ALWAYS`` (help and quit) stay and the others
are dropped from the end; a click on a key presses it.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

ALWAYS = ("app.help", "app.quit")  # binding ids kept on screen however narrow the terminal


class Footer(Widget):
    COMPONENT_CLASSES = {"footer--key", "footer--description", "footer--disabled"}
    DEFAULT_CSS = """
    Footer {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .footer--key { color: $footer-key-foreground; background: $footer-key-background; text-style: bold; }
        & > .footer--description {
            color: $footer-description-foreground; background: $footer-description-background;
        }
        & > .footer--disabled { text-style: dim; }
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._shown: tuple = ()  # (key, description, enabled, binding) of each key drawn, left to right
        self._spans: list[tuple[int, int, str]] = []  # (first cell, last cell + 1, key) of each key drawn

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        actions: set[str] = set()
        entries = []
        for _, b, enabled, _ in screen.active_bindings.values():
            if b.show and b.action not in actions:  # one entry per action: "escape,q" or "+" and "=" are one key
                actions.add(b.action)
                entries.append((self.app.get_key_display(b), b.description, enabled, b))
        shown = tuple(entries)
        if shown != self._shown:
            self._shown = shown
            self.refresh()

    @property
    def keys(self) -> list[str]:
        """The keys as drawn, e.g. ``["space", "o", "?", "q"]`` (tests, help)."""
        return [key for _, _, key in self._spans]

    def _palette(self) -> str:
        binding = self.app.COMMAND_PALETTE_BINDING
        return f"{self.app.get_key_display(Binding(binding, 'command_palette'))} palette" \
            if self.app.ENABLE_COMMAND_PALETTE else ""

    def render(self) -> Text:
        width = self.size.width
        palette = self._palette()
        room = width - (len(palette) + 3 if palette else 0)
        kept = list(self._shown)

        def cells(entries) -> int:
            return sum(len(k) + len(d) + 3 for k, d, _, _ in entries)

        while kept and cells(kept) > room:  # drop from the end, but never help and quit
            droppable = [i for i, (_, _, _, b) in enumerate(kept) if b.id not in ALWAYS]
            if not droppable:
                break
            del kept[droppable[-1]]
        key_style = self.get_component_rich_style("footer--key")
        text_style = self.get_component_rich_style("footer--description")
        dim = self.get_component_rich_style("footer--disabled")
        line = Text(no_wrap=True, overflow="crop", end="")
        self._spans = []
        for key, description, enabled, binding in kept:
            start = line.cell_len
            line.append(f" {key} ", key_style + (Style.null() if enabled else dim))
            line.append(f"{description} ", text_style + (Style.null() if enabled else dim))
            self._spans.append((start, line.cell_len, binding.key.split(",")[0]))
        if palette:
            line.append(" " * max(1, width - line.cell_len - len(palette) - 2))
            line.append("▏", text_style)
            line.append(palette + " ", text_style)
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
