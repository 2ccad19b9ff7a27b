"""Sweeps: many runs of one experiment over a grid and/or random ranges of hyperparameters.

Trials are ordinary runs in the store, tagged with the sweep's id and created (validated) up front, so a bad value
creates nothing. ``run`` starts them as detached run processes, ``parallel`` at a time; a failed trial does not stop
the sweep. Stopping a sweep stops its trials (they checkpoint); ``run`` again continues the ones not finished.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import registry, runs
from .errors import LabdeckError, ParamError, RunNotFound
from .events import LogLine
from .params import parse_budget
from .scores import best, ranked  # noqa: F401 - a sweep's trials, best first
from .status import ACTIVE, Status
from .store import RunInfo, Store

POLL_SECONDS = 0.5
DONE = (Status.FINISHED, Status.FAILED)


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def draw(self, rng: random.Random) -> float | int:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return round(value) if self.integer else float(f"{value:.4g}")


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise ParamError(f"grid: expected KEY=V1,V2,... (got {item!r})")
        grid[key.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    return grid


def parse_ranges(items: list[str], experiment: str) -> dict[str, Range]:
    spec = registry.get(experiment)
    out: dict[str, Range] = {}
    for item in items:
        key, sep, rest = item.partition("=")
        parts = rest.split(":")
        if not sep or len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise ParamError(f"range: expected KEY=LOW:HIGH[:log] (got {item!r})")
        if key not in spec.params:
            raise ParamError(f"range: {key}: unknown parameter of {experiment}")
        param = spec.params[key]
        if param.type not in ("int", "float"):
            raise ParamError(f"range: {key} is not numeric; give its values with --grid")
        try:
            low, high = float(parts[0]), float(parts[1])
        except ValueError:
            raise ParamError(f"range: {key}: {parts[0]!r} and {parts[1]!r} must be numbers") from None
        if not low < high or (len(parts) == 3 and low <= 0):
            raise ParamError(f"range: {key}: need LOW < HIGH (and LOW > 0 for log)")
        out[key] = Range(low, high, len(parts) == 3, param.type == "int")
    return out


def plan(experiment: str, base: dict[str, Any], grid: dict[str, list[str]], random_n: int = 0,
         ranges: dict[str, Range] | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Every trial's overrides: the grid's product, times ``random_n`` draws from the ranges."""
    ranges = ranges or {}
    if random_n and not ranges:
        raise ParamError("random: give the ranges to draw from with --range KEY=LOW:HIGH[:log]")
    if ranges and not random_n:
        raise ParamError("range: give the number of random trials with --random N")
    keys = list(grid)
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))] or [{}]
    rng = random.Random(seed)
    draws = [{k: r.draw(rng) for k, r in ranges.items()} for _ in range(random_n)] or [{}]
    trials = [{**base, **point, **draw} for point in points for draw in draws]
    if len(trials) < 2:
        raise ParamError("sweep: give at least two trials (--grid KEY=V1,V2 or --random N --range ...)")
    spec = registry.get(experiment)
    for t in trials:
        spec.resolve(t)  # every trial is valid before any run exists
    return trials


BACKENDS = ("local", "ray")


def check_options(parallel: int, budget: float | None, backend: str = "local", asha: bool = False,
                  gpus_per_trial: float | None = None, address: str | None = None, per_gpu: int | None = None
                  ) -> None:
    """How a sweep runs, checked before anything is created (the CLI and the dashboard share it)."""
    if parallel < 1:
        raise ParamError(f"parallel: must be an integer >= 1 (got {parallel})")
    if per_gpu is not None and per_gpu < 1:
        raise ParamError(f"per-gpu: must be an integer >= 1 (got {per_gpu})")
    if per_gpu is not None and backend == "ray":
        raise ParamError("per-gpu is for local sweeps; on Ray, --gpus-per-trial 0.5 packs two trials a GPU")
    parse_budget(budget)
    if backend not in BACKENDS:
        raise ParamError(f"backend: must be one of {', '.join(BACKENDS)} (got {backend!r})")
    if backend != "ray" and (asha or gpus_per_trial is not None or address):
        raise ParamError("address, asha and gpus-per-trial need --backend ray")
    if gpus_per_trial is not None and not gpus_per_trial >= 0:
        raise ParamError(f"gpus-per-trial: must be >= 0 (got {gpus_per_trial:g})")
    if backend == "ray":
        from .ray_backend import check_address, require

        require()
        check_address(address)


PREFIX = "sw-"  # a sweep's id starts so; a run's never does


def is_sweep(target: str) -> bool:
    """Whether ``stop``/``resume`` of ``target`` means a sweep (its trials, its runner) rather than one run."""
    return target.startswith(PREFIX)


