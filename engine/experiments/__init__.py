"""The experiments labdeck ships. Only their torch-free specs are imported here."""

from .sequence.spec import SPEC as SEQUENCE
from .vision.spec import SPEC as VISION

SPECS = (SEQUENCE, VISION)
