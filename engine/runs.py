"""Starting and controlling runs. Each run is an OS process of its own; control goes through the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import accelerators, paths, registry, settings, warm, watchdog
from .alerts import parse_rules, rules_for
from .budget import WALL
from .errors import LabdeckError, StoreError
from .events import Event, RunEnded
from .params import ParamError, parse_budget
from .procs import process_start_time
from .status import ACTIVE, RESUMABLE, Status
from .store import Store


def create(store: Store, experiment: str, overrides: dict[str, Any], budget: float | None = None,
           sweep: str | None = None, here: bool = True, budget_kind: str = WALL, alerts: Sequence[str] = ()) -> str:
    """Validate everything first (bad input creates no run), then record a queued run. ``here``: it runs on this
    machine, which must have the device it asks for (a Ray trial may land on another). ``budget_kind``: what
    ``budget`` counts (``engine/budget.py``: the whole run's seconds, or its training's). ``alerts``: the user's
    watchdog rules for this run (``engine/alerts.py``)."""
    spec = registry.get(experiment)
    params = spec.resolve(overrides)
    rules = [r.text for r in parse_rules(alerts)]
    why = accelerators.missing(params.get("device", "auto")) if here else None
    if why:
        raise ParamError(f"device: {why} (got {params['device']!r})")
    if damage := store.check():  # a run would write into a file SQLite finds corrupt, and build on the damage
        raise StoreError(damage)
    run_id = store.create_run(experiment, params, parse_budget(budget), sweep, budget_kind=budget_kind)
    if rules:
        store.set_meta(run_id, {"alerts": rules})
    return run_id


def delete(store: Store, run_id: str) -> str:
    """Delete a run and its files; an active run cannot be deleted (it would go on writing)."""
    info = store.get(run_id)
    if info.status in ACTIVE:
        raise LabdeckError(f"run {info.id} is {info.status}; stop it before deleting it")
    store.delete_run(info.id)
    return info.id


def run_here(store: Store, run_id: str, resume: bool = False,
             on_event: Callable[[Event], None] | None = None,
             stop_requested: Callable[[], bool] = lambda: False, since: float | None = None) -> RunEnded:
    """Train ``run_id`` in this process (foreground CLI and the detached worker). ``since``: when a wall budget
    started, if before the run's creation (the command that created it)."""
    from .experiment import Experiment
    from .trainer import Trainer  # imports torch: only run processes pay for it

    info = store.get(run_id)
    experiment = Experiment.of(registry.get(info.experiment))
    chosen = settings.load(paths.settings())
    rules, bad = rules_for(info.meta, chosen.alert_rules)
    trainer = Trainer(store, experiment, info.id, info.params, info.budget, on_event, stop_requested,
                      budget_kind=info.budget_kind, created=min(since or info.created, info.created),
                      alert_rules=rules, plateau=chosen.plateau)
    for line in bad:  # a rule in the settings file that does not parse: said in the run's log, not fatal
        trainer.log(f"settings: {line}")
    watchdog.ensure(store.home)  # a foreground run dies with its terminal's session: someone outside tells
    return trainer.run(resume=resume)


_children: list[subprocess.Popen[bytes]] = []  # runs this process started, reaped by reap()


def spawn(store: Store, run_id: str, resume: bool = False, stop_with_parent: bool = False,
          env: dict[str, str] | None = None) -> int:
    """Start the run in a detached process that outlives this one (its own session: no SIGHUP), or, with
    ``stop_with_parent``, one that stops cleanly when this process ends. ``env``: set for that process (the GPU a
    sweep gives it). The process is forked from the warm process where one serves (see ``warm``), else started
    afresh (and a warm process with it, for the next run); a Ray trial's run always starts afresh."""
    log_path = store.run_dir(run_id) / "output.log"
    args = ["--home", str(store.home), run_id]
    if resume:
        args.append("--resume")
    if stop_with_parent:
        args += ["--stop-with-parent", str(os.getpid())]
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    # a Ray trial's run starts afresh: its trial reads its end from its staging store as the process exits
    pid = None if stop_with_parent else warm.start(args, env, log_path)
    if pid is None:
        log = os.fdopen(os.open(log_path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600), "ab")
        try:
            proc = subprocess.Popen([sys.executable, "-m", "labdeck.engine.worker", *args], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                    close_fds=True)
        finally:
            log.close()
        pid = proc.pid
        track(proc)
        if not stop_with_parent and (server := warm.launch()) is not None:
            track(server)
    store.set_process(run_id, pid, process_start_time(pid))
    watchdog.ensure(store.home)  # deaths and stalls need someone outside the run
    return pid


def process(pid: int) -> subprocess.Popen[bytes] | None:
    """The child this process started with ``pid``, if it is one (a warm-started run is the warm process's)."""
    return next((p for p in _children if p.pid == pid), None)


def track(proc: subprocess.Popen[bytes]) -> None:
    """Remember a child process so that :func:`reap` collects it when it exits."""
    _children.append(proc)


def reap() -> None:
    """Collect exited children so they do not linger as zombies in a long-lived parent (the dashboard)."""
    for proc in list(_children):
        if proc.poll() is not None:
            _children.remove(proc)


def pause(store: Store, run_id: str) -> str:
    info = store.get(run_id)
    if info.status != Status.RUNNING:
        raise LabdeckError(f"run {info.id} is {info.status}; only a running run can be paused")
    store.request(info.id, "pause")
    return info.id


def stop(store: Store, run_id: str) -> str:
    info = store.get(run_id)
    if info.status not in ACTIVE:
        raise LabdeckError(f"run {info.id} is {info.status}; only a queued, running or paused run can be stopped")
    store.request(info.id, "stop")
    # a queued run's worker may not have its SIGTERM handler yet (Python is still starting): the store's request
    # reaches it when it claims the run; a running one may be loading data and not poll the store for a while
    # a script logging through labdeck.init is not signalled: it sees the request at its next log or should_stop()
    own = registry.is_own(info.experiment)
    if own and info.status != Status.QUEUED and info.pid and info.pid != os.getpid() and info.local:
        try:
            os.kill(info.pid, signal.SIGTERM)  # reaches a run still loading data, before it polls the store
        except OSError:
            pass
    return info.id


def resume(store: Store, run_id: str, env: dict[str, str] | None = None) -> str:
    """Unpause a paused run, or continue a stopped, interrupted or failed run from its last checkpoint (from the
    start if it has none)."""
    info = store.get(run_id)
    if info.status == Status.PAUSED or (info.status == Status.RUNNING and info.control == "pause"):
        store.request(info.id, "run")
        return info.id
    if info.status in RESUMABLE and not registry.is_own(info.experiment):
        raise ParamError(f"run {info.id} is a script's run: labdeck cannot start your script again; run it with "
                         f"labdeck.init(resume={info.id!r}) to continue this run")
    if info.status in RESUMABLE and info.epochs and \
            not store.checkpoint_path(info.id).exists():
        raise ParamError(f"run {info.id} trained {info.epochs} epochs but its checkpoint is gone "
                         f"({store.checkpoint_path(info.id)}): resuming would train it again from the first epoch over "
                         f"them; start a new run with its parameters instead")
    if info.status in RESUMABLE:
        # without a checkpoint (it ended before its first was written) it starts again from the first epoch
        refused = store.requeue(info.id)  # of two resumes at once, one starts a worker
        if refused:
            raise LabdeckError(f"run {info.id} is {refused}; nothing to resume")
        spawn(store, info.id, resume=True, env=env)
        return info.id
    raise LabdeckError(f"run {info.id} is {info.status}; nothing to resume")
