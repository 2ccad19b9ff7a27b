"""Sweeps on Ray Tune (``labdeck sweep ... --backend ray``).

Each Tune trial trains one of the sweep's runs: it starts the ordinary run process on the node Tune placed it on,
passes each finished epoch to Tune (so ASHA can stop poor trials early), and ends when the run ends. Runs write
into the store as always, so the CLI and the dashboard show Ray trials like local ones.

Ray is an optional extra (``pip install 'labdeck[ray]'``). On a cluster (``--address``), every node needs labdeck
installed and the run store at the same path (a shared file system such as the lab's NFS home).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

from . import registry, runs
from .errors import ParamError, one_line
from .events import EpochMetrics
from .store import ACTIVE, RunInfo, Store

NOT_METRICS = ("epoch", "lr", "train_seconds")  # per-epoch bookkeeping in the history, not results
SETTLE_SECONDS = 60.0  # how long a stopped trial's run may take to checkpoint and record its end
INSTALL = "ray needs Ray Tune, an optional extra: pip install 'labdeck[ray]'"


def require() -> None:
    """A one-line error instead of an ImportError when the extra is not installed. Only looks for the package:
    importing Ray takes seconds and hundreds of MB, which the dashboard must not pay for a form check."""
    import importlib.util

    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ParamError(f"backend: {INSTALL}")


def check_address(address: str | None) -> None:
    """Fail in seconds, in one line, where Ray itself would retry a wrong address for minutes."""
    import socket
    from urllib.parse import urlsplit

    if not address or address == "auto":
        return
    parts = urlsplit(address if "://" in address else "//" + address)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise ParamError(f"address: expected HOST:PORT or ray://HOST:PORT (got {address!r})")
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        raise ParamError(f"address: cannot reach a Ray cluster at {host}:{port} "
                         f"({exc.strerror or exc.__class__.__name__})") from None


def train_trial(config: dict[str, Any]) -> None:
    """One Tune trial (runs in a Ray worker, possibly on another node): train run ``config['run_id']``."""
    from ray import tune

    store = Store(config["home"])
    run_id = config["run_id"]
    info = store.get(run_id)
    if info.control == "stop":  # the sweep was stopped while this trial waited for a slot
        return
    resume = info.status in ("stopped", "interrupted") and store.checkpoint_path(run_id).exists()
    after = store.last_event_id()  # only the epochs from now on (a resumed run's earlier ones were reported)
    store.set_status(run_id, "queued", "")
    # stop_with_parent: when Tune stops the trial (ASHA), this actor dies and the run checkpoints and stops
    proc = runs.process(runs.spawn(store, run_id, resume=resume, stop_with_parent=True))
    while True:
        exited = proc.poll() is not None
        for event_id, event in store.events(run_id, after):
            after = event_id
            if isinstance(event, EpochMetrics):
                metrics = {k: v for k, v in event.metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
                tune.report({**metrics, "epoch": event.epoch, "train_seconds": event.train_seconds})
        if exited:
            return
        time.sleep(0.5)


def _settle(store: Store, run_id: str) -> RunInfo:
    """The run's record once its process has recorded how it ended (or the wait is over)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    info = store.get(run_id)
    while info.status in ACTIVE and time.monotonic() < deadline:
        time.sleep(0.25)
        info = store.get(run_id)
    return info


def _record(store: Store, run_id: str, pruned: bool, error: str | None) -> RunInfo:
    """Make the store say how a Tune trial ended.

    A trial ASHA stopped early (``pruned``) is asked to stop through the store (the clean way, on any node; its
    actor may outlive the decision), then recorded as finished with its last epoch's metrics, so that it ranks
    with the rest. A trial that died without recording its end becomes failed.
    """
    if pruned:
        store.request(run_id, "stop")
    info = _settle(store, run_id)
    if pruned and info.status in ("stopped", "interrupted", "finished") and not error:
        history = store.history(run_id)
        epochs = len(history.get("train_loss", [])) or info.epochs
        if info.status != "finished":  # "interrupted": the actor took the run down before it recorded its stop
            last = {k: v[-1] for k, v in history.items() if k not in NOT_METRICS and v and v[-1] is not None
                    and math.isfinite(v[-1])}
            store.finish(run_id, "finished", last, info.train_seconds, epochs,
                         f"stopped early by ASHA after {epochs} epochs")
    elif info.status in (*ACTIVE, "interrupted"):
        store.finish(run_id, "failed", info.metrics, info.train_seconds, info.epochs,
                     f"the Ray trial ended: {error or 'without the run recording its end'}")
    return store.get(run_id)


