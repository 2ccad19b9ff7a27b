"""How good a run is: its experiment's target metric, and runs ranked by it (best first)."""

from __future__ import annotations

import math
from typing import Any

from . import registry
from .errors import ParamError
from .store import RunInfo


def score(info: RunInfo) -> tuple[str, float | None]:
    """(target metric, its value); the value is None before the run has one, or for an unknown experiment."""
    try:
        spec = registry.get(info.experiment)
    except ParamError:  # a run of an experiment this version does not know
        return "", None
    value = info.metrics.get(spec.target)
    return spec.target, value if isinstance(value, (int, float)) and math.isfinite(value) else None


def _key(info: RunInfo) -> tuple[Any, ...]:
    _, value = score(info)
    if value is None:
        return (1, info.experiment, 0.0)
    sign = -1.0 if registry.get(info.experiment).target_mode == "max" else 1.0
    return (0, info.experiment, sign * value)


def ranked(infos: list[RunInfo]) -> list[RunInfo]:
    """Best first, by each experiment's own target (runs of different experiments are grouped, never mixed);
    runs without a score last."""
    return sorted(infos, key=_key)


def best(infos: list[RunInfo]) -> RunInfo | None:
    """The best scored run of ``infos`` (the runs of one experiment, such as a sweep's trials)."""
    top = ranked(infos)
    return top[0] if top and score(top[0])[1] is not None else None
