"""Experiment-specific result views, by experiment name."""

from .language import LanguageResults
from .sequence import SequenceResults
from .vision import VisionResults

RESULTS = {"sequence": SequenceResults, "vision": VisionResults, "language": LanguageResults}
