"""The experiments labdeck ships. Only their torch-free specs are imported here."""

from .language.spec import SPEC as LANGUAGE
from .sequence.spec import SPEC as SEQUENCE
from .vision.spec import SPEC as VISION

SPECS = (VISION, SEQUENCE, LANGUAGE)