def create(store: Store, experiment: str, trials: list[dict[str, Any]], budget: float | None = None,
           options: dict[str, Any] | None = None, budget_kind: str = "wall", alerts: Sequence[str] = ()) -> str:
    """Record the sweep's trials (queued runs) and how it runs (``options``: parallel, backend, ...); ``alerts``:
    every trial's watchdog rules (a rule's stop stops that trial)."""
    sweep_id = PREFIX + time.strftime("%y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    for overrides in trials:
        runs.create(store, experiment, overrides, budget, sweep=sweep_id,
                    here=(options or {}).get("backend") != "ray", budget_kind=budget_kind, alerts=alerts)
    store.set_sweep_options(sweep_id, options or {})
    return sweep_id


def start(store: Store, asked: dict[str, Any]) -> tuple[str, int]:
    """Plan, check, create and start a sweep from what the dashboard's dialog holds (``experiment``, ``base``,
    ``grid`` and ``ranges`` as KEY=... words, ``random``, ``budget`` text, ``parallel``, ``backend``, ``address``,
    ``asha``); returns its id and its number of trials. A host does the same for a dialog elsewhere."""
    experiment = str(asked["experiment"])
    trials = plan(experiment, dict(asked["base"]), parse_grid(list(asked["grid"])), int(asked["random"]),
                  parse_ranges(list(asked["ranges"]), experiment))
    budget = parse_budget(asked["budget"])
    check_options(int(asked["parallel"]), budget, str(asked["backend"]), asha=bool(asked["asha"]),
                  address=asked["address"])
    chosen = {k: asked[k] for k in ("parallel", "backend", "address", "asha")}
    sweep_id = create(store, experiment, trials, budget, chosen)
    spawn(store, sweep_id, int(asked["parallel"]))
    return sweep_id, len(trials)


def trials(store: Store, sweep_id: str) -> list[RunInfo]:
    found = [r for r in store.runs() if r.sweep == sweep_id]
    if not found:
        matches = sorted({r.sweep for r in store.runs() if r.sweep and r.sweep.startswith(sweep_id)})
        if len(matches) == 1:
            return trials(store, matches[0])
        raise RunNotFound(f"no sweep {sweep_id!r} in {store.home}")
    return found


def full_id(infos: list[RunInfo]) -> str:
    """The sweep's full id, from its trials (``trials`` accepts a unique prefix)."""
    return infos[0].sweep or ""


def swept_keys(infos: list[RunInfo]) -> list[str]:
    """The parameters whose values differ between trials."""
    keys = list(infos[0].params)
    return [k for k in keys if len({repr(i.params.get(k)) for i in infos}) > 1]




def spawn(store: Store, sweep_id: str, parallel: int = 1) -> int:
    """Run the sweep's unfinished trials from a detached process (``labdeck sweep-run``) that outlives this one."""
    import subprocess
    import sys

    from .procs import process_start_time

    with open(store.home / f"{sweep_id}.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "labdeck.engine", "--home", str(store.home), "sweep-run",
                                 sweep_id, "--parallel", str(parallel)], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    # its trials wait for it from now on (it writes the same itself once started)
    _runner_file(store, sweep_id).write_text(json.dumps([proc.pid, process_start_time(proc.pid)]))
    runs.track(proc)
    return proc.pid


def resume(store: Store, sweep_id: str, parallel: int | None = None) -> str:
    """Continue a stopped or interrupted sweep's unfinished trials in the background (as many at a time as
    before, and on the same backend, unless ``parallel`` says otherwise)."""
    infos = trials(store, sweep_id)
    sweep_id = full_id(infos)
    if all(i.status in DONE for i in infos):
        raise LabdeckError(f"sweep {sweep_id}: every trial has ended; nothing to resume")
    if runner_alive(store, sweep_id):
        raise LabdeckError(f"sweep {sweep_id} is running; stop it first or let it finish")
    for info in infos:
        if info.status in (Status.STOPPED, Status.INTERRUPTED, Status.QUEUED):
            store.request(info.id, "run")
    spawn(store, sweep_id, parallel or store.sweep_options(sweep_id).get("parallel", 1))
    return sweep_id


def _runner_file(store: Store, sweep_id: str) -> Path:
    return store.home / f"{sweep_id}.runner"


def runner_alive(store: Store, sweep_id: str) -> int | None:
    """The pid of the process running this sweep's trials, if one is alive (one runner per sweep)."""
    from .procs import process_alive

    try:
        pid, start = json.loads(_runner_file(store, sweep_id).read_text())
    except (OSError, ValueError):
        return None
    return pid if process_alive(pid, start) else None


def stop(store: Store, sweep_id: str, settle: float = 30.0) -> list[str]:
    """Stop the sweep: queued trials will not start, active ones checkpoint and stop, and its runner ends.

    A local runner goes first, so that it cannot start the next trial meanwhile. A Ray driver goes last: a Ray
    worker's children die with it, so the trials must record their stop first (Ray trials that have not
    started see the stop request and return at once).
    """
    sweep_id = full_id(trials(store, sweep_id))
    ray = store.sweep_options(sweep_id).get("backend") == "ray"
    if not ray:
        _stop_runner(store, sweep_id, settle)
    stopped, running = [], []
    for info in trials(store, sweep_id):
        if info.status in ACTIVE:
            if info.status == Status.QUEUED and not info.pid:
                store.request(info.id, "stop")  # a runner skips it
                store.set_status(info.id, Status.STOPPED, "sweep stopped before this trial started")
            else:
                runs.stop(store, info.id)
                running.append(info.id)
            stopped.append(info.id)
    if ray:
        deadline = time.monotonic() + settle
        while running and time.monotonic() < deadline:
            running = [r for r in running if store.get(r).status in ACTIVE]
            time.sleep(0.2)
        _stop_runner(store, sweep_id, settle)
    return stopped


def _stop_runner(store: Store, sweep_id: str, settle: float) -> None:
    import os
    import signal

    pid = runner_alive(store, sweep_id)
    if pid and pid != os.getpid():
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
        deadline = time.monotonic() + settle  # a Ray driver takes seconds to shut down; resume waits for it
        while runner_alive(store, sweep_id) and time.monotonic() < deadline:
            time.sleep(0.2)


class GpuSlots:
    """Which GPU each of a local sweep's trials trains on: the least busy of the GPUs this machine lets runs use,
    with at most ``per_gpu`` trials on one. Trials that ask for a CPU, or for a GPU by number, get none."""

    def __init__(self, per_gpu: int):
        from . import accelerators, gpus

        self.per_gpu = per_gpu
        self.gpus = gpus.visible() if accelerators.has_gpu_driver() else []
        self.placed: dict[str, str] = {}

    def take(self, run_id: str, device: str) -> str | bool | None:
        """The GPU for this trial; None: it needs none; False: every GPU is full."""
        if not self.gpus or device not in ("auto", "cuda"):
            return None
        load = {g: 0 for g in self.gpus}
        for gpu in self.placed.values():
            load[gpu] += 1
        gpu = min(self.gpus, key=lambda g: load[g])
        if load[gpu] >= self.per_gpu:
            return False
        self.placed[run_id] = gpu
        return gpu

    def release(self, active: set[str]) -> None:
        """Free the GPUs of trials that ended."""
        for run_id in [r for r in self.placed if r not in active]:
            del self.placed[run_id]


def run(store: Store, sweep_id: str, parallel: int = 1, on_trial: Callable[[RunInfo], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False) -> list[RunInfo]:
    """Run the sweep's unfinished trials, ``parallel`` at a time, until all have ended (or it is stopped)."""
    check_options(parallel, None)
    import os

    from .procs import process_start_time

    infos = trials(store, sweep_id)
    sweep_id = full_id(infos)
    if (other := runner_alive(store, sweep_id)) and other != os.getpid():
        raise LabdeckError(f"sweep {sweep_id} is already running in process {other}")
    _runner_file(store, sweep_id).write_text(json.dumps([os.getpid(), process_start_time(os.getpid())]))
    # what this call must still run: queued trials, and stopped/interrupted ones (resumed from checkpoints)
    todo = [i.id for i in infos if i.status not in DONE and i.status not in (Status.RUNNING, Status.PAUSED)]
    active: set[str] = {i.id for i in infos if i.status in (Status.RUNNING, Status.PAUSED)}
    reported: set[str] = {i.id for i in infos if i.status in DONE}
    for run_id in todo:
        store.request(run_id, "run")  # clear an earlier stop of the sweep
    opts = store.sweep_options(sweep_id)
    if opts.get("backend") == "ray":
        from .ray_backend import run_trials

        run_trials(store, sweep_id, todo, parallel, opts, on_trial)
        return trials(store, sweep_id)
    gpus = GpuSlots(opts.get("per_gpu") or 1)
    while True:
        if should_stop():
            stop(store, sweep_id)
            todo = []
        current = {i.id: i for i in trials(store, sweep_id)}
        for run_id in list(active):
            info = current[run_id]
            if info.status not in ACTIVE:
                active.discard(run_id)
                if run_id not in reported:
                    reported.add(run_id)
                    if on_trial:
                        on_trial(info)
        gpus.release(active)
        while todo and len(active) < parallel:
            run_id = todo[0]
            info = current[run_id]
            if info.control == "stop":  # the sweep was stopped from elsewhere
                todo = []
                break
            gpu = gpus.take(run_id, info.params.get("device", "auto"))
            if gpu is False:
                break  # every GPU has its trials: the next waits for one
            todo.pop(0)
            env = {"CUDA_VISIBLE_DEVICES": gpu} if isinstance(gpu, str) else None
            if info.status in (Status.STOPPED, Status.INTERRUPTED) and store.checkpoint_path(run_id).exists():
                runs.resume(store, run_id, env=env)
            else:
                store.set_status(run_id, Status.QUEUED, "")
                runs.spawn(store, run_id, env=env)
            if gpu:
                store.emit(LogLine(run_id, f"sweep: trains on GPU {gpu} (CUDA_VISIBLE_DEVICES={gpu}), "
                                           f"{gpus.per_gpu} trial{'s' if gpus.per_gpu > 1 else ''} a GPU at most"))
            active.add(run_id)
        runs.reap()
        if not todo and not active:
            return trials(store, sweep_id)
        time.sleep(POLL_SECONDS)
