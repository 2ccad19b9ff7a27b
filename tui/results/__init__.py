"""Experiment-specific result views, by experiment name, as import paths: each module is imported when its
view is first mounted (after the first paint), not when the dashboard starts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..state import RunState


class ResultsView(Protocol):
    def show(self, state: RunState | None, compared: list[RunState], log: bool) -> None:
        """Draw the run shown and the runs compared with it (``log``: loss axes on a log scale)."""


RESULTS = {"sequence": "labdeck.tui.results.sequence:SequenceResults",
           "vision": "labdeck.tui.results.vision:VisionResults",
           "language": "labdeck.tui.results.language:LanguageResults"}
