"""Experiment-specific result views, by experiment name, as import paths: each module is imported when its
view is first mounted (after the first paint), not when the dashboard starts."""

RESULTS = {"sequence": "labdeck.tui.results.sequence:SequenceResults",
           "vision": "labdeck.tui.results.vision:VisionResults",
           "language": "labdeck.tui.results.language:LanguageResults"}
