"""labdeck's engine: experiments, the training loop, the run store and the CLI. Never imports the UI.

Importing this package does not import torch; only run processes and prediction do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

if __name__ != "labdeck.engine":  # the repository's engine/ folder imported under its bare name: a second copy
    raise ImportError(f"import labdeck.engine, not {__name__}: the folder engine/ is the package labdeck.engine")

import importlib
from typing import TYPE_CHECKING

from . import registry
from .errors import DataError, DownloadError, LabdeckError, ParamError, RunNotFound, StoreError, one_line
from .status import ACTIVE, STATUSES, Stage, Status

if TYPE_CHECKING:
    from . import events, sweep
    from .experiments.language.experiment import Generator
    from .runs import create, pause, reap, resume, spawn, stop
    from .store import RunInfo, Store, default_home

# The rest loads on first use (PEP 562), so that the dashboard paints its first frame without it: the run store
# and events (dataclasses, sqlite), process control and sweeps (psutil, subprocess) cost ~40 ms to import.
_LAZY = {"events": (".events", None), "sweep": (".sweep", None),
         **{name: (".runs", name) for name in ("create", "pause", "reap", "resume", "spawn", "stop")},
         **{name: (".store", name) for name in ("RunInfo", "Store", "default_home")}}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module, __name__)
    value = value if attr is None else getattr(value, attr)
    globals()[name] = value
    return value


def predict_with(store: Store, run: str, inputs: list[str], **options: Any) -> dict[str, Any]:
    """Use a trained run on new data (sequence: values; vision: image files). Imports torch on first use."""
    from .predict import predict as _predict

    return _predict(store, store.get(run), inputs, **options)


def generator(store: Store, run: str) -> Generator:
    """A language run's text generator (``.stream(prompt, tokens, temperature, top_k, top_p, seed)``)."""
    from .predict import generator as _generator

    return _generator(store, store.get(run))


def write_report(store: Store, target: str, out: str | Path) -> Path:
    """Write a Markdown report (PNG figures, CSV files) of a run or sweep into ``out``; returns report.md's path."""
    from .report import write_report as _write

    return _write(store, target, out)


__all__ = [
    "ACTIVE",
    "STATUSES",
    "DataError",
    "DownloadError",
    "LabdeckError",
    "ParamError",
    "RunInfo",
    "RunNotFound",
    "Stage",
    "Status",
    "Store",
    "StoreError",
    "create",
    "default_home",
    "events",
    "generator",
    "one_line",
    "pause",
    "predict_with",
    "reap",
    "registry",
    "resume",
    "spawn",
    "stop",
    "sweep",
    "write_report",
]
