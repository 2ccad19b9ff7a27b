"""Sweeps on Ray Tune (``labdeck sweep ... --backend ray``).

Each Tune trial trains one of the sweep's runs: it starts the ordinary run process on the node Tune placed it on,
forwards what the run records to the sweep's store on the driver's host (``ray_relay``), passes each finished
epoch to Tune (so ASHA can stop poor trials early), and ends when the run ends. The CLI and the dashboard show Ray
trials like local ones.

Ray is an optional extra (``pip install 'labdeck[ray]'``). On a cluster (``--address``), every node needs labdeck
installed; nothing needs a shared file system.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from . import ray_relay, registry, runs
from .errors import ParamError, one_line
from .status import ACTIVE, Status
from .store import HOST, RunInfo, Store

NOT_METRICS = ("epoch", "lr", "train_seconds")  # per-epoch bookkeeping in the history, not results
SETTLE_SECONDS = 120.0  # how long a trial's run may take for its final evaluation
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
    """One Tune trial (runs in a Ray worker, possibly on another node): train run ``config['run_id']`` into this
    node's staging store and forward what it records to the sweep's store (see ``ray_relay``)."""
    import ray
    from ray import tune

    mailbox = ray.get_actor(config["mailbox"], namespace=ray_relay.NAMESPACE)
    run_id = config["run_id"]
    if ray.get(mailbox.control.remote(run_id)) == "stop":  # the sweep was stopped while this trial waited
        return
    info, resume_from = ray.get(mailbox.start.remote(run_id))
    staging = ray_relay.open_staging(config["home"], info, resume_from)
    # stop_with_parent: when Tune stops the trial (ASHA), this actor dies and the run checkpoints and stops
    proc = runs.process(runs.spawn(staging, run_id, resume=resume_from is not None, stop_with_parent=True))
    assert proc is not None  # stop_with_parent: a child of this process, never a warm process's
    forwarder = ray_relay.Forwarder(staging, run_id, mailbox)
    control = "run"
    while True:
        exited = proc.poll() is not None
        if (wanted := ray.get(mailbox.control.remote(run_id))) != control:
            control = wanted
            staging.request(run_id, control)
        # each epoch reaches the sweep's store before Tune (and ASHA) hears of it
        for epoch in forwarder.forward(ended=exited):
            if epoch["epochs"] and epoch["epoch"] >= epoch["epochs"] and not exited:
                # the last one: Tune may end the trial once it hears of it, so the run's final evaluation and end
                # go to the store first
                try:
                    proc.wait(timeout=SETTLE_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
                exited = proc.poll() is not None
                forwarder.forward(ended=exited)
            metrics = {k: v for k, v in epoch["metrics"].items() if isinstance(v, (int, float)) and math.isfinite(v)}
            tune.report({**metrics, "epoch": epoch["epoch"], "train_seconds": epoch["train_seconds"]})
        if exited:
            ray_relay.drop_staging(staging, run_id)
            return
        time.sleep(0.5)


def _record(store: Store, run_id: str, pruned: bool, error: str | None) -> RunInfo:
    """Make the store say how a Tune trial ended, once its forwarded records are written.

    A trial ASHA stopped early (``pruned``) is recorded as finished with its last epoch's metrics, so that it ranks
    with the rest (its run, on whatever node, stops itself with its trial). A trial that ended without its run
    recording its end (its node died, its worker was killed) becomes failed with the reason Ray gives.
    """
    info = store.get(run_id)
    if pruned and not error:
        history = store.history(run_id)
        epochs = len(history.get("train_loss", [])) or info.epochs
        last = {k: v[-1] for k, v in history.items() if k not in NOT_METRICS and v and v[-1] is not None
                and math.isfinite(v[-1])}
        # at its last epoch, Tune ends the trial (ASHA's max_t) before the run's own end is forwarded: not early
        complete = not info.budget and epochs >= info.params.get("epochs", math.inf)
        store.finish(run_id, Status.FINISHED, last, info.train_seconds, epochs,
                     "" if complete else f"stopped early by ASHA after {epochs} epochs")
    elif info.status in (*ACTIVE, Status.INTERRUPTED):
        store.finish(run_id, Status.FAILED, info.metrics, info.train_seconds, info.epochs,
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
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    except ImportError:
        _fail(store, todo, INSTALL)
        raise ParamError(f"backend: {INSTALL}") from None
    # a run that fails before its first epoch reports no metric; its store record says why
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # verbose=0 alone still prints a table
    infos = {i.id: i for i in (store.get(r) for r in todo)}
    spec = registry.get(next(iter(infos.values())).experiment)
    owned = not ray.is_initialized()  # a caller's own connection to a cluster stays theirs, open
    try:
        # "local": a new instance, never a cluster that `ray start` once left its address behind for
        ray.init(address=options.get("address") or "local", include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, ignore_reinit_error=True)
    except Exception as exc:
        message = f"cannot start Ray at {options.get('address') or 'a local instance'} ({one_line(exc)})"
        _fail(store, todo, message)
        raise ParamError(f"backend: {message}") from None
    gpus = options.get("gpus_per_trial")
    if gpus is None:  # one GPU per trial where the cluster has GPUs and the trials may use them
        wants_gpu = any(i.params.get("device", "auto") == "auto" or i.params["device"].startswith("cuda")
                        for i in infos.values())
        gpus = 1 if wants_gpu and ray.cluster_resources().get("GPU", 0) >= 1 else 0

    scheduler = None
    if options.get("asha"):
        epochs = max((i.params.get("epochs", 1) for i in infos.values()), default=1)
        scheduler = ASHAScheduler(metric=spec.target, mode=spec.target_mode, time_attr="training_iteration",
                                  max_t=max(1, epochs), grace_period=1, reduction_factor=2)
    home = str(store.home.resolve())
    name = ray_relay.mailbox_name(sweep_id)
    # on the driver's node (its host writes the store) where it has one; a Ray Client driver has none
    here = ray.get_runtime_context().get_node_id()
    placement = NodeAffinitySchedulingStrategy(here, soft=False) if here else None
    mailbox = ray.remote(ray_relay.Mailbox).options(
        name=name, namespace=ray_relay.NAMESPACE, num_cpus=0, scheduling_strategy=placement,
    ).remote(ray_relay.starts(store, todo))
    relay = ray_relay.Relay(store, mailbox, todo)
    tuner = tune.Tuner(
        tune.with_resources(train_trial, {"cpu": 1, "gpu": gpus}),
        param_space={"home": f"{HOST}:{home}", "mailbox": name, "run_id": tune.grid_search(todo)},
        tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=parallel, reuse_actors=False),
        run_config=tune.RunConfig(name=sweep_id, storage_path=str((store.home / "ray").resolve()), verbose=0,
                                  callbacks=[_recorder(store, relay, on_trial)],
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )
    try:
        tuner.fit()
    finally:
        relay.close()
        if owned:  # a driver left connected has Tune's exit hook wait a minute on a cluster gone by then
            ray.shutdown()


def _fail(store: Store, todo: list[str], message: str) -> None:
    """Trials that cannot start end as failed, with the reason the dashboard and the CLI show."""
    for run_id in todo:
        store.finish(run_id, Status.FAILED, {}, 0.0, 0, message)


def _recorder(store: Store, relay: ray_relay.Relay, on_trial: Callable[[RunInfo], None] | None) -> Any:
    """A Tune callback (on the driver) that records each trial's end in the store as it happens."""
    from ray import tune

    class Record(tune.Callback):
        def __init__(self, store: Store, relay: ray_relay.Relay, on_trial: Callable[[RunInfo], None] | None):
            self.store, self.relay, self.on_trial = store, relay, on_trial

        def __getstate__(self) -> dict[str, Any]:
            # Tune saves its callbacks with the experiment: keep the store connection out
            return {}

        def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            # a trial's function returns only after forwarding its run's end: a run still active was stopped by
            # the scheduler
            self._done(trial, None)

        def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            self._done(trial, _last_line(trial.error_file) if trial.error_file else "error")

        def _done(self, trial: Any, error: str | None) -> None:
            run_id = trial.config["run_id"]
            try:
                self.relay.drain()  # what the trial forwarded before it ended
            except Exception:
                pass  # the mailbox is gone with the cluster: record what the store has
            # as the run last recorded it: the process of a run its trial's end stopped may have exited already, and
            # on the driver's own host an exited process reads as interrupted
            recorded = self.store.process_row(run_id)[Store.PROCESS_FIELDS.index("status")]
            pruned = error is None and recorded in ACTIVE
            self.relay.close_run(run_id)
            ended = _record(self.store, run_id, pruned, error)
            if self.on_trial:
                self.on_trial(ended)

    return Record(store, relay, on_trial)  # not a closure over them: Tune pickles the class


def _last_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
    except OSError:
        return "error"
    return lines[-1][:300] if lines else "error"
