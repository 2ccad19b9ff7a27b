"""Widgets mounted after the first paint: Textual's ``Lazy``, safe when the app quits first, and ``LazyImport``,
whose widget's module is also imported only then."""

from __future__ import annotations

from textual import lazy
from textual.widget import MountError, Widget

from labdeck.engine.spec import import_object


class Lazy(lazy.Lazy):
    """Mounts its widget in its place after the first refresh (Textual's ``Lazy`` raised ``MountError`` when the
    app quit before that)."""

    def _make(self) -> Widget:
        return self._replace_widget

    async def mount_composed_widgets(self, widgets: list[Widget]) -> None:
        parent = self.parent
        if not isinstance(parent, Widget):
            return

        async def mount() -> None:
            try:
                await parent.mount(self._make(), after=self)
                await self.remove()
            except MountError:  # the app is closing
                pass

        self.call_after_refresh(mount)


class LazyImport(Lazy):
    """Mounts ``module:Class(**kwargs)`` in its place after the first refresh; the import happens then too."""

    def __init__(self, target: str, **kwargs) -> None:
        super().__init__(Widget())  # a placeholder until mounted
        self._target, self._kwargs = target, kwargs

    def _make(self) -> Widget:
        return import_object(self._target)(**self._kwargs)
