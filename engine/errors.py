"""Errors that carry a one-line message meant for the user (CLI and dashboard print them as-is)."""


class LabdeckError(Exception):
    """Base class: ``str(err)`` is a complete, single-line explanation."""


class ParamError(LabdeckError):
    """A hyperparameter value (or a combination of them) is not allowed."""


class DataError(LabdeckError):
    """Input data is missing, unreadable or unsuitable."""


class DownloadError(DataError):
    """A dataset could not be downloaded (offline?); the experiment's offline data needs none."""


class RunNotFound(LabdeckError):
    """No run with that id in the store."""


class RunBusy(LabdeckError):
    """Another live process already trains that run."""


class Diverged(LabdeckError):
    """The training loss became NaN or infinite: the run cannot recover."""


class StoreError(LabdeckError):
    """The run store cannot be opened or written."""


class StoreMissing(StoreError):
    """A command that only reads was pointed at a home without a store."""


def one_line(exc: BaseException) -> str:
    """A one-line message for any exception: the text of labdeck's own errors, else the type and first line."""
    if isinstance(exc, LabdeckError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
