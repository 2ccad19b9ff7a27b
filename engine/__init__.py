"""labdeck's engine: experiments, the training loop, the run store and the CLI. Never imports the UI.

Importing this package does not import torch; only run processes and prediction do.
"""

from . import events, registry, sweep
from .errors import DataError, LabdeckError, ParamError, RunNotFound, StoreError, one_line
from .runs import create, pause, reap, resume, spawn, stop
from .store import ACTIVE, STATUSES, RunInfo, Store, default_home



def predict_with(store: Store, run: str, inputs: list[str], **options):
    """Use a trained run on new data (sequence: values; vision: image files). Imports torch on first use."""
    from .predict import predict as _predict

    return _predict(store, store.get(run), inputs, **options)


def generator(store: Store, run: str):
    """A language run's text generator (``.stream(prompt, tokens, temperature, top_k, top_p, seed)``)."""
    from .predict import generator as _generator

    return _generator(store, store.get(run))


def write_report(store: Store, target: str, out):
    """Write a Markdown report (PNG figures, CSV files) of a run or sweep into ``out``; returns report.md's path."""
    from .report import write_report as _write

    return _write(store, target, out)


__all__ = ["write_report", "sweep", "predict_with", "generator", "one_line", "events", "registry", "create", "pause", "reap", "resume", "spawn", "stop", "Store", "RunInfo",
           "ACTIVE", "STATUSES", "default_home", "LabdeckError", "ParamError", "DataError", "RunNotFound",
           "StoreError"]
