"""Typed run events: frozen dataclasses of plain numbers, strings, lists and dicts (never tensors).

Runs write them to the store as JSON; any process reads them back with :func:`from_record`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    run_id: str


@dataclass(frozen=True)
class RunStarted(Event):
    experiment: str
    params: dict[str, Any]
    device: str
    precision: str
    resumed_from_epoch: int = 0
    budget: float | None = None  # seconds; None: the epochs parameter decides
    # what the budget counts: the whole run (wall) or its training steps (train, which runs recorded before wall
    # budgets existed had)
    budget_kind: str = "train"
    deadline: float | None = None  # a wall budget: when the run has its result (Unix time)


@dataclass(frozen=True)
class DataSummary(Event):
    """What the lab's 'inspect the data' step shows: first rows, statistics, missing values, split sizes."""

    columns: list[str]
    head: list[list[Any]]
    stats: dict[str, dict[str, float]]
    missing: dict[str, int]
    sizes: dict[str, int]
    notes: list[str] = field(default_factory=list)
    # sample images: {"label", "size", "pixels": flat RGB ints of a size x size thumbnail}
    images: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class EpochMetrics(Event):
    epoch: int
    epochs: int  # planned epochs; 0 when the budget decides
    metrics: dict[str, float]
    lr: float
    train_seconds: float
    progress: float  # 0..1 of the planned training (steps or budget)
    step: int = 0  # optimizer steps so far, the x-axis shared with batch metrics


@dataclass(frozen=True)
class BatchMetrics(Event):
    epoch: int
    step: int
    loss: float
    samples_per_second: float
    progress: float
    train_seconds: float = 0.0


@dataclass(frozen=True)
class Phase(Event):
    """What a run is doing between training steps: loading data, measuring speed, evaluating, final evaluation."""

    phase: str


@dataclass(frozen=True)
class Evaluation(Event):
    metrics: dict[str, float]
    tables: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Predictions(Event):
    series: dict[str, list[float]]


@dataclass(frozen=True)
class CheckpointSaved(Event):
    epoch: int
    path: str


@dataclass(frozen=True)
class StatusChanged(Event):
    status: str  # paused | running
    deadline: float | None = None  # running again: a wall budget's end, moved by the time paused (Unix time)


@dataclass(frozen=True)
class RunEnded(Event):
    status: str  # finished | failed | stopped
    metrics: dict[str, float]
    train_seconds: float
    epochs: int
    message: str = ""
    # why, for programs: "download" (failed: the data could not be downloaded); "SIGINT" / "SIGTERM" (stopped by
    # that signal to its process); else ""
    reason: str = ""


@dataclass(frozen=True)
class Progress(Event):
    """A slow stage: a download or a decode of the data, an evaluation ("evaluating", "final evaluation")."""

    stage: str
    done: float
    total: float  # 0 when unknown
    eta: float = -1.0  # seconds left at the pace so far; -1 when unknown


@dataclass(frozen=True)
class LogLine(Event):
    text: str


@dataclass(frozen=True)
class EpochTable(Event):
    """Many epochs' metrics at once, as columns: how a long history is replayed to a viewer (100,000 epochs read as
    events would cost seconds). Never stored; ``nan`` where an epoch did not report a metric."""

    epochs: tuple[int, ...]
    steps: tuple[float, ...]
    metrics: dict[str, tuple[float, ...]]


@dataclass(frozen=True)
class MetricSeries(Event):
    """A run's metrics as plot-ready series, ``{key: (steps, values)}``, and how many stored points of each they
    stand for: how a script's run is replayed to a viewer (decimated where long, spikes and gaps kept) and, with
    ``append``, its points since. Never stored."""

    series: dict[str, tuple[tuple[float, ...], tuple[float, ...]]]
    counts: dict[str, int]
    append: bool = False


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (RunStarted, DataSummary, EpochMetrics, BatchMetrics, Evaluation, Predictions,
                CheckpointSaved, StatusChanged, RunEnded, Progress, LogLine, Phase)
}


def to_record(event: Event) -> tuple[str, dict[str, Any]]:
    """(kind, payload) for storage; the payload omits ``run_id``, which the store keeps in its own column."""
    payload = dataclasses.asdict(event)
    payload.pop("run_id")
    return type(event).__name__, payload


_FIELDS = {kind: frozenset(f.name for f in dataclasses.fields(cls)) for kind, cls in EVENT_TYPES.items()}


def from_record(run_id: str, kind: str, payload: dict[str, Any]) -> Event:
    names = _FIELDS[kind]  # looked up once per kind: a long run's history has 100,000s of records
    if names.issuperset(payload):
        return EVENT_TYPES[kind](run_id=run_id, **payload)
    return EVENT_TYPES[kind](run_id=run_id, **{k: v for k, v in payload.items() if k in names})
