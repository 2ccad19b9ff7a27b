"""What the dashboard knows about one run, folded from its events (UI thread only)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from engine.events import (BatchMetrics, CheckpointSaved, DataSummary, EpochMetrics, Evaluation, Event,
                           Predictions, RunEnded, RunStarted, StatusChanged)
from engine.formatting import format_event

STATUS_STYLE = {"running": "green", "paused": "yellow", "queued": "cyan", "finished": "blue",
                "failed": "red", "interrupted": "red", "stopped": "yellow"}
MAX_BATCH_POINTS = 4000
MAX_LOG_LINES = 500


@dataclass
class RunState:
    run_id: str
    experiment: str = ""
    params: dict = field(default_factory=dict)
    device: str = ""
    status: str = "queued"
    summary: DataSummary | None = None
    epochs: dict[int, EpochMetrics] = field(default_factory=dict)
    batches: deque = field(default_factory=lambda: deque(maxlen=MAX_BATCH_POINTS))
    evaluation: Evaluation | None = None
    predictions: Predictions | None = None
    ended: RunEnded | None = None
    last_batch: BatchMetrics | None = None
    log: deque = field(default_factory=lambda: deque(maxlen=MAX_LOG_LINES))
    log_total: int = 0  # lines ever logged (the deque keeps only the last ones)
    version: int = 0  # bumped on every change, so views redraw only when needed

    def apply(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.experiment, self.params, self.device = event.experiment, event.params, event.device
            self.status = "running"
            self.ended = None
            if event.resumed_from_epoch:
                self.epochs = {e: m for e, m in self.epochs.items() if e <= event.resumed_from_epoch}
        elif isinstance(event, DataSummary):
            self.summary = event
        elif isinstance(event, EpochMetrics):
            self.epochs[event.epoch] = event
        elif isinstance(event, BatchMetrics):
            self.batches.append((event.step, event.loss))
            self.last_batch = event
        elif isinstance(event, Evaluation):
            self.evaluation = event
        elif isinstance(event, Predictions):
            self.predictions = event
        elif isinstance(event, StatusChanged):
            self.status = event.status
        elif isinstance(event, RunEnded):
            self.ended = event
            self.status = event.status
        if not isinstance(event, (BatchMetrics, CheckpointSaved)):
            line = format_event(event)
            if line:
                self.log.append(line)
                self.log_total += 1
        self.version += 1

    # -- views of the history --------------------------------------------------------------------
    def epoch_list(self) -> list[EpochMetrics]:
        return [self.epochs[e] for e in sorted(self.epochs)]

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """(steps, values) of an epoch metric."""
        xs, ys = [], []
        for m in self.epoch_list():
            if key in m.metrics:
                xs.append(float(m.step))
                ys.append(float(m.metrics[key]))
        return xs, ys

    def metric_keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for m in self.epoch_list():
            keys.update(dict.fromkeys(m.metrics))
        return list(keys)

    def smoothed_batches(self, alpha: float = 0.5) -> tuple[list[float], list[float]]:
        """Batch losses smoothed in log space: a loss falling through decades is not dragged by its past."""
        xs, ys, ema = [], [], None
        for step, loss in self.batches:
            if not loss > 0:
                continue
            log = math.log(loss)
            ema = log if ema is None else (1 - alpha) * ema + alpha * log
            xs.append(float(step))
            ys.append(math.exp(ema))
        return xs, ys

    def latest_metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        epochs = self.epoch_list()
        if epochs:
            out.update(epochs[-1].metrics)
            out["lr"] = epochs[-1].lr
        if self.ended:
            out.update(self.ended.metrics)
        return out

    def progress(self) -> float:
        last = self.epoch_list()[-1].progress if self.epochs else 0.0
        if self.last_batch:
            last = max(last, self.last_batch.progress)
        return 1.0 if self.status == "finished" else last

    def train_seconds(self) -> float:
        return self.epoch_list()[-1].train_seconds if self.epochs else 0.0
