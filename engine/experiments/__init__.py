"""The experiments labdeck ships. Only their torch-free specs are imported here."""

from .sequence.spec import SPEC as SEQUENCE

SPECS = (SEQUENCE,)
