"""Your own training loop in labdeck: ``init`` a run, ``log`` its metrics, ``finish`` it.

A ``log`` call checks its values and appends them to a column per metric (a couple of microseconds, no object per
point); a writer thread hands the columns to the run store a few times a second, in one transaction, so training
never waits for the disk. Nothing ``log`` is given can raise into the loop or stop the writer: a bad value, step or
name is one warning naming the caller's line, and the rest lands. The dashboard's pause and stop reach the loop at
its next ``log`` (a pause waits there) and through ``should_stop()``. Never imports torch: a tensor or NumPy scalar
is read through its ``.item()``.
"""

from __future__ import annotations

import atexit
import math
import operator
import os
import sys
import threading
import time
import warnings
from array import array
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from labdeck.engine.status import Status

from .engine import names, watchdog
from .engine.alerts import Rule, RunAlerts
from .engine.errors import LabdeckError, StoreError, one_line
from .engine.events import LogLine, RunEnded, RunStarted, StatusChanged
from .engine.procs import process_start_time
from .engine.store import Store

if TYPE_CHECKING:
    from labdeck.engine.events import Event

FLUSH_SECONDS = 0.2
FLUSH_STEPS = 20_000  # steps logged that wake the writer before its time: a fast loop's columns stay small
YIELD_EVERY = 128  # while the writer writes, a loop that never leaves Python lets it run once per this many logs
CONTROL_SECONDS = 0.25
MANY_METRICS = 1000  # a log call with more is kept, with a warning: the dashboard lists them all
MAX_PENDING = 5_000_000  # points held while the store cannot be written, before the oldest are dropped
RESERVED = names.AXES  # metric names labdeck keeps for a run's axes (renamed with a trailing "_")
TIME_KEY = "train_seconds"  # the seconds since init at each step: the dashboard's time axis

_monotonic = time.monotonic


class LabdeckWarning(UserWarning):
    """Something labdeck could not do as asked; training goes on."""


def _warn(text: str) -> None:
    """A warning that points at the caller's line, not at labdeck's."""
    frame, level = sys._getframe(0), 1
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).split(".")[0] == "labdeck":
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


class _Column:
    """One metric's points logged since the last write."""

    __slots__ = ("key", "steps", "values")

    def __init__(self, key: str):
        self.key = key
        self.steps = array("q")
        self.values = array("d")

    def take(self) -> tuple[array[Any], array[Any]]:
        taken = self.steps, self.values
        self.steps, self.values = array("q"), array("d")
        return taken


