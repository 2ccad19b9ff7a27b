"""Look up experiments by name."""

from __future__ import annotations

from .errors import ParamError
from .experiments import SPECS
from .spec import Spec

_BY_NAME = {s.name: s for s in SPECS}


def names() -> list[str]:
    return list(_BY_NAME)


def specs() -> list[Spec]:
    return list(SPECS)


def get(name: str) -> Spec:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ParamError(f"experiment: unknown {name!r} (known: {', '.join(_BY_NAME)})") from None


def is_own(experiment: str) -> bool:
    """Whether runs of ``experiment`` are labdeck's own (trained by its engine, resumable by it); anything else is
    a script's run, logged through ``labdeck.init`` or imported."""
    return experiment in _BY_NAME
