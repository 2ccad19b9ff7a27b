"""What the dashboard knows about one run, folded from its events (UI thread only)."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

from labdeck.engine import registry
from labdeck.engine.budget import ONE_TIME
from labdeck.engine.events import (
    BatchMetrics,
    CheckpointSaved,
    DataSummary,
    EpochMetrics,
    EpochTable,
    Evaluation,
    Event,
    MetricSeries,
    Phase,
    Predictions,
    Progress,
    RunEnded,
    RunStarted,
    StatusChanged,
)
from labdeck.engine.formatting import format_event, stage_text
from labdeck.engine.status import Stage, Status

from .history import EpochHistory, SeriesHistory

STATUS_STYLE: dict[str, str] = {
    Status.RUNNING: "green", Status.PAUSED: "yellow", Status.QUEUED: "cyan", Status.FINISHED: "blue",
    Status.FAILED: "red", Status.INTERRUPTED: "red", Status.STOPPED: "yellow"}
MAX_BATCH_POINTS = 4000
MAX_LOG_LINES = 500
RATE_SMOOTHING = 0.3  # weight of the newest rate window: one slow window (another process took the CPU) is damped


@dataclass
class RunState:
    run_id: str
    experiment: str = ""
    params: dict = field(default_factory=dict)
    device: str = ""
    precision: str = ""
    budget: float | None = None  # seconds, when a budget decides instead of the epochs
    deadline: float | None = None  # a wall budget: when the run has its result (Unix time)
    paused_at: float | None = None  # when the run was paused (Unix time): its budget's clock holds meanwhile
    status: str = Status.QUEUED
    phase: str = "starting"  # what the run does now: starting, loading data, training, evaluating, ...
    rate: float | None = None  # training samples a second, smoothed over the batch-log windows
    summary: DataSummary | None = None
    history: EpochHistory | SeriesHistory = field(default_factory=EpochHistory)  # SeriesHistory: a script's
    batches: deque = field(default_factory=lambda: deque(maxlen=MAX_BATCH_POINTS))
    evaluation: Evaluation | None = None
    predictions: Predictions | None = None
    ended: RunEnded | None = None
    last_batch: BatchMetrics | None = None
    log: deque = field(default_factory=lambda: deque(maxlen=MAX_LOG_LINES))
    log_total: int = 0  # lines ever logged (the deque keeps only the last ones)
    version: int = 0  # bumped on every change, so views redraw only when needed
    outline_version: int = 0  # the version of the last change other than new points on the curves
    _smoothed: tuple = field(default_factory=lambda: (None, [], []), repr=False)  # (made from, xs, ys)

    def apply(self, event: Event, log: bool = True) -> None:
        """Fold one event in; ``log=False`` skips its log line (a long history replayed: only its end is kept)."""
        if isinstance(event, RunStarted):
            self.experiment, self.params, self.device = event.experiment, event.params, event.device
            self.precision, self.budget = event.precision, event.budget
            self.deadline = event.deadline
            self.status = Status.RUNNING
            self.phase = Stage.TRAINING
            self.ended = None
            if event.resumed_from_epoch:
                self.history.keep_until(event.resumed_from_epoch)
        elif isinstance(event, MetricSeries):
            if not isinstance(self.history, SeriesHistory):
                self.history = SeriesHistory()
            self.history.load(event)
        elif isinstance(event, DataSummary):
            self.summary = event
        elif isinstance(event, EpochMetrics) and isinstance(self.history, EpochHistory):
            self.phase = Stage.SAVING_CHECKPOINT
            self.history.add(event)
        elif isinstance(event, EpochTable) and isinstance(self.history, EpochHistory):
            self.history.extend(event)
        elif isinstance(event, BatchMetrics):
            self.batches.append((event.step, event.loss))
            self.last_batch = event
            self.phase = Stage.TRAINING
            r = event.samples_per_second
            self.rate = r if self.rate is None else (1 - RATE_SMOOTHING) * self.rate + RATE_SMOOTHING * r
        elif isinstance(event, Phase):
            self.phase = event.phase
        elif isinstance(event, Progress):
            self.phase = f"loading data: {stage_text(event)}" if event.stage in ONE_TIME else stage_text(event)
        elif isinstance(event, CheckpointSaved):
            self.phase = Stage.TRAINING
        elif isinstance(event, Evaluation):
            self.evaluation = event
        elif isinstance(event, Predictions):
            self.predictions = event
        elif isinstance(event, StatusChanged):
            self.status = event.status
            self.deadline = event.deadline if event.deadline is not None else self.deadline
            self.paused_at = time.time() if event.status == Status.PAUSED else None
        elif isinstance(event, RunEnded):
            self.ended = event
            self.status = event.status
        if log and not isinstance(event, (BatchMetrics, CheckpointSaved)):
            line = format_event(event)
            if line:
                self.log.append(line)
                self.log_total += 1
        self.version += 1
        if not isinstance(event, (BatchMetrics, MetricSeries)):
            self.outline_version = self.version

    @property
    def epochs(self):
        """The numbers of the epochs reported, ascending (a script's run has steps, no epochs)."""
        return self.history.epochs if isinstance(self.history, EpochHistory) else ()

    @property
    def latest_epoch(self) -> int:
        """The highest epoch reported, or a script's last step (0 before the first)."""
        return self.history.latest_step

    # -- views of the history --------------------------------------------------------------------
    def series(self, key: str, max_points: int | None = None) -> tuple[list[float], list[float]]:
        """(steps, values) of an epoch metric (copies: the state keeps growing while a plot is built)."""
        return self.history.series(key, max_points)

    def metric_keys(self) -> list[str]:
        return self.history.keys()

    def smoothed_batches(self, alpha: float = 0.5) -> tuple[list[float], list[float]]:
        """Batch losses smoothed in log space: a loss falling through decades is not dragged by its past."""
        made_from = (alpha, len(self.batches), self.batches[-1] if self.batches else None)
        if self._smoothed[0] == made_from:
            return list(self._smoothed[1]), list(self._smoothed[2])
        xs, ys, ema = [], [], None
        for step, loss in self.batches:
            if not loss > 0:
                continue
            log = math.log(loss)
            ema = log if ema is None else (1 - alpha) * ema + alpha * log
            xs.append(float(step))
            ys.append(math.exp(ema))
        self._smoothed = (made_from, xs, ys)
        return list(xs), list(ys)

    def latest_metrics(self) -> dict[str, float]:
        out: dict[str, float] = self.history.latest()
        last = self.history.last
        if last is not None and registry.is_own(self.experiment):  # a script's run logs its own lr, if any
            out["lr"] = last.lr
        if self.ended:
            out.update(self.ended.metrics)
        return out

    def progress(self) -> float:
        last = self.history.last.progress if self.history.last else 0.0
        if self.last_batch:
            last = max(last, self.last_batch.progress)
        return 1.0 if self.status == Status.FINISHED else last

    def train_seconds(self) -> float:
        """Seconds of training so far, from the latest epoch or batch window (a budgeted first epoch too)."""
        spent = self.history.last.train_seconds if self.history.last else 0.0
        return max(spent, self.last_batch.train_seconds) if self.last_batch else spent

    def eta_seconds(self) -> float | None:
        """Training time left: the budget's rest, or the time per unit of progress so far; None when unknown."""
        if self.status not in (Status.RUNNING, Status.PAUSED):
            return None
        if self.deadline is not None:  # a wall budget: the whole run's time left, evaluations and all
            return max(0.0, self.deadline - (self.paused_at or time.time()))  # a pause holds the clock
        spent = self.train_seconds()
        if self.budget:
            return max(0.0, self.budget - spent)
        progress = self.progress()
        return spent * (1 - progress) / progress if progress > 0 else None

    def restart(self, status: str = Status.QUEUED) -> None:
        """A resume or a new start was asked for: show it at once, before the run's process says anything."""
        self.status, self.phase, self.ended = status, "starting", None
        self.version += 1
        self.outline_version = self.version
