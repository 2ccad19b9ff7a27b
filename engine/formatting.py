"""Readable one-line renderings of run events, shared by the CLI and the dashboard's log."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from .budget import ONE_TIME
from .events import (
    BatchMetrics,
    DataSummary,
    EpochMetrics,
    Event,
    LogLine,
    Phase,
    Progress,
    RunEnded,
    RunStarted,
    StatusChanged,
)
from .status import Status

if TYPE_CHECKING:
    from .store import RunInfo


def fmt(v: Any) -> str:
    """A value as every view writes it: 4 significant digits, booleans as the form writes them, nothing as -."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return str(v)


def stage_text(event: Progress) -> str:
    """A slow stage's progress: ``evaluating 3,000/10,000 (30%), 0:04 left``."""
    if event.stage == "download":
        done = f"{event.done / 1e6:.1f}" + (f" of {event.total / 1e6:.1f} MB" if event.total else " MB")
        stage = "downloading"
    else:
        done = f"{event.done:,.0f}/{event.total:,.0f}" if event.total else f"{event.done:,.0f}"
        stage = event.stage
    share = f" ({event.done / event.total:.0%})" if event.total else ""
    left = f", {clock(event.eta)} left" if event.eta >= 0 and event.total and event.done < event.total else ""
    return f"{stage} {done}{share}{left}"


def clock(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def progress_line(event: Progress) -> str:
    return f"  {stage_text(event)}"


def format_event(event: Event, tty: bool = False) -> str | None:
    """A readable progress line for ``event`` (None for events not worth a line)."""
    if isinstance(event, RunStarted):
        how = f" (resumed after epoch {event.resumed_from_epoch})" if event.resumed_from_epoch else ""
        return f"run {event.run_id}: {event.experiment} on {event.device}{how}"
    if isinstance(event, DataSummary):
        sizes = ", ".join(f"{k} {v}" for k, v in event.sizes.items())
        return "data: " + sizes + ("; " + "; ".join(event.notes) if event.notes else "")
    if isinstance(event, EpochMetrics):
        total = f"/{event.epochs}" if event.epochs else ""
        metrics = "  ".join(f"{k} {fmt(v)}" for k, v in event.metrics.items())
        return (f"epoch {event.epoch}{total}  {metrics}  lr {event.lr:.3g}  {event.train_seconds:.1f}s "
                f"({event.progress:.0%})")
    if isinstance(event, BatchMetrics):
        if not tty:
            return None
        return f"  step {event.step}  loss {event.loss:.4g}  {event.samples_per_second:.0f}/s  {event.progress:.0%}"
    if isinstance(event, Phase):
        return f"  {event.phase} …" if tty else None
    if isinstance(event, Progress):
        # a log file gets the end of a one-time stage (a download, a decode), not each evaluation's
        return progress_line(event) if tty or (event.stage in ONE_TIME and event.total and
                                               event.done >= event.total) else None
    if isinstance(event, StatusChanged):
        return f"run {event.run_id} {event.status}"
    if isinstance(event, LogLine):
        return event.text
    if isinstance(event, RunEnded):
        metrics = "  ".join(f"{k} {fmt(v)}" for k, v in event.metrics.items())
        tail = f": {event.message}" if event.message else ""
        return f"{event.status} after {event.epochs} epochs, {event.train_seconds:.1f}s{tail}\n{metrics}".rstrip()
    return None


def progress(info: RunInfo) -> str:
    """How far a run is, against where it stops: ``3/10 ep``, ``12/30 s`` (a budget), or as ``done`` says it."""
    from . import registry

    if info.status in (Status.RUNNING, Status.PAUSED) and registry.is_own(info.experiment):
        if info.budget and info.budget_kind == "train":
            return f"{info.train_seconds:.0f}/{info.budget:g} s"
        if info.budget:  # the whole run's seconds so far (a resumed run's earlier attempts are not known here)
            return f"{min(max(0.0, time.time() - info.created), info.budget):.0f}/{info.budget:g} s"
        if isinstance(info.params.get("epochs"), int):
            return f"{info.epochs}/{info.params['epochs']} ep"
    return done(info.experiment, info.epochs)


def done(experiment: str, epochs: int) -> str:
    """How far a run got, as every view says it: epochs of labdeck's own experiments, the last step of a script."""
    from . import registry

    return f"{epochs} ep" if registry.is_own(experiment) else f"step {epochs}"


def run_line(info: RunInfo) -> str:
    """A run as ``labdeck runs`` lists it: id, experiment, status, created, how far, and its target's score."""
    from . import registry
    from .names import printable

    target = registry.get(info.experiment).target if registry.is_own(info.experiment) else ""
    score = f"{target} {fmt(info.metrics[target])}" if target in info.metrics else ""
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created))
    return (f"{info.id}  {printable(info.experiment, 30):<9} {info.status:<11} {created}  "
            f"{done(info.experiment, info.epochs):>10}  {score}")
