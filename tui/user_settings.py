"""The user's settings file applied to the dashboard: its keymap and theme, a theme chosen in the palette kept."""

from __future__ import annotations

from functools import partial

from textual.app import App

from labdeck.engine import paths, settings


class UserSettings:
    def __init__(self, app: App):
        """Read the file and set the keymap (before the first screen is composed, so that its bindings use it)."""
        self.app = app
        self.read = settings.load(paths.settings())
        self.problems = [self.read.problem] if self.read.problem else []
        self.keymap: dict[str, str] = {}
        if self.read.keys:  # checking them imports every pane's module: not before the first paint otherwise
            from .keys import known_keys

            self.keymap, unknown = known_keys(self.read.keys)
            self.problems += [unknown] if unknown else []
            app.set_keymap(self.keymap)

    def apply(self) -> None:
        """Once mounted: the theme, what was wrong in the file (one line each), and keep a theme chosen later."""
        app = self.app
        if self.read.theme in app.available_themes:
            app.theme = self.read.theme
        elif self.read.theme:
            self.problems.append(f"settings: no theme {self.read.theme!r} (see the palette's themes)")
        for problem in self.problems:
            app.notify(problem, severity="warning", timeout=15)
        app.theme_changed_signal.subscribe(app, lambda theme: app.run_worker(
            partial(self._keep, theme.name), thread=True, group="settings", exit_on_error=False))

    def _keep(self, name: str) -> None:
        if problem := settings.save_theme(name, paths.settings()):
            self.app.call_from_thread(self.app.notify, problem, severity="warning")
