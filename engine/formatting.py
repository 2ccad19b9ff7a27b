"""Readable one-line renderings of run events, shared by the CLI and the dashboard's log."""

from __future__ import annotations

import math
from typing import Any

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


def fmt(v: Any) -> str:
    """A value as every view writes it: 4 significant digits, booleans as the form writes them, nothing as -."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return str(v)


def progress_line(event: Progress) -> str:
    if event.stage == "download":
        mb = f"{event.done / 1e6:.1f}" + (f" of {event.total / 1e6:.1f} MB" if event.total else " MB")
        return f"  downloading: {mb}" + (f" ({event.done / event.total:.0%})" if event.total else "")
    part = f"{event.done:.0f}/{event.total:.0f}" if event.total else f"{event.done:.0f}"
    return f"  {event.stage}: {part}" + (f" ({event.done / event.total:.0%})" if event.total else "")


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
        return progress_line(event) if tty or (event.total and event.done >= event.total) else None
    if isinstance(event, StatusChanged):
        return f"run {event.run_id} {event.status}"
    if isinstance(event, LogLine):
        return event.text
    if isinstance(event, RunEnded):
        metrics = "  ".join(f"{k} {fmt(v)}" for k, v in event.metrics.items())
        tail = f": {event.message}" if event.message else ""
        return f"{event.status} after {event.epochs} epochs, {event.train_seconds:.1f}s{tail}\n{metrics}".rstrip()
    return None


def progress(info) -> str:
    """How far a run is, against where it stops: ``3/10 ep``, ``12/30 s`` (a budget), or as ``done`` says it."""
    from . import registry

    if info.status in ("running", "paused") and registry.is_own(info.experiment):
        if info.budget:
            return f"{info.train_seconds:.0f}/{info.budget:g} s"
        if isinstance(info.params.get("epochs"), int):
            return f"{info.epochs}/{info.params['epochs']} ep"
    return done(info.experiment, info.epochs)


def done(experiment: str, epochs: int) -> str:
    """How far a run got, as every view says it: epochs of labdeck's own experiments, the last step of a script."""
    from . import registry

    return f"{epochs} ep" if registry.is_own(experiment) else f"step {epochs}"
