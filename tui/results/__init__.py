"""Experiment-specific result views, by experiment name, as import paths: each module is imported when its
view is first mounted (after the first paint), not when the dashboard starts."""

RESULTS = {"sequence": "tui.results.sequence:SequenceResults", "vision": "tui.results.vision:VisionResults",
           "language": "tui.results.language:LanguageResults"}
