"""Experiment-specific result views, by experiment name."""

from .sequence import SequenceResults

RESULTS = {"sequence": SequenceResults}
