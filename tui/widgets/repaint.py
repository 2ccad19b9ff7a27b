"""Repainting only the lines of a widget that changed (a frame's cost grows with its repainted lines)."""

from __future__ import annotations

from textual.geometry import Region
from textual.strip import Strip


def changed_lines(old: list[Strip], new: list[Strip]) -> list[Region] | None:
    """The one-line regions where ``new`` differs from ``old``; None (repaint it all) when the size differs."""
    if len(old) != len(new) or any(a.cell_length != b.cell_length for a, b in zip(old, new)):
        return None
    return [Region(0, y, b.cell_length, 1) for y, (a, b) in enumerate(zip(old, new)) if a != b]


def repaint(widget, old: list[Strip], new: list[Strip]) -> None:
    """Refresh the lines of ``widget`` that differ between ``old`` and ``new`` (all of them on a new size)."""
    lines = changed_lines(old, new)
    if lines is None:
        widget.refresh()
    elif lines:
        widget.refresh(*lines)
