"""Runs in and out of the field's formats: TensorBoard event files (through the tensorboard package: torch's
SummaryWriter writes them, tensorboard's EventAccumulator reads them) and CSV files.

``tensorboard`` is an optional extra (``pip install 'labdeck[tensorboard]'``); without it, these say so in one line.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path
from typing import Any

from .errors import DataError, ParamError
from .events import EpochMetrics, LogLine, RunEnded, RunStarted, to_record
from .store import Store

INSTALL = "TensorBoard files need the tensorboard package, an optional extra: pip install 'labdeck[tensorboard]'"
STEP_COLUMNS = ("step", "epoch", "global_step", "iteration", "iter")


def _require() -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise ParamError(f"format: {INSTALL}")


def export(store: Store, run: str, out: Path) -> Path:
    """Write ``run`` as TensorBoard event files in ``out``: each metric per epoch (or step) as a scalar, the
    parameters and final metrics as hparams, a language run's samples as text. Returns the folder."""
    _require()
    from torch.utils.tensorboard import SummaryWriter

    info = store.get(run, history=True)
    out.mkdir(parents=True, exist_ok=True)
    with SummaryWriter(log_dir=str(out)) as writer:
        steps = [int(s) for s in info.history.get("epoch", [])]
        for key, values in info.history.items():
            if key == "epoch":
                continue
            for step, value in zip(steps, values):
                if value is not None and math.isfinite(value):
                    writer.add_scalar(key, value, step)
        for _, event in store.events(info.id, limit=1_000_000):
            if isinstance(event, LogLine) and event.text.startswith("sample: "):
                writer.add_text("sample", event.text[len("sample: "):])
        hparams = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v) for k, v in info.params.items()}
        final = {f"final/{k}": v for k, v in info.metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        writer.add_hparams(hparams or {"experiment": info.experiment}, final or {"final/epochs": info.epochs},
                           run_name=".")
    return out


def _tensorboard_scalars(folder: Path) -> dict[int, dict[str, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # 0: every point, not a sample
    acc.Reload()
    by_step: dict[int, dict[str, float]] = {}
    for tag in acc.Tags().get("scalars", []):
        for point in acc.Scalars(tag):
            by_step.setdefault(int(point.step), {})[tag] = float(point.value)
    return by_step


def _csv_rows(path: Path) -> dict[int, dict[str, float]]:
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.DictReader(f))
    if not rows or not rows[0]:
        raise DataError(f"{path}: no header and rows to import")
    step_key = next((c for c in rows[0] if c and c.strip().lower() in STEP_COLUMNS), None)
    by_step: dict[int, dict[str, float]] = {}
    for i, row in enumerate(rows):
        try:
            step = int(float(row[step_key])) if step_key else i
        except (TypeError, ValueError):
            raise DataError(f"{path}, row {i + 2}: {step_key} is {row[step_key]!r}, not a number") from None
        values = {}
        for key, text in row.items():
            if key and key != step_key:
                try:
                    values[key] = float(text)
                except (TypeError, ValueError):
                    continue  # a text column (a name, a date) is no metric
        by_step[step] = values
    return by_step


def import_path(store: Store, path: Path, experiment: str | None = None) -> list[str]:
    """Bring a TensorBoard log folder (every folder under it with event files is a run) or a CSV file in as
    finished runs. Returns their ids."""
    path = Path(path)
    if not path.exists():
        raise ParamError(f"path: {path} does not exist")
    if path.is_file() and path.suffix.lower() == ".csv":
        sources = [(path, _csv_rows(path))]
    else:
        _require()
        folders = sorted({p.parent for p in ([path] if path.is_file() else path.rglob("events.out.tfevents.*"))})
        if not folders:
            raise ParamError(f"path: no TensorBoard event files (events.out.tfevents.*) or CSV file at {path}")
        sources = [(folder, _tensorboard_scalars(folder)) for folder in folders]
    ids = []
    for source, by_step in sources:
        if not by_step:
            continue
        name = experiment or "imported"
        run_id = store.create_run(name, {"source": str(source.resolve())})
        store.emit(RunStarted(run_id, name, {"source": str(source.resolve())}, f"imported from {source}", ""))
        entries = []
        for step in sorted(by_step):
            values = by_step[step]
            kind, payload = to_record(EpochMetrics(run_id, step, 0, values, 0.0, 0.0, 0.0, step))
            entries.append(("epoch", step, values, kind, json.dumps(payload), time.time()))
        store.append(run_id, entries)
        last: dict[str, Any] = {}
        for step in sorted(by_step):
            last.update(by_step[step])
        store.emit(RunEnded(run_id, "finished", last, 0.0, max(by_step), f"imported from {source}"))
        store.finish(run_id, "finished", last, 0.0, max(by_step), f"imported from {source}")
        ids.append(run_id)
    if not ids:
        raise ParamError(f"path: nothing to import at {path} (no scalars)")
    return ids
