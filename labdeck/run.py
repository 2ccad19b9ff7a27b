"""Your own training loop in labdeck: ``init`` a run, ``log`` its metrics, ``finish`` it.

A ``log`` call checks its metrics and queues them (microseconds); a writer thread puts what is queued into the run
store a few times a second, in one transaction, so training never waits for the disk. The dashboard's pause and
stop reach the loop at its next ``log`` (a pause waits there) and through ``should_stop()``. Never imports torch:
a tensor or NumPy scalar is read through its ``.item()``.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .engine.errors import LabdeckError, one_line
from .engine.events import EpochMetrics, LogLine, RunEnded, RunStarted, StatusChanged, to_record
from .engine.procs import process_start_time
from .engine.store import Store

FLUSH_SECONDS = 0.2
CONTROL_SECONDS = 0.25
MAX_NAME = 200  # characters of a metric name
MANY_METRICS = 1000  # a log call with more is kept, with a warning: the dashboard lists them all
RESERVED = ("epoch", "train_seconds")  # the step and time axes of a run's history
MAX_PENDING = 1_000_000  # records held while the store cannot be written, before the oldest are dropped


class LabdeckWarning(UserWarning):
    """Something labdeck could not do as asked; training goes on."""


def _warn(text: str) -> None:
    """A warning that points at the caller's line, not at this module's."""
    frame, level = sys._getframe(0), 1
    while frame.f_back is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    warnings.warn(f"labdeck: {text}", LabdeckWarning, stacklevel=level)


def _plain(value: Any) -> Any:
    """A parameter as JSON can hold it (a path, a tuple, a dtype become text or lists)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        try:
            return _plain(value.item())
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(value)


