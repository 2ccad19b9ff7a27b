"""The one training loop every experiment runs through.

It owns device and precision, seeding, the learning-rate schedule (fitted to the wall-clock budget when one is
given), throttled batch logging, a checkpoint every epoch, and pause/stop requests read from the store.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import random
import re
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

from . import budget, checkpoint, errors, faults, paths
from .alerts import DIVERGED_REASON, Rule, RunAlerts
from .budget import Plan as BudgetPlan
from .device import Plan, choose_precision, choose_threads, cuda_problem, pick_device, time_steps
from .errors import Diverged, DownloadError, LabdeckError
from .events import (
    BatchMetrics,
    CheckpointSaved,
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
from .experiment import Context, Experiment, Task
from .procs import process_start_time
from .status import Stage, Status
from .store import RunInfo, Store

BATCH_LOG_SECONDS = 0.5  # batch metrics reach the store at most twice a second
CONTROL_POLL_SECONDS = 0.25


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def data_dir() -> Path:
    return paths.data()


def one_line(exc: BaseException) -> str:
    if isinstance(exc, torch.OutOfMemoryError):
        return "out of GPU memory: lower batch_size or the model size"
    return errors.one_line(exc)


class RecheckSpeed:
    """A cached speed decision (precision, threads) that this run's first epoch contradicts, on a quiet machine, is
    dropped: the next run of the model measures again (the cache may hold a probe from a moment that misled it)."""

    def __init__(self, key: str, probed: float, log: Callable[[str], None]):
        from .device import OthersCpu

        self.key, self.probed, self.log = key, probed, log
        self.others = OthersCpu().__enter__()
        self.started: tuple[float, int] | None = None

    def epoch_done(self, train_seconds: float, steps: int) -> None:
        from .device import BUSY_CORES, MISMATCH, forget

        self.others.__exit__(None, None, None)
        if not self.probed or not steps:
            return
        real = train_seconds / steps
        if real > MISMATCH * self.probed and self.others.cores <= BUSY_CORES and forget(self.key):
            self.log(f"a step took {real * 1e3:.1f} ms where the cached speed probe said {self.probed * 1e3:.1f} ms: "
                     "the precision and threads for this model are measured again at its next run")


class Trainer:
    """Runs one experiment for one run id, writing every event to the store."""

    def __init__(self, store: Store, experiment: Experiment, run_id: str, params: dict[str, Any],
                 budget: float | None = None, on_event: Callable[[Event], None] | None = None,
                 stop_requested: Callable[[], bool] = lambda: False, budget_kind: str = budget.WALL,
                 created: float | None = None, alert_rules: Sequence[Rule] = (), plateau: int | None = None):
        """``stop_requested``: a stop that came before this object existed (SIGTERM while torch was imported).
        ``budget_kind``: what ``budget`` counts (``engine/budget.py``); ``created``: when the run was created (a
        wall budget starts then, or at this process's start if later); ``alert_rules``: the user's watchdog rules
        for this run, beside the built-in ones (``engine/alerts.py``); ``plateau``: tell when the experiment's target
        metric has not improved in this many evaluations."""
        self.store, self.experiment, self.run_id, self.params = store, experiment, run_id, params
        self.budget, self.budget_kind = budget, budget_kind
        started = process_start_time(os.getpid()) or time.time()
        self._origin = max(created or started, started)
        self._one_time = 0.0  # seconds a first decode of the run's data took: a wall budget's on top of it
        self._held = 0.0  # seconds the run was paused or its process stopped: a wall budget's on top of them
        self._spent_before = 0.0  # wall seconds earlier attempts of a resumed run spent of its budget
        self._spend: BudgetPlan | None = None
        self._stage: tuple[str, float, float] | None = None  # the data or evaluation stage under way: its start
        self.on_event = on_event
        spec = experiment.spec
        self.alerts = RunAlerts(store, run_id, alert_rules, self.log,
                                plateau=(spec.target, spec.target_mode, plateau) if plateau else None)
        self.run_dir = store.run_dir(run_id)
        self._stop_requested = stop_requested
        self._before: RunInfo | None = None  # on resume: what the store said of the run before this attempt
        self._stop_signal = False
        self._signal = ""  # SIGINT or SIGTERM: the signal that stopped this run
        # SIGCONT came: the process was stopped (SIGSTOP, Ctrl+Z) for about this many seconds (to within the one
        # step, evaluation batch or event it was in, since the last sign of life in _beat)
        self._continued: float | None = None
        self._beat = time.monotonic()
        self._last_poll = 0.0
        self._control = "run"
        self._last_progress = 0.0
        self._last_one_time = 0.0
        self._device: torch.device | None = None  # where it trains, once chosen

    # -- events ----------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        self._beat = time.monotonic()
        self.store.emit(event)
        if self.on_event:
            self.on_event(event)
        if isinstance(event, BatchMetrics):
            self.alerts.values("train_loss", [event.step], [event.loss])

    def _watch_epoch(self, event: EpochMetrics) -> None:
        """The watchdog's rules on an epoch's metrics (after they are stored: an alert comes after its cause)."""
        for key, value in event.metrics.items():
            self.alerts.values(key, [event.step], [value])
            if not key.startswith("train"):  # measured on held-out data
                self.alerts.evaluation(key, event.step, value)

    def log(self, text: str) -> None:
        self.emit(LogLine(self.run_id, text))

    def progress(self, stage: str, done: float, total: float) -> None:
        """Progress of a slow stage (a download, a decode, an evaluation), at most twice a second (and always its
        end), with the time it has left at its pace so far."""
        now = self._beat = time.monotonic()
        if self._stage is None or self._stage[0] != stage or done < self._stage[2]:
            self._stage = (stage, now, done)
        if stage in budget.ONE_TIME:  # later runs reuse its work, and a wall budget waits for it
            self._one_time += now - self._last_one_time if self._last_one_time else 0.0
            self._last_one_time = now
        if now - self._last_progress >= BATCH_LOG_SECONDS or (total and done >= total):
            self._last_progress = now
            start, first = self._stage[1], self._stage[2]
            rate = (done - first) / (now - start) if now > start and done > first else 0.0
            eta = (total - done) / rate if rate and total else -1.0
            self.emit(Progress(self.run_id, stage, float(done), float(total), round(eta, 1)))

    # -- control ---------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop_signal = True
        self._signal = signal.Signals(signum).name  # the run ends stopped, saying why (the CLI exits 128 + it)

    def _on_continue(self, signum: int, frame: FrameType | None) -> None:
        self._continued = time.monotonic() - self._beat

    def _check_control(self) -> str:
        """'run' or 'stop'; blocks while the run is paused. Reads the store at most every 0.25 s."""
        now = time.monotonic()
        if self._stop_signal:
            return "stop"
        if now - self._last_poll < CONTROL_POLL_SECONDS:
            return self._control
        self._last_poll = now
        self._control = self.store.control(self.run_id)
        if self._control == "pause":
            self.store.set_status(self.run_id, Status.PAUSED)
            self.emit(StatusChanged(self.run_id, Status.PAUSED))
            while self._control == "pause" and not self._stop_signal:
                time.sleep(CONTROL_POLL_SECONDS)
                self._control = self.store.control(self.run_id)
            if self._stop_signal:
                self._control = "stop"
            if self._control != "stop":
                self.store.set_status(self.run_id, Status.RUNNING)
                self._hold(time.monotonic() - now)
        return self._control

    # -- the run ---------------------------------------------------------------------------
    def run(self, resume: bool = False) -> RunEnded:
        """Train to the end (or until stopped) and return the final event; never raises for run failures."""
        pid = os.getpid()
        # what the store says of the run now: a resume that fails before its checkpoint is loaded keeps it
        self._before = self.store.get(self.run_id) if resume else None
        self.store.claim(self.run_id, pid, process_start_time(pid))
        previous: dict[signal.Signals, Any] = {}
        for sig, handler in ((signal.SIGTERM, self._on_signal), (signal.SIGINT, self._on_signal),
                             (signal.SIGCONT, self._on_continue)):
            try:
                previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread (tests); stop requests still arrive through the store
                pass
        self._stop_signal = self._stop_signal or self._stop_requested() or self.store.control(self.run_id) == "stop"
        state = {"epoch": 0, "batch": 0, "step": 0, "train_seconds": 0.0}
        try:
            ended = self._run(resume, state)
        except KeyboardInterrupt:
            ended = self._end(Status.STOPPED, {}, state, "interrupted by keyboard", "SIGINT")
        except torch.OutOfMemoryError as exc:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            ended = self._end(Status.FAILED, {}, state, self._out_of_memory(exc))
        except BaseException as exc:
            try:
                # the traceback can name the user's paths and data: readable by this user only, as the home is
                fd = os.open(self.run_dir / "error.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(traceback.format_exc())
            except OSError:
                pass  # a full disk: the one-line reason still reaches the store, if it can be written
            reason = "download" if isinstance(exc, DownloadError) else DIVERGED_REASON if isinstance(exc, Diverged) \
                else ""
            ended = self._end(Status.FAILED, {}, state, one_line(exc), reason)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return ended

    def _out_of_memory(self, exc: BaseException) -> str:
        """What ran out, and what to lower."""
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        tried = re.search(r"Tried to allocate [\d.]+ \w+", said)
        size = [k for k in ("width", "hidden", "embedding", "layers") if k in self.params]
        return (f"GPU out of memory on {self.params['device']}" + (f" ({tried[0].lower()})" if tried else "")
                + f": lower batch_size (it is {self.params['batch_size']})"
                + (f" or {'/'.join(size)}" if size else "")
                + (", or use precision=bf16" if self.params.get("precision") in ("auto", "fp32") else "")
                + "; another process on the same GPU takes memory too")

    def _peak_gpu(self, metrics: dict[str, float]) -> dict[str, float]:
        """The run's peak GPU memory, with its metrics, where it trained on a GPU."""
        if self._device is None or self._device.type != "cuda":
            return metrics
        return {**metrics, "gpu_peak_mb": round(torch.cuda.max_memory_allocated(self._device) / 2**20, 1)}

    @staticmethod
    def _check_finite(loss: float, epoch: int, step: int, lr: float) -> None:
        """A NaN or infinite training loss never comes back: fail now, saying what to change, rather than train on
        for hours (checked where the loss is read anyway, twice a second and at each epoch's end)."""
        if not math.isfinite(loss):
            raise Diverged(f"training diverged in epoch {epoch} (step {step}): the loss is {loss}; "
                           f"lower lr (it is {lr:g}) or set clip")

    def _end(self, status: str, metrics: dict[str, float], state: dict[str, Any], message: str = "",
             reason: str = "") -> RunEnded:
        before = self._before
        if before is not None and state["epoch"] < before.epochs:  # a resume failed before it restored anything
            metrics = metrics or before.metrics
            state = {**state, "epoch": before.epochs, "train_seconds": max(state["train_seconds"],
                                                                           before.train_seconds)}
        metrics = self._peak_gpu(metrics)
        if status == Status.STOPPED and not reason:
            reason = self._signal
        event = RunEnded(self.run_id, status, metrics, round(state["train_seconds"], 3), state["epoch"], message,
                         reason)
        try:
            self.store.emit(event)
            self.store.finish(self.run_id, status, metrics, event.train_seconds, event.epochs, message)
        except LabdeckError as exc:
            # the store itself is failing (a full disk): whoever watches this process is told all the same (the
            # process's exit marks the run interrupted in the store)
            event = dataclasses.replace(event, message="; ".join(filter(None, (message, f"not recorded: {exc}"))))
        if self.on_event:
            self.on_event(event)
        self.alerts.ended(status, message or ", ".join(f"{k} {v:.4g}" for k, v in list(metrics.items())[:4]), reason)
        return event

    def _run(self, resume: bool, state: dict[str, Any]) -> RunEnded:
        p = self.params
        seed_everything(p["seed"])
        device = self._device = pick_device(p["device"])
        unused_gpu = cuda_problem() if device.type == "cpu" and p["device"] == "auto" else None
        if unused_gpu:  # said on the device line, in the CLI and the dashboard: not a silent CPU run
            self.log(f"GPU unused: {unused_gpu}")
        # a recipe sizes its model to the training this budget leaves (evaluations take a part of a wall budget)
        training = self.budget if self.budget_kind == budget.TRAIN or self.budget is None else \
            max(0.1, 0.8 * (self.budget - self._wall_spent()))
        ctx = Context(self.run_id, Plan(device, "fp32"), self.run_dir, data_dir(), self.log, self.progress, training)
        self.emit(Phase(self.run_id, Stage.LOADING_DATA))
        asked = dict(p)
        task = self.experiment.build(p, ctx)
        if p != asked:  # the recipe filled in what was left to it (width=0): history shows what trained
            self.store.set_params(self.run_id, p)
            # and what the user asked for, which a form shows again (width 0 = auto, not the 16 it became)
            self.store.set_meta(self.run_id, {**self.store.get(self.run_id).meta, "asked": asked})
        task.model.to(device)
        key = self.experiment.model_key(p)

        def step_seconds(precision: str = "fp32") -> float:
            return time_steps(task.model, task.probe_step, device, precision)

        self.emit(Phase(self.run_id, Stage.MEASURING_SPEED))
        plan = choose_precision(device, p["precision"], key, probe=step_seconds)
        probed = plan.step_seconds
        if device.type == "cpu":
            threads, why, probed = choose_threads(key, step_seconds)
            plan = dataclasses.replace(plan, threads=threads, reason=f"{plan.reason}; {why}")
        if unused_gpu:
            plan = dataclasses.replace(plan, reason=f"GPU unused: {unused_gpu}; {plan.reason}")
        ctx.plan = plan
        scaler = plan.grad_scaler()
        ckpt_path = self.store.checkpoint_path(self.run_id)
        if resume and not ckpt_path.exists():  # it ended before its first checkpoint: from the start again
            self.store.truncate_after_epoch(self.run_id, 0)
        elif resume:
            ckpt = checkpoint.load(ckpt_path, self.experiment.name)
            task.model.load_state_dict(ckpt["model"])
            task.optimizer.load_state_dict(ckpt["optimizer"])
            scaler.load_state_dict(ckpt["scaler"])
            task.load_state(ckpt["extra"])
            torch.set_rng_state(ckpt["rng"])
            self._spent_before = ckpt.get("wall_seconds", ckpt["train_seconds"])
            state["begun"] = ckpt.get("progress", 0.0)  # where a wall budget's schedule was
            state.update(epoch=ckpt["epoch"], step=ckpt["step"], train_seconds=ckpt["train_seconds"],
                         batch=ckpt.get("batch", 0))
            self.store.truncate_after_epoch(self.run_id, ckpt["epoch"])
        self.store.claim(self.run_id, os.getpid(), process_start_time(os.getpid()), plan.describe())
        self.emit(RunStarted(self.run_id, self.experiment.name, p, plan.describe(), plan.precision, state["epoch"],
                             self.budget, self.budget_kind,
                             self._budget_ends()))
        self.emit(DataSummary(self.run_id, **task.summary()))

        steps_per_epoch = max(1, task.steps_per_epoch())
        epochs = 0 if self.budget else p["epochs"]
        total_steps = steps_per_epoch * max(1, epochs)
        base_lrs = [g["lr"] for g in task.optimizer.param_groups]
        spend = self._spend = self._plan_budget(task, plan, probed or plan.step_seconds, steps_per_epoch, state) \
            if self.budget else None

        if spend is not None and spend.leaves_no_training(state["train_seconds"]):
            return self._end(Status.FAILED, {}, state, spend.too_short(self._wall_spent()))

        def progress() -> float:
            if spend is not None:
                return spend.progress(time.monotonic(), state["train_seconds"])
            return float(min(1.0, state["step"] / total_steps))

        def save(epoch: int) -> None:
            checkpoint.save({"model": task.model.state_dict(), "optimizer": task.optimizer.state_dict(),
                         "scaler": scaler.state_dict(), "extra": task.state(), "rng": torch.get_rng_state(),
                         "epoch": epoch, "batch": state["batch"], "step": state["step"], "progress": progress(),
                         "train_seconds": state["train_seconds"], "wall_seconds": self._wall_spent(), "params": p,
                         "experiment": self.experiment.name}, ckpt_path)
            self.emit(CheckpointSaved(self.run_id, epoch, str(ckpt_path)))

        def log_epoch(epoch: int, metrics: dict[str, float], lr: float) -> None:
            event = EpochMetrics(self.run_id, epoch, epochs, metrics, lr, round(state["train_seconds"], 3),
                                 progress(), state["step"])
            self.store.log_epoch(self.run_id, epoch, {**metrics, "lr": lr, "train_seconds": event.train_seconds},
                                 event)
            if self.on_event:
                self.on_event(event)
            self._watch_epoch(event)
            faults.point("epoch-logged")

        stopped = out_of_time = False
        last_step = 0.0
        lr = base_lrs[0]
        recheck = RecheckSpeed(key, probed, self.log) if device.type == "cpu" else None
        deferred: tuple[int, float, float] | None = None  # the last epoch (number, train loss, lr): the final
        # evaluation gives its held-out metrics, not an evaluation of the same weights just before it
        # The batch-log window spans epochs: short epochs still give a point every BATCH_LOG_SECONDS.
        log_loss, log_samples, log_seconds, log_t = torch.zeros((), device=device), 0, 0.0, time.perf_counter()
        while progress() < 1.0 and not stopped and not out_of_time:
            epoch = state["epoch"] + 1
            task.model.train()
            loss_sum = torch.zeros((), device=device)
            samples = 0
            # after a stop in the middle of this epoch, continue it where it stopped (batches are deterministic)
            for batch in itertools.islice(task.batches(epoch), state["batch"], None):
                if self._check_control() == "stop":
                    stopped = True
                    break
                if progress() >= 1.0:
                    break
                if spend is not None and spend.out_of_time(time.monotonic()):
                    out_of_time = True  # slower than planned: the final evaluation must still fit
                    break
                t0 = time.perf_counter()
                self._beat = time.monotonic()
                mult = task.lr_multiplier(progress())
                for g, base in zip(task.optimizer.param_groups, base_lrs):
                    g["lr"] = base * mult
                lr = base_lrs[0] * mult
                with plan.autocast():
                    loss, n = task.loss(batch)
                task.optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if task.clip > 0:
                    scaler.unscale_(task.optimizer)
                    torch.nn.utils.clip_grad_norm_(task.model.parameters(), task.clip)
                scaler.step(task.optimizer)
                scaler.update()
                task.after_step(state["step"] + 1, progress())
                detached = loss.detach().float() * n
                loss_sum += detached
                log_loss += detached
                samples += n
                log_samples += n
                state["step"] += 1
                state["batch"] += 1
                now = time.perf_counter()
                took = now - t0
                if self._continued is not None:  # the process was stopped: that time is no training
                    held, self._continued = self._continued, None
                    self._hold(held)
                    took = last_step if took >= held else took  # stopped in this very step, or before it
                last_step = took
                state["train_seconds"] += took
                log_seconds += took
                if now - log_t >= BATCH_LOG_SECONDS:
                    # The only host sync of the loop, twice a second. The rate counts training steps only.
                    value = (log_loss / log_samples).item()
                    self._check_finite(value, epoch, state["step"], base_lrs[0])
                    self.emit(BatchMetrics(self.run_id, epoch, state["step"], value,
                                           log_samples / max(log_seconds, 1e-9), progress(),
                                           round(state["train_seconds"], 3)))
                    log_loss, log_samples, log_seconds, log_t = torch.zeros((), device=device), 0, 0.0, now
            if stopped or samples == 0:
                break  # a partial epoch is not an epoch: no metrics; the checkpoint says where it stopped
            if recheck is not None:
                recheck.epoch_done(state["train_seconds"], state["step"])
                recheck = None
            trained_by = time.monotonic()
            state["epoch"], state["batch"] = epoch, 0
            train_loss = (loss_sum / samples).item()
            self._check_finite(train_loss, epoch, state["step"], base_lrs[0])
            if progress() >= 1.0 or out_of_time or (spend is not None and spend.last_epoch(time.monotonic())):
                deferred = (epoch, train_loss, lr)  # the last: the final evaluation is its evaluation
                break
            task.model.eval()
            self.emit(Phase(self.run_id, Stage.EVALUATING))
            items = spend.eval_items if spend is not None else None
            t0 = time.monotonic()
            with torch.no_grad(), plan.autocast():
                faults.point("evaluating")
                held_out = task.evaluate(items)
            eval_seconds = time.monotonic() - t0
            log_epoch(epoch, {"train_loss": train_loss, **held_out}, lr)
            save(epoch)
            if spend is not None:
                spend.after_epoch(time.monotonic(), state["train_seconds"], trained_by, eval_seconds,
                                  items or task.eval_size())

        if not stopped:
            task.end_training()
        task.model.eval()
        self.emit(Phase(self.run_id, Stage.FINAL_EVALUATION))
        final, events = task.report(self.run_id)
        if deferred is not None:
            epoch, train_loss, lr = deferred
            log_epoch(epoch, {"train_loss": train_loss, **final}, lr)
            save(epoch)
        for event in events:
            self.emit(event)
        if stopped and (state["epoch"] or state["batch"]):
            save(state["epoch"])  # with the partial epoch's weights: a resume continues from the next batch
        if state["epoch"] == 0 and not (stopped and state["batch"]):
            return self._end(Status.STOPPED if stopped else Status.FAILED, final, state,
                             "stopped before the first training step" if stopped else "no training step ran")
        return self._end(Status.STOPPED if stopped else Status.FINISHED, final, state)

    def _plan_budget(self, task: Task, plan: Plan, step_seconds: float, steps_per_epoch: int,
                     state: dict[str, Any]) -> budget.Plan:
        """How the run spends its budget: its evaluation timed on a few held-out items, then the plan (logged)."""
        assert self.budget is not None
        size = task.eval_size()
        probe = min(size, budget.PROBE_ITEMS)
        per_item = 0.0
        if probe and self.budget_kind == budget.WALL:
            self.emit(Phase(self.run_id, Stage.MEASURING_EVALUATION))
            task.model.eval()
            with torch.no_grad(), plan.autocast():
                # timed warm: a first pass builds the kernels of the evaluation's batch shapes, once per run
                task.evaluate(probe, stage=Stage.MEASURING_EVALUATION)
                t0 = time.monotonic()
                task.evaluate(probe, stage=Stage.MEASURING_EVALUATION)
                per_item = (time.monotonic() - t0) / probe
            task.model.train()
        spend = budget.Plan.make(self.budget_kind, self.budget, self._deadline(), step_seconds, steps_per_epoch,
                                 size, per_item, task.final_cost, state["train_seconds"],
                                 begun=state.get("begun", 0.0))
        self.log(spend.says())
        return spend

    def _wall_spent(self) -> float:
        """Wall seconds of the budget spent so far: from the run's start (its creation, or its process's start if
        later: a queued trial waits unbudgeted), less a first decode of its data, pauses and a stopped process,
        plus what earlier attempts spent (a resume)."""
        return time.time() - self._origin - self._one_time - self._held + self._spent_before

    def _budget_ends(self) -> float | None:
        """When a wall budget ends (Unix time); None without one."""
        if self.budget is None or self.budget_kind != budget.WALL:
            return None
        return time.time() + self.budget - self._wall_spent()

    def _deadline(self) -> float | None:
        """When a wall budget ends, as time.monotonic()."""
        ends = self._budget_ends()
        return None if ends is None else time.monotonic() + ends - time.time()

    def _hold(self, seconds: float) -> None:
        """The run was paused, or its process stopped, for ``seconds``: a wall budget's end moves by as much."""
        self._held += seconds
        if self._spend is not None:
            self._spend.hold(seconds)
        self.emit(StatusChanged(self.run_id, Status.RUNNING, self._budget_ends()))
