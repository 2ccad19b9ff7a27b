"""The app's screens and dialogs; ``view`` makes the views over the whole store that the app opens by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.screen import Screen

    from ..app import LabdeckApp


def view(name: str, app: LabdeckApp) -> Screen[None]:
    """``alerts``, ``gpus``, ``hosts`` or ``reports``, its module imported when first opened."""
    if name == "alerts":
        from .alerts import AlertsView

        return AlertsView(app.model.alerts)
    if name == "gpus":
        from .gpus import GpuView

        return GpuView(app.model, app.links)
    if name == "hosts":
        from .hosts import HostsView

        return HostsView(app.model, app.links)
    from .reports import ReportList

    return ReportList(app.home)