class Run:
    """One of your runs, as the dashboard and the CLI see it. Made by :func:`init`."""

    def __init__(self, store: Store | None, run_id: str, experiment: str):
        self.id, self.experiment = run_id, experiment
        self._store = store
        self._t0 = time.monotonic()
        self._step = -1
        self._pending: deque[tuple] = deque()
        self._warned: set[str] = set()
        self._control = "run"
        self._ended = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._write_loop, name=f"labdeck-{run_id}", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    # -- the loop's side ---------------------------------------------------------------------------------------------
    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record ``metrics`` (names to numbers) at ``step`` (by default the last step + 1). A value that is not a
        number is left out with a warning; NaN and infinities are kept (drawn as gaps)."""
        if self._ended:
            self._warn_once("ended", f"run {self.id} has finished: log() after finish() is ignored")
            return
        if step is None:
            step = self._step + 1
        elif not isinstance(step, int) or isinstance(step, bool):
            if isinstance(step, float) and step.is_integer():
                step = int(step)
            else:
                raise TypeError(f"labdeck: step must be an integer (got {step!r})")
        self._step = max(self._step, step)
        values: dict[str, float] = {}
        for name, value in metrics.items():
            key = self._name(name)
            number = self._number(key, value)
            if number is not None:
                values[key] = number
        if len(values) > MANY_METRICS:
            self._warn_once("many", f"{len(values)} metrics in one log call: all are kept, and the dashboard "
                                    "lists them all (its filter, /, finds one)")
        self._pending.append((step, values, time.monotonic() - self._t0, time.time()))
        if self._control == "pause":
            self._wait_while_paused()

    def _name(self, name: Any) -> str:
        text = str(name)
        clean = "".join(c if c.isprintable() else "_" for c in text).strip()[:MAX_NAME] or "_"
        if clean in RESERVED:
            self._warn_once(f"name:{text}", f"metric {text!r} is logged as {clean + '_'!r}: labdeck keeps "
                                             f"{clean!r} for its own axis")
            return clean + "_"
        if clean != text:
            shown = text if len(text) <= 60 else text[:60] + "…"
            self._warn_once(f"name:{text}", f"metric name {shown!r} is logged as its first {MAX_NAME} printable "
                                             f"characters" if len(text) > MAX_NAME else
                            f"metric name {shown!r} is logged as {clean!r} (printable characters only)")
        return clean

    def _number(self, key: str, value: Any) -> float | None:
        if hasattr(value, "item") and callable(value.item) and not isinstance(value, (int, float)):
            try:
                value = value.item()  # a 0-d tensor or NumPy scalar; a tensor of many values raises
            except (TypeError, ValueError, RuntimeError):
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._warn_once(f"type:{key}", f"metric {key!r} is a {type(value).__name__}, not a number: left out")
            return None
        number = float(value)
        if not math.isfinite(number):
            self._warn_once(f"nan:{key}", f"metric {key!r} is {number} at step {self._step}: kept, drawn as a gap")
        return number

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _warn(text)

    def set_params(self, params: Mapping[str, Any]) -> None:
        """Add parameters known only after ``init`` (a trainer's hyperparameters)."""
        if self._store is None:
            return
        try:
            with self._lock:
                merged = {**self._store.get(self.id).params, **_plain(dict(params))}
                self._store.set_params(self.id, merged)
        except LabdeckError as exc:
            self._warn_once("store", f"cannot write run {self.id} to the store: {exc}; training goes on")

    def should_stop(self) -> bool:
        """Whether the dashboard or ``labdeck stop`` asked this run to stop: end the loop, then ``finish()``."""
        return self._control == "stop"

    def _wait_while_paused(self) -> None:
        self._event(StatusChanged(self.id, "paused"), status="paused")
        while self._control == "pause":
            time.sleep(CONTROL_SECONDS)
        self._event(StatusChanged(self.id, "running"), status="running")

    def print(self, text: str) -> None:
        """A line for the run's Log view."""
        self._event(LogLine(self.id, str(text)))

    def finish(self, status: str | None = None, message: str = "") -> None:
        """End the run: ``finished`` (or ``stopped`` after a stop request); ``failed`` with a message."""
        if self._ended:
            return
        self._ended = True
        status = status or ("stopped" if self._control == "stop" else "finished")
        self._done.set()
        self._thread.join()
        self._flush()
        store = self._store
        if store is not None:
            try:
                last = self._last_metrics(store)
                seconds = round(time.monotonic() - self._t0, 3)
                store.emit(RunEnded(self.id, status, last, seconds, max(self._step, 0), message))
                store.finish(self.id, status, last, seconds, max(self._step, 0), message)
            except LabdeckError as exc:
                self._warn_once("store", f"run {self.id} could not be recorded as {status}: {exc}")
        atexit.unregister(self._at_exit)

    def _last_metrics(self, store: Store) -> dict[str, float]:
        """Each metric's last finite value."""
        out = {}
        for key, values in store.history(self.id).items():
            finite = [v for v in values if v is not None and math.isfinite(v)]
            if key not in ("epoch", "train_seconds") and finite:
                out[key] = finite[-1]
        return out

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.finish()
        elif issubclass(kind, KeyboardInterrupt):
            self.finish("stopped", "interrupted by keyboard")
        else:
            self.finish("failed", one_line(exc))

    def _at_exit(self) -> None:
        """A script that ends without finish(): finished, unless an exception is ending it."""
        failed = getattr(sys, "last_value", None)
        self.finish("failed", one_line(failed)) if failed is not None else self.finish()

    # -- the writer's side ---------------------------------------------------------------------------------------------
    def _event(self, event, status: str | None = None) -> None:
        self._flush()
        if self._store is None:
            return
        try:
            with self._lock:
                self._store.emit(event)
                if status:
                    self._store.set_status(self.id, status)
        except LabdeckError as exc:
            self._warn_once("store", f"cannot write run {self.id} to the store: {exc}; training goes on")

    def _write_loop(self) -> None:
        last_control = 0.0
        while not self._done.wait(FLUSH_SECONDS):
            self._flush()
            now = time.monotonic()
            if self._store is not None and now - last_control >= CONTROL_SECONDS:
                last_control = now
                try:
                    self._control = self._store.control(self.id)
                except LabdeckError:
                    pass

    def _flush(self) -> None:
        """Write what is queued, in one transaction; kept for the next try if the store cannot take it."""
        if self._store is None or not self._pending:
            return
        with self._lock:
            batch = []
            while self._pending:
                batch.append(self._pending.popleft())
            entries = []
            for step, logged, wall, t in batch:
                values = {**logged, "train_seconds": wall}  # the seconds since init: the dashboard's time axis
                event = EpochMetrics(self.id, step, 0, values, 0.0, round(wall, 3), 0.0, step)
                kind, payload = to_record(event)
                entries.append(("epoch", step, values, kind, json.dumps(payload), t))
            try:
                self._store.append(self.id, entries)
            except LabdeckError as exc:
                self._warn_once("store", f"cannot write run {self.id} to the store: {exc}; training goes on, and "
                                         "what it logs is kept in memory until the store can take it")
                self._pending.extendleft(reversed(batch))
                while len(self._pending) > MAX_PENDING:
                    self._pending.popleft()


def init(experiment: str, params: Mapping[str, Any] | None = None, home: str | os.PathLike | None = None) -> Run:
    """Start a run of your own ``experiment`` (any name) with its ``params``, in the store at ``home`` (default:
    ``LABDECK_HOME`` or the user data directory). It appears in the dashboard's Runs tab at once."""
    name = str(experiment).strip()
    if not name or not all(c.isprintable() for c in name) or len(name) > 100:
        raise ValueError(f"labdeck: experiment must be a printable name of 1 to 100 characters (got {experiment!r})")
    from .engine import registry

    if name in registry.names():
        raise ValueError(f"labdeck: {name!r} is one of labdeck's own experiments; give yours another name")
    plain = _plain(dict(params or {}))
    try:
        store = Store(Path(home) if home else None)
        run_id = store.create_run(name, plain)
        pid = os.getpid()
        store.claim(run_id, pid, process_start_time(pid), "your script")
        store.emit(RunStarted(run_id, name, plain, "your script", ""))
    except LabdeckError as exc:
        _warn(f"cannot record this run ({exc}); training goes on without it")
        return Run(None, "unrecorded", name)
    return Run(store, run_id, name)
