"""What the dashboard remembers between launches: the tab it was left on."""

from __future__ import annotations

import json

from labdeck.engine import durable, paths


def remembered_tab(tabs: set[str], default: str) -> str:
    """The tab the dashboard showed when it was last left (``default`` the first time, or if it is gone)."""
    try:
        tab = json.loads(paths.state().read_text()).get("tab")
    except (OSError, ValueError, AttributeError):
        tab = None
    return tab if tab in tabs else default


def remember_tab(name: str) -> None:
    try:
        paths.state().parent.mkdir(parents=True, exist_ok=True)
        durable.write_text(paths.state(), json.dumps({"tab": name}))
    except OSError:
        pass  # a read-only state folder: the next launch opens on the first tab
