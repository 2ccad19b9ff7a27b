"""Experiment specs: the torch-free half of an experiment (names, hyperparameters, input checks).

The dashboard builds its forms and validates input from specs without importing torch; the training side
(:class:`engine.experiment.Experiment`) is imported only inside run processes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .accelerators import cuda_devices
from .params import Param, ParamSpec


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    summary: str
    params: ParamSpec
    target: str  # the metric that says how good a run is
    target_mode: str  # "min" or "max"
    trainer: str  # "module:Class" of the Experiment, imported lazily
    # Cross-parameter and data checks that must pass before a run is created (raise ParamError/DataError).
    check: Callable[[dict[str, Any]], None] | None = None
    key_params: tuple[str, ...] = ()  # shown in run tables
    unit: str = "samples"  # what a training rate counts ("img" for 3,100 img/s)
    offline: tuple[str, str] | None = None  # (parameter, value) of data that needs no download
    new_input: str = ""  # what a trained run predicts from, typed by the user: "image" (a path), "text" (a prompt)
    classifies: bool = False  # a classifier: per-class metrics, a confusion matrix, its mistakes

    def resolve(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Validated parameters: defaults, overrides, then the spec's own cross-checks."""
        values = self.params.resolve(overrides)
        if self.check is not None:
            self.check(values)
        return values



def import_object(target: str) -> Any:
    """The object ``"package.module:Name"`` names, importing its module on first use."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def common_params(*, lr: float, batch_size: int, epochs: int, optimizer: str = "adam",
                  optimizers: tuple[str, ...] = ("adam", "adamw", "sgd"), clip: float = 1.0,
                  weight_decay: float = 0.0) -> list[Param]:
    """Parameters every experiment has, with experiment-specific defaults."""
    return [
        Param("epochs", "int", epochs, "training epochs (ignored when --budget is given)", low=1, high=100_000),
        Param("batch_size", "int", batch_size, "samples per optimizer step", low=1, high=65_536),
        Param("lr", "float", lr, "peak learning rate", low=1e-7, high=100.0),
        Param("optimizer", "str", optimizer, "optimizer", choices=optimizers),
        Param("weight_decay", "float", weight_decay, "weight decay", low=0.0, high=1.0),
        Param("clip", "float", clip, "gradient-norm clipping (0 = off)", low=0.0, high=1e6),
        Param("warmup", "float", 0.05, "fraction of training spent warming the learning rate up", low=0.0, high=0.5),
        Param("seed", "int", 0, "random seed (same seed, same data and initial weights)", low=0, high=2**31 - 1),
        Param("precision", "str", "auto", "numeric precision; auto measures bf16 against fp32 on CPU",
              choices=("auto", "fp32", "bf16", "fp16")),
        Param("device", "str", "auto", "auto picks CUDA, then MPS, then CPU; cuda:N picks GPU N",
              choices=("auto", "cpu", "cuda", "mps"), pattern=r"cuda:\d{1,3}", pattern_help="cuda:N",
              local_choices=cuda_devices),
    ]


