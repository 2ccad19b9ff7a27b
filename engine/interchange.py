"""Runs in and out of the field's formats: TensorBoard event files (through the tensorboard package: torch's
SummaryWriter writes them, tensorboard's EventAccumulator reads them) and CSV files.

An import reads and checks everything before it creates a run: bad input is one line and leaves nothing behind.
Names are cleaned as the logging API cleans them (``names.metric``). ``tensorboard`` is an optional extra
(``pip install 'labdeck[tensorboard]'``); without it, these say so in one line.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from . import names
from .errors import DataError, LabdeckError, ParamError
from .events import LogLine, RunEnded, RunStarted
from .status import Status
from .store import Store

INSTALL = "TensorBoard files need the tensorboard package, an optional extra: pip install 'labdeck[tensorboard]'"
STEP_COLUMNS = ("step", "epoch", "global_step", "iteration", "iter")
EVENT_FILES = "events.out.tfevents.*"


def _require() -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise ParamError(f"format: {INSTALL}")


def _out_folder(out: Path) -> Path:
    """The export's folder, made if needed; a file there or a place that cannot be written is one line."""
    shown = names.printable(out)
    if out.exists() and not out.is_dir():
        raise ParamError(f"out: {shown} is a file; give a folder for the TensorBoard files")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".labdeck-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ParamError(f"out: cannot write into {shown}: {exc.strerror or exc}") from None
    return out


def export(store: Store, run: str, out: Path) -> Path:
    """Write ``run`` as TensorBoard event files in ``out``, replacing event files an earlier export left there:
    each metric at each step as a scalar, the parameters and final metrics as hparams, a language run's samples as
    text. The points are streamed from the store. Returns the folder."""
    _require()
    info = store.get(run)
    out = _out_folder(Path(out))
    from torch.utils.tensorboard import SummaryWriter

    for old in out.glob(EVENT_FILES):  # a second export replaces the first, never adds its points again
        old.unlink()
    keys = list(store.series_keys(info.id))
    with SummaryWriter(log_dir=str(out)) as writer:
        for steps, columns in store.blocks(info.id, keys):
            for key in keys:
                values, present = columns[key]
                keep = present & np.isfinite(values)
                for step, value in zip(steps[keep].tolist(), values[keep].tolist()):
                    writer.add_scalar(key, value, step)
        for _, event in store.events(info.id, limit=1_000_000):
            if isinstance(event, LogLine) and event.text.startswith("sample: "):
                writer.add_text("sample", event.text[len("sample: "):])
        hparams = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v) for k, v in info.params.items()}
        final = {f"final/{k}": v for k, v in info.metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        writer.add_hparams(hparams or {"experiment": info.experiment}, final or {"final/epochs": info.epochs},
                           run_name=".")
    return out


Table = dict[str, tuple[np.ndarray, np.ndarray]]  # a metric's name -> (steps, values), steps ascending


def _step(text: str, where: str, column: str) -> int:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {column} is {names.printable(text, 40)!r}, not a number") from None
    if not value.is_integer() or not 0 <= value <= names.MAX_STEP:
        raise DataError(f"{where}: {column} is {names.printable(text, 40)}, not a whole number from 0 to 2**53")
    return int(value)


def _columns(by_step: dict[int, dict[str, float]]) -> Table:
    """Per-step rows as a series per metric, in step order."""
    keys: dict[str, None] = {}
    for values in by_step.values():
        keys.update(dict.fromkeys(values))
    out = {}
    steps = sorted(by_step)
    for key in keys:
        have = [s for s in steps if key in by_step[s]]
        out[key] = (np.array(have, np.int64), np.array([by_step[s][key] for s in have], np.float64))
    return out


def _tensorboard_scalars(folder: Path) -> Table:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # 0: every point, not a sample
    acc.Reload()
    by_step: dict[int, dict[str, float]] = {}
    for tag in acc.Tags().get("scalars", []):
        key, _why = names.metric(tag)
        for point in acc.Scalars(tag):
            if not 0 <= point.step <= names.MAX_STEP:
                continue  # TensorBoard keeps negative steps; a run's axis starts at 0
            by_step.setdefault(int(point.step), {})[key] = float(point.value)
    return _columns(by_step)


def _csv_rows(path: Path) -> Table:
    shown = names.printable(path)
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            rows = list(csv.DictReader(f))
    except csv.Error as exc:  # a field over the csv module's limit (128 KiB), a NUL byte
        raise DataError(f"{shown}: not a table of metrics ({exc})") from None
    except OSError as exc:
        raise DataError(f"{shown}: cannot read it ({exc.strerror or exc})") from None
    if not rows or not rows[0]:
        raise DataError(f"{shown}: no header and rows to import")
    step_key = next((c for c in rows[0] if c and c.strip().lower() in STEP_COLUMNS), None)
    renamed = {c: names.metric(c)[0] for c in rows[0] if c and c != step_key}
    by_step: dict[int, dict[str, float]] = {}
    for i, row in enumerate(rows):
        step = _step(row[step_key], f"{shown}, row {i + 2}", names.printable(step_key)) if step_key else i
        values = {}
        for column, key in renamed.items():
            try:
                values[key] = float(row[column])
            except (TypeError, ValueError):
                continue  # a text column (a name, a date) is no metric
        by_step[step] = values
    return _columns(by_step)


def import_path(store: Store, path: Path, experiment: str | None = None) -> list[str]:
    """Bring a TensorBoard log folder (every folder under it with event files is a run) or a CSV file in as
    finished runs. Returns their ids."""
    name = names.experiment(experiment, "--experiment") if experiment is not None else "imported"
    path = Path(path)
    shown = names.printable(path)
    if not path.exists():
        raise ParamError(f"path: {shown} does not exist")
    if path.is_file() and path.suffix.lower() == ".csv":
        sources = [(path, _csv_rows(path))]
    else:
        _require()
        folders = sorted({p.parent for p in ([path] if path.is_file() else path.rglob(EVENT_FILES))})
        if not folders:
            raise ParamError(f"path: no TensorBoard event files ({EVENT_FILES}) or CSV file at {shown}")
        sources = [(folder, _tensorboard_scalars(folder)) for folder in folders]
    sources = [(source, table) for source, table in sources if table]
    if not sources:
        raise ParamError(f"path: nothing to import at {shown} (no scalars)")
    return [_import_one(store, name, source, table) for source, table in sources]


def _import_one(store: Store, name: str, source: Path, table: Table) -> str:
    """One finished run holding ``table``; nothing is left of it if any part cannot be written."""
    where = str(source.resolve())
    params: dict[str, Any] = {"source": where}
    run_id = store.create_run(name, params)
    try:
        store.emit(RunStarted(run_id, name, params, f"imported from {names.printable(source)}", ""))
        last_step = max(int(steps[-1]) for steps, _ in table.values())
        store.append_points(run_id, table, last_step, 0.0)
        last = {}
        for key, (_steps, values) in table.items():
            finite = values[np.isfinite(values)]
            if len(finite):
                last[key] = float(finite[-1])
        message = f"imported from {names.printable(source)}"
        store.emit(RunEnded(run_id, Status.FINISHED, last, 0.0, last_step, message))
        store.finish(run_id, Status.FINISHED, last, 0.0, last_step, message)
    except (LabdeckError, OSError):
        try:
            store.delete_run(run_id)
        except LabdeckError:
            pass
        raise
    return run_id
