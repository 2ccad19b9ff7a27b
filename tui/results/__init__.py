"""Experiment-specific result views, by experiment name."""

from .sequence import SequenceResults
from .vision import VisionResults

RESULTS = {"sequence": SequenceResults, "vision": VisionResults}
