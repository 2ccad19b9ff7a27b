"""Errors that carry a one-line message meant for the user (CLI and dashboard print them as-is)."""


class LabdeckError(Exception):
    """Base class: ``str(err)`` is a complete, single-line explanation."""


class ParamError(LabdeckError):
    """A hyperparameter value (or a combination of them) is not allowed."""


class DataError(LabdeckError):
    """Input data is missing, unreadable or unsuitable."""


class RunNotFound(LabdeckError):
    """No run with that id in the store."""


class StoreError(LabdeckError):
    """The run store cannot be opened or written."""