class Run:
    """One of your runs, as the dashboard and the CLI see it. Made by :func:`init`."""

    def __init__(self, store: Store | None, run_id: str, experiment: str, params: dict[str, Any] | None = None,
                 last_step: int = -1, seconds: float = 0.0, system: bool = False, alerts: Sequence[Rule] = ()):
        self.id, self.experiment = run_id, experiment
        self.params: dict[str, Any] = dict(params or {})
        self._store = store
        self._t0 = _monotonic() - seconds
        self._step = last_step
        self._by_name: dict[Any, _Column] = {}  # as the loop names a metric -> its column
        self._columns: dict[str, _Column] = {}  # stored name -> column
        self._clock = _Column(TIME_KEY)
        self._unwritten: dict[str, list[tuple[Any, Any]]] = {}  # points the store could not take yet
        self._last: dict[str, float] = {}  # each metric's last finite value
        self._warned: set[str] = set()
        self._control = "run"
        self._ended = False
        self._lock = threading.Lock()  # the columns: log() appends, the writer takes
        self._store_lock = threading.Lock()  # the store: the writer, events, finish
        self._logged = 0  # log calls since the writer last took the columns
        self._wake = threading.Event()  # the writer's: time to write (or to stop)
        self._stopping = False
        self._writing = False  # the writer is encoding and storing what it took
        self._sampler: Any = None
        self._want_system = system
        self._home_id = self._identity()
        # the watchdog's rules on what the script logs, checked in the writer thread (never in the loop)
        # what they say goes to the run's log after the write that fired them (an event flushes the points first)
        self._alert_lines: list[str] = []
        self._alerts = RunAlerts(store, run_id, alerts, self._alert_lines.append, self._t0) \
            if store is not None else None
        self._thread = threading.Thread(target=self._write_loop, name=f"labdeck-{run_id}", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    # -- the loop's side ---------------------------------------------------------------------------------------------
    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record ``metrics`` (names to numbers) at ``step`` (by default the last step + 1). Steps never go back: a
        step below the last one is left out. A value that is not a number is left out; NaN and infinities are kept
        (drawn as gaps). Each problem is one warning; nothing is raised."""
        try:
            if self._ended:
                self._warn_once("ended", f"run {self.id} has finished: log() after finish() is ignored")
                return
            if step is None:
                step = self._step + 1
            elif type(step) is not int:
                step = self._odd_step(step)
                if step is None:
                    return
            if step < self._step or step > names.MAX_STEP or step < 0:
                self._bad_step(step)
                return
            self._step = step
            seconds = _monotonic() - self._t0
            number: float | None
            with self._lock:
                by_name = self._by_name
                for name, value in metrics.items():
                    column = by_name.get(name)
                    if column is None:
                        column = self._column(name)
                    if type(value) is float:
                        number = value
                        if number - number:  # NaN or an infinity (x - x is 0.0 for every finite x)
                            self._non_finite(column.key, number, step)
                    else:
                        number = self._number(column.key, value, step)
                        if number is None:
                            continue
                    column.steps.append(step)
                    column.values.append(number)
                self._clock.steps.append(step)
                self._clock.values.append(seconds)
                self._logged += 1
                if self._logged == FLUSH_STEPS:
                    self._wake.set()
            if self._writing and not self._logged % YIELD_EVERY:
                # A loop that never leaves Python (never releases the GIL, as a real step's tensor work does)
                # would get the GIL back before the writer could use it, each time the writer released it
                # (NumPy, SQLite): then a write took seconds, and the columns grew meanwhile.
                time.sleep(0)
            if len(metrics) > MANY_METRICS:
                self._warn_once("many", f"{len(metrics)} metrics in one log call: all are kept, and the dashboard "
                                        "lists them all (its filter, /, finds one)")
        except Exception as exc:  # a mapping that fails as it is read, a name whose str() raises, ...
            self._warn_once(f"log:{type(exc).__name__}", f"log() could not read what it was given "
                                                          f"({names.printable(one_line(exc))}): left out")
            return
        if self._control == "pause":
            self._wait_while_paused()

    def _odd_step(self, step: Any) -> int | None:
        """A step that is not a plain int: a NumPy or tensor integer, or a float with an integer value."""
        if isinstance(step, bool):
            self._warn_once("step-type:bool", f"step {step!r} is a bool, not an integer: this call is left out")
            return None
        try:
            return operator.index(step)  # NumPy integers, 0-d integer tensors
        except TypeError:
            pass
        value = step
        if hasattr(value, "item") and callable(value.item):
            try:
                value = value.item()
            except (TypeError, ValueError, RuntimeError):
                pass
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self._warn_once(f"step-type:{type(step).__name__}", f"step {names.printable(repr(step), 40)} is not an "
                                                             "integer: this call is left out")
        return None

    def _bad_step(self, step: int) -> None:
        if step < 0 or step > names.MAX_STEP:
            self._warn_once("step-range", f"step {step} is outside 0 to 2**53: this call is left out")
        else:
            self._warn_once("step-back", f"step {step} is below the last step, {self._step}: steps never go back, "
                                         "so this call is left out")

    def _column(self, name: Any) -> _Column:
        key, why = names.metric(name)
        if why:
            self._warn_once(f"name:{key}:{why}", why)
        column = self._columns.get(key)
        if column is None:
            column = self._columns[key] = _Column(key)
        self._by_name[name] = column
        return column

    def _number(self, key: str, value: Any, step: int) -> float | None:
        if hasattr(value, "item") and callable(value.item) and not isinstance(value, (int, float)):
            try:
                value = value.item()  # a 0-d tensor or NumPy scalar; a tensor of many values raises
            except (TypeError, ValueError, RuntimeError):
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._warn_once(f"type:{key}", f"metric {key!r} is a {type(value).__name__}, not a number: left out")
            return None
        try:
            number = float(value)
        except OverflowError:  # an int beyond float's range
            number = math.inf if value > 0 else -math.inf
        if number - number:
            self._non_finite(key, number, step)
        return number

    def _non_finite(self, key: str, value: float, step: int) -> None:
        self._warn_once(f"nan:{key}", f"metric {key!r} is {value} at step {step}: kept, drawn as a gap")

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _warn(text)

    def set_params(self, params: Mapping[str, Any]) -> None:
        """Add parameters known only after ``init`` (a trainer's hyperparameters)."""
        self.params.update(_plain(dict(params)))
        self._with_store(lambda store: store.set_params(self.id, self.params))

    def should_stop(self) -> bool:
        """Whether the dashboard or ``labdeck stop`` asked this run to stop: end the loop, then ``finish()``."""
        return self._control == "stop"

    def _wait_while_paused(self) -> None:
        self._event(StatusChanged(self.id, Status.PAUSED), status=Status.PAUSED)
        while self._control == "pause":
            time.sleep(CONTROL_SECONDS)
        self._event(StatusChanged(self.id, Status.RUNNING), status=Status.RUNNING)

    def print(self, text: str) -> None:
        """A line for the run's Log view."""
        self._event(LogLine(self.id, str(text)))

    def finish(self, status: str | None = None, message: str = "") -> None:
        """End the run: ``finished`` (or ``stopped`` after a stop request); ``failed`` with a message."""
        if self._ended:
            return
        self._ended = True
        status = status or (Status.STOPPED if self._control == "stop" else Status.FINISHED)
        self._stopping = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self._flush()
        self._check_home()
        last = {k: v for k, v in self._last.items() if k != TIME_KEY and not k.startswith("sys/")}
        seconds, steps = round(_monotonic() - self._t0, 3), max(self._step, 0)

        def end(store: Store) -> None:
            store.emit(RunEnded(self.id, status, last, seconds, steps, message))
            store.finish(self.id, status, last, seconds, steps, message)

        self._with_store(end, f"run {self.id} could not be recorded as {status}")
        if self._alerts is not None:
            self._alerts.ended(status, message or ", ".join(f"{k} {v:.4g}" for k, v in list(last.items())[:4]))
        atexit.unregister(self._at_exit)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
                 ) -> None:
        if kind is None:
            self.finish()
        elif issubclass(kind, KeyboardInterrupt):
            self.finish(Status.STOPPED, "interrupted by keyboard")
        else:
            self.finish(Status.FAILED, one_line(exc) if exc is not None else kind.__name__)

    def _at_exit(self) -> None:
        """A script that ends without finish(): finished, unless an exception is ending it."""
        failed = getattr(sys, "last_value", None)
        self.finish(Status.FAILED, one_line(failed)) if failed is not None else self.finish()

    # -- the writer's side ---------------------------------------------------------------------------------------------
    def _record_provenance(self) -> None:
        """What reproduces the run (code version, packages, machine), read and stored in a thread of its own."""
        if self._store is None:
            return

        def record() -> None:
            from . import provenance

            try:
                meta = provenance.read()
            except Exception:  # what reproduces a run is a help, never a reason to fail it
                return
            self._with_store(lambda store: store.set_meta(self.id, meta))

        threading.Thread(target=record, daemon=True, name="labdeck-provenance").start()

    def _with_store(self, action: Callable[[Store], object], failure: str = "") -> None:
        """Do ``action(store)``; a store that fails is one warning, and training goes on."""
        if self._store is None:
            return
        try:
            with self._store_lock:
                action(self._store)
        except LabdeckError as exc:
            self._warn_once("store", f"{failure or f'cannot write run {self.id} to the store'}: {exc}; "
                                     "training goes on")

    def _event(self, event: Event, status: str | None = None) -> None:
        self._flush()

        def write(store: Store) -> None:
            store.emit(event)
            if status:
                store.set_status(self.id, status)

        self._with_store(write)

    def _write_loop(self) -> None:
        from . import system_metrics

        next_control = 0.0
        next_sample = _monotonic() + system_metrics.FIRST
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            if self._stopping:
                return
            try:
                self._flush()
                now = _monotonic()
                if self._store is not None and now >= next_control:
                    next_control = now + CONTROL_SECONDS
                    try:
                        self._control = self._store.control(self.id)
                    except LabdeckError:
                        pass
                if self._want_system and now >= next_sample:
                    next_sample = now + self._sample()
            except Exception as exc:  # never let the writer die: what it holds is written at the next try
                self._warn_once(f"writer:{type(exc).__name__}", f"run {self.id}: writing failed once "
                                                                 f"({names.printable(one_line(exc))}); it goes on")

    def _sample(self) -> float:
        """Sample the process's resources into the run; returns the seconds until the next sample."""
        from . import system_metrics

        try:
            if self._sampler is None:
                self._sampler = system_metrics.Sampler()  # its CPU share is measured from now to the next sample
                return system_metrics.SECONDS
            values = self._sampler.sample()
        except Exception:  # no psutil reading here (a container without /proc): no system metrics
            self._want_system = False
            return 0.0
        step = max(self._step, 0)
        with self._lock:
            for key, value in values.items():
                column = self._columns.get(key) or self._columns.setdefault(key, _Column(key))
                column.steps.append(step)
                column.values.append(float(value))
        return system_metrics.SECONDS

    def _flush(self) -> None:
        """Write what was logged since the last write, in one transaction; kept for the next try if the store
        cannot take it."""

        with self._lock:
            taken = [(c.key, *c.take()) for c in (*self._columns.values(), self._clock) if c.steps]
            step = self._step
            self._logged = 0
        if not taken and not self._unwritten:
            return
        self._check_home()  # a stat: the store's file is still the one this run writes
        self._writing = True
        try:
            self._write(taken, step)
        finally:
            self._writing = False
        while self._alert_lines:
            self.print(self._alert_lines.pop(0))

    def _write(self, taken: list[tuple[str, array[Any], array[Any]]], step: int) -> None:
        import numpy as np

        for key, step_column, value_column in taken:
            steps, values = np.frombuffer(step_column, np.int64), np.frombuffer(value_column)
            self._unwritten.setdefault(key, []).append((steps, values))
            if self._alerts is not None and key != TIME_KEY:
                self._alerts.block(key, steps, values)
        points = {}
        for key, parts in self._unwritten.items():
            steps = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
            values = parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts])
            points[key] = (steps, values)
            finite = np.flatnonzero(np.isfinite(values))
            if len(finite):
                self._last[key] = float(values[finite[-1]])
        if self._store is None:
            self._unwritten.clear()
            return
        clock = points.get(TIME_KEY)
        seconds = float(clock[1][-1]) if clock is not None else _monotonic() - self._t0
        try:
            with self._store_lock:
                self._store.append_points(self.id, points, max(step, 0), seconds)
            self._unwritten.clear()
        except LabdeckError as exc:
            self._warn_once("store", f"cannot write run {self.id} to the store: {exc}; training goes on, and what "
                                     "it logs is kept in memory until the store can take it")
            self._unwritten = {k: [v] for k, v in points.items()}
            held = sum(len(s) for s, _ in points.values())
            if held > MAX_PENDING:
                self._warn_once("dropped", f"run {self.id}: the store has taken nothing for {held:,} points; the "
                                           "oldest are dropped from now on")
                self._unwritten = {k: [(s[-MAX_PENDING // len(points):], v[-MAX_PENDING // len(points):])]
                                   for k, (s, v) in points.items()}

    def _identity(self) -> tuple[int, int] | None:
        if self._store is None:
            return None
        try:
            st = os.stat(self._store.home / "labdeck.db")
        except OSError:
            return None
        return st.st_ino, st.st_dev

    def _check_home(self) -> None:
        """A store removed while the run logs (its home deleted): one warning, and a new store there for the rest."""
        if self._store is None or self._home_id is None or self._identity() == self._home_id:
            return
        home = self._store.home
        with self._store_lock:
            self._store.close()
            self._store = None
        self._warn_once("home", f"the run store {home} was removed while run {self.id} logged: the steps before "
                                f"{max(self._step, 0)} are gone with it; labdeck writes the rest into a new store "
                                "there")
        try:
            store = Store(home)
            store.create_run(self.experiment, self.params, run_id=self.id)
            store.claim(self.id, os.getpid(), process_start_time(os.getpid()), "your script")
            store.emit(RunStarted(self.id, self.experiment, self.params, "your script", ""))
        except LabdeckError as exc:
            self._warn_once("home-lost", f"run {self.id}: no new store at {home} ({exc}); training goes on "
                                         "without one")
            return
        with self._store_lock:
            self._store = store
            self._home_id = self._identity()


def _default_experiment() -> str:
    script = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    return script or "script"


def init(experiment: str | None = None, params: Mapping[str, Any] | None = None,
         home: str | os.PathLike[str] | None = None, *, project: str | None = None, name: str | None = None,
         config: Mapping[str, Any] | None = None, resume: str | None = None, system: bool = True,
         alerts: Sequence[str] = ()) -> Run:
    """Start a run of your own ``experiment`` (any name; ``project`` is the same, as wandb and Trackio call it;
    by default the script's name) with its ``params`` (or ``config``), in the store at ``home`` (default:
    ``LABDECK_HOME`` or the user data directory). It appears in the dashboard's Runs tab at once.

    ``name``: a name for the run beside its id. ``resume``: a run id of an earlier run of your script, to continue
    it (its steps go on from its last one). ``system``: sample this process's CPU, memory and GPU use into the run.
    ``alerts``: watchdog rules on what it logs, beside the settings file's (``"loss>10:stop"``: see ``labdeck
    alerts --help``); a rule that does not parse is one warning, never an error.
    """
    from .engine import registry

    label = names.printable(name or "", 100).strip()
    merged = _plain({**dict(params or {}), **dict(config or {})})
    rules = _rules(alerts)
    if resume:
        return _resume(str(resume), home, merged, system, rules)
    try:
        chosen = names.experiment(experiment or project or _default_experiment())
    except LabdeckError as exc:
        raise ValueError(f"labdeck: {exc}") from None
    if registry.is_own(chosen):
        raise ValueError(f"labdeck: {chosen!r} is one of labdeck's own experiments; give yours another name")
    try:
        store = Store(Path(home) if home else None)
        run_id = store.create_run(chosen, merged, name=label)
        pid = os.getpid()
        store.claim(run_id, pid, process_start_time(pid), "your script")
        store.emit(RunStarted(run_id, chosen, merged, "your script", ""))
        watchdog.ensure(store.home)  # deaths and stalls need someone outside this process
    except LabdeckError as exc:
        _warn(f"cannot record this run ({exc}); training goes on without it")
        return _started(Run(None, "unrecorded", chosen, merged, system=False))
    return _started(Run(store, run_id, chosen, merged, system=system, alerts=rules))


def _rules(texts: Sequence[str]) -> list[Rule]:
    """The script's rules and the settings file's, each that does not parse one warning."""
    from .engine import paths, settings
    from .engine.alerts import rules_for

    rules, bad = rules_for({"alerts": [texts] if isinstance(texts, str) else list(texts)},
                           settings.load(paths.settings()).alert_rules)
    for line in bad:
        _warn(f"{line}; the rule is left out")
    return rules


def _resume(run_id: str, home: str | os.PathLike[str] | None, params: dict[str, Any], system: bool,
            rules: Sequence[Rule] = ()) -> Run:
    from .engine import registry

    try:
        store = Store(Path(home) if home else None)
        info = store.get(run_id)
    except LabdeckError as exc:
        raise ValueError(f"labdeck: cannot resume run {run_id!r}: {exc}") from None
    if registry.is_own(info.experiment):
        raise ValueError(f"labdeck: run {info.id} is a run of labdeck's {info.experiment} experiment: "
                         f"'labdeck resume {info.id}' continues it")
    merged = {**info.params, **params}
    try:
        pid = os.getpid()
        store.claim(info.id, pid, process_start_time(pid), "your script")
        if params:
            store.set_params(info.id, merged)
        last_step = info.epochs if info.points else -1
        store.emit(RunStarted(info.id, info.experiment, merged, "your script", "",
                              resumed_from_epoch=max(last_step, 0)))
    except StoreError as exc:
        _warn(f"cannot record the resumed run ({exc}); training goes on without it")
        return _started(Run(None, info.id, info.experiment, merged, system=False))
    except LabdeckError as exc:  # another live process has it
        raise ValueError(f"labdeck: cannot resume run {info.id}: {exc}") from None
    return _started(Run(store, info.id, info.experiment, merged, last_step, info.train_seconds, system, rules))


def _started(run: Run) -> Run:
    from . import current

    current.started(run)
    run._record_provenance()
    return run