def run_trials(store: Store, sweep_id: str, todo: list[str], parallel: int, options: dict[str, Any],
               on_trial: Callable[[RunInfo], None] | None = None) -> None:
    """Run ``todo`` (run ids of the sweep) as Tune trials, ``parallel`` at a time, until all have ended."""
    if not todo:
        return
    try:
        import ray
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
    except ImportError:
        _fail(store, todo, INSTALL)
        raise ParamError(f"backend: {INSTALL}") from None
    # a run that fails before its first epoch reports no metric; its store record says why
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # verbose=0 alone still prints a table
    infos = {i.id: i for i in (store.get(r) for r in todo)}
    spec = registry.get(next(iter(infos.values())).experiment)
    try:
        ray.init(address=options.get("address") or None, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", ignore_reinit_error=True)
    except Exception as exc:
        message = f"cannot start Ray at {options.get('address') or 'a local instance'} ({one_line(exc)})"
        _fail(store, todo, message)
        raise ParamError(f"backend: {message}") from None
    gpus = options.get("gpus_per_trial")
    if gpus is None:  # one GPU per trial where the cluster has GPUs and the trials may use them
        wants_gpu = any(i.params.get("device") in ("auto", "cuda") for i in infos.values())
        gpus = 1 if wants_gpu and ray.cluster_resources().get("GPU", 0) >= 1 else 0

    scheduler = None
    if options.get("asha"):
        epochs = max((i.params.get("epochs", 1) for i in infos.values()), default=1)
        scheduler = ASHAScheduler(metric=spec.target, mode=spec.target_mode, time_attr="training_iteration",
                                  max_t=max(1, epochs), grace_period=1, reduction_factor=2)
    tuner = tune.Tuner(
        tune.with_resources(train_trial, {"cpu": 1, "gpu": gpus}),
        param_space={"home": str(store.home.resolve()), "run_id": tune.grid_search(todo)},
        tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=parallel, reuse_actors=False),
        run_config=tune.RunConfig(name=sweep_id, storage_path=str((store.home / "ray").resolve()), verbose=0,
                                  callbacks=[_recorder(str(store.home), on_trial)],
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )
    try:
        tuner.fit()
    finally:
        if not options.get("address"):
            ray.shutdown()


def _fail(store: Store, todo: list[str], message: str) -> None:
    """Trials that cannot start end as failed, with the reason the dashboard and the CLI show."""
    for run_id in todo:
        store.finish(run_id, "failed", {}, 0.0, 0, message)


def _recorder(home: str, on_trial: Callable[[RunInfo], None] | None):
    """A Tune callback (on the driver) that records each trial's end in the store as it happens."""
    from ray import tune

    class Record(tune.Callback):
        _store: Store | None = None  # opened on the first trial's end, on the driver

        def __getstate__(self):  # Tune saves its callbacks with the experiment: keep the store connection out
            return {}

        def on_trial_complete(self, iteration, trials, trial, **info):
            # a trial's function returns only after its run has recorded its end: a run still active was
            # stopped by the scheduler
            self._done(trial, None)

        def on_trial_error(self, iteration, trials, trial, **info):
            self._done(trial, _last_line(trial.error_file) if trial.error_file else "error")

        def _done(self, trial, error):
            store = self._store = self._store or Store(home)
            run_id = trial.config["run_id"]
            pruned = error is None and store.get(run_id).status in ACTIVE
            ended = _record(store, run_id, pruned, error)
            if on_trial:
                on_trial(ended)

    return Record()


def _last_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
    except OSError:
        return "error"
    return lines[-1][:300] if lines else "error"
