"""What an experiment provides to the shared training loop.

An experiment declares its hyperparameters once and builds a :class:`Task`: the data, the model and the
optimizer, plus how to compute a batch loss, evaluate, and report at the end. The loop in
:mod:`engine.trainer` does everything else (device, precision, schedule, budget, checkpoints, control).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .device import Plan
from .events import Event
from .spec import Spec, import_object
from .status import Stage


def make_optimizer(name: str, params: Iterable[Any], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def warmup_cosine(progress: float, warmup: float, floor: float = 0.02) -> float:
    """Learning-rate multiplier for training progress in [0, 1]."""
    if warmup > 0 and progress < warmup:
        return max(progress / warmup, 0.01)
    span = max(1e-9, 1.0 - warmup)
    t = min(1.0, (progress - warmup) / span)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


def batch_count(n: int, batch_size: int) -> int:
    """How many batches ``shuffled_batches`` makes of ``n`` samples."""
    count = -(-n // batch_size)
    return count - 1 if count > 1 and n % batch_size == 1 else count


def shuffled_batches(n: int, batch_size: int, seed: int, epoch: int, device: torch.device
                     ) -> Iterator[torch.Tensor]:
    """Index batches of a fresh permutation of ``n`` samples. The order depends on (seed, epoch) only, so a resumed
    run sees the same batches as an uninterrupted one. A last batch of one sample joins the one before it: batch
    normalization cannot train on a single sample."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(n, generator=g).to(device)
    for i in range(batch_count(n, batch_size)):
        last = i == batch_count(n, batch_size) - 1
        yield order[i * batch_size: n if last else (i + 1) * batch_size]


@dataclass
class Context:
    """What an experiment's ``build`` may use."""

    run_id: str
    plan: Plan
    run_dir: Path
    data_dir: Path
    log: Callable[[str], None] = print
    # (stage, done, total) of a slow stage: a download, a decode, an evaluation
    progress: Callable[[str, float, float], None] = lambda stage, done, total: None
    budget: float | None = None  # seconds of training a recipe may plan for, when the run has a budget


class Task:
    """A built experiment, ready for the loop. Subclasses fill in the data and model parts."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    clip: float = 0.0
    warmup: float = 0.05

    def summary(self) -> dict[str, Any]:
        """Fields of :class:`engine.events.DataSummary` (without ``run_id``)."""
        raise NotImplementedError

    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    def batches(self, epoch: int) -> Iterator[Any]:
        raise NotImplementedError

    def loss(self, batch: Any) -> tuple[torch.Tensor, int]:
        """Mean loss of ``batch`` (called under autocast) and the number of samples in it."""
        raise NotImplementedError

    # how much more a final report costs than evaluating every held-out item once (test-time augmentation's views,
    # a forecast, a generated sample): the trainer keeps that much of a budget's time for it
    final_cost: float = 1.2

    def eval_size(self) -> int:
        """How many held-out items (images, windows, tokens) a full evaluation reads."""
        return 0

    def evaluate(self, limit: int | None = None, stage: str = Stage.EVALUATING) -> dict[str, float]:
        """Per-epoch held-out metrics (``test_loss`` and the like), on a fixed, representative ``limit`` of the
        held-out items (all: None); its progress goes to ``ctx.progress(stage, done, total)``."""
        return {}

    def report(self, run_id: str) -> tuple[dict[str, float], list[Event]]:
        """Final metrics on every held-out item, and the evaluation/prediction events of a trained model."""
        return self.evaluate(stage=Stage.FINAL_EVALUATION), []

    def lr_multiplier(self, progress: float) -> float:
        return warmup_cosine(progress, self.warmup)

    def after_step(self, step: int, progress: float) -> None:
        """Called after each optimizer step (weight averaging and the like)."""

    def end_training(self) -> None:
        """Called once when training has run to its end (not after a stop), before the final report."""

    def probe_step(self) -> torch.Tensor:
        """One representative loss for timing precisions (forward only; the caller runs backward)."""
        batch = next(iter(self.batches(0)))
        return self.loss(batch)[0]

    def state(self) -> dict[str, Any]:
        """Extra, non-model state a checkpoint needs for prediction (scalers, vocabularies)."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        pass


class Experiment:
    """An experiment type's training side: how to build a task from validated parameters."""

    spec: Spec

    @staticmethod
    def of(spec: Spec) -> Experiment:
        """The experiment ``spec`` declares (``spec.trainer``), its module imported now (torch with it)."""
        experiment: Experiment = import_object(spec.trainer)()
        return experiment

    @property
    def name(self) -> str:
        return self.spec.name

    def build(self, params: dict[str, Any], ctx: Context) -> Task:
        raise NotImplementedError

    def model_key(self, params: dict[str, Any]) -> str:
        """Identifies the compute shape of a model, for caching the measured precision choice."""
        return self.name


