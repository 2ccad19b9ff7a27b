"""labdeck's dashboard: a Textual app over the engine's public API and typed events."""

from __future__ import annotations

if __name__ != "labdeck.tui":  # the repository's tui/ folder imported under its bare name: a second copy
    raise ImportError(f"import labdeck.tui, not {__name__}: the folder tui/ is the package labdeck.tui")
