"""A Lazy whose widget's module is also imported after the first paint, not at start-up."""

from __future__ import annotations

import importlib

from textual.lazy import Lazy
from textual.widget import Widget


class LazyImport(Lazy):
    """Mounts ``module:Class()`` in its place after the first refresh; the import happens then too."""

    def __init__(self, target: str, **kwargs) -> None:
        super().__init__(Widget())  # a placeholder until mounted
        self._target, self._kwargs = target, kwargs

    async def mount_composed_widgets(self, widgets: list[Widget]) -> None:
        parent = self.parent
        if parent is None:
            return

        async def mount() -> None:
            module, _, name = self._target.partition(":")
            widget = getattr(importlib.import_module(module), name)(**self._kwargs)
            await parent.mount(widget, after=self)
            await self.remove()

        self.call_after_refresh(mount)
