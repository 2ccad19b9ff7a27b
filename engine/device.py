"""Where and in which precision to train: CUDA with AMP, MPS, or CPU with bf16 autocast only where measured faster."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import accelerators, paths
from .errors import LabdeckError

PROBE_SLOW = 1.0  # seconds: a model whose step takes longer is measured once, and bf16 or one thread not tried
BUSY_CORES = 0.5  # other processes used more than this many cores while a probe ran: its result is not cached
MISMATCH = 3.0  # a run's steps this many times slower than its probe said, on a quiet machine: measure again
DEFAULT_THREADS = torch.get_num_threads()  # torch's choice at start: the physical cores it may use


@dataclass(frozen=True)
class Plan:
    device: torch.device
    precision: str  # fp32 | bf16 | fp16
    reason: str = ""
    threads: int = 0  # CPU intra-op threads (0: torch's default)
    step_seconds: float = 0.0  # a training step's measured time in this precision, where it was measured

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        autocast: contextlib.AbstractContextManager[Any] = torch.autocast(self.device.type, dtype=self.dtype)
        return autocast

    def grad_scaler(self) -> torch.amp.GradScaler:
        # Loss scaling is needed only for fp16; a disabled scaler is a no-op pass-through.
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def describe(self) -> str:
        name = self.device.type
        if self.device.type == "cuda":
            index = self.device.index if self.device.index is not None else torch.cuda.current_device()
            name = f"cuda:{index} ({torch.cuda.get_device_name(index)})"
            if (visible := os.environ.get("CUDA_VISIBLE_DEVICES")) is not None:
                name += f" of CUDA_VISIBLE_DEVICES={visible}"
        threads = f", {self.threads} thread{'s' if self.threads > 1 else ''}" if self.threads else ""
        return f"{name}, {self.precision}{threads}" + (f" [{self.reason}]" if self.reason else "")


NO_CUDA_WHEELS = "https://download.pytorch.org/whl"


def cuda_problem() -> str | None:
    """Why torch cannot use the GPU this machine's driver offers, with the fix; None when it can, or when there is
    no GPU driver at all."""
    if not accelerators.has_gpu_driver() or torch.cuda.is_available():
        return None
    if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
        return (f"the machine has a GPU driver but torch {torch.__version__} is a CPU-only build; install a CUDA "
                f"build: pip install torch --index-url {NO_CUDA_WHEELS}/cu128")
    try:
        torch.cuda.init()
        why = "CUDA is unavailable"
    except Exception as exc:  # torch says why in its own words (an old driver, a missing library)
        why = str(exc).strip().split(". ")[0].splitlines()[0] or type(exc).__name__
    driver = ""
    try:
        found = re.search(r"Kernel Module\s+([\d.]+)", Path("/proc/driver/nvidia/version").read_text())
        driver = f", NVIDIA driver {found[1]}" if found else ""
    except OSError:
        pass
    return (f"torch {torch.__version__} (built for CUDA {torch.version.cuda}{driver}) cannot use the GPU: {why}; "
            f"update the driver, or install a torch built for the CUDA it supports "
            f"(pip install torch --index-url {NO_CUDA_WHEELS}/cu118)")


def pick_device(requested: str = "auto") -> torch.device:
    """The device to train on. An explicit CUDA device that torch cannot use fails with the reason and its fix."""
    if requested.startswith("cuda") and (problem := cuda_problem()):
        raise LabdeckError(problem)
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise LabdeckError(f"device={requested} requested but no CUDA GPU is available")
    if requested.startswith("cuda:") and int(requested[5:]) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise LabdeckError(f"device={requested}: this process sees {count} GPU{'s' if count != 1 else ''} "
                           f"(cuda:0 to cuda:{count - 1}; CUDA_VISIBLE_DEVICES="
                           f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})")
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags (x86 "flags", ARM "Features"); empty where /proc/cpuinfo cannot say."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_key() -> str:
    """The CPU as far as speed decisions go: its name and a digest of its feature flags. The name alone says just
    "AMD EPYC" for CPUs with and without bf16, whose best precision differs 13-fold."""
    import hashlib

    flags = " ".join(sorted(cpu_flags()))
    return f"{cpu_name()} [{hashlib.sha1(flags.encode()).hexdigest()[:12]}]"


def _cache_file() -> Path:
    return paths.speed_cache()


class OthersCpu:
    """How many cores other processes kept busy while the block ran (the machine's busy time minus this
    process's own)."""

    def __enter__(self) -> OthersCpu:
        import psutil

        self._t0, self._machine0, self._own0 = time.monotonic(), _busy(psutil.cpu_times()), _own_cpu()
        self.cores = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        import psutil

        wall = max(time.monotonic() - self._t0, 1e-6)
        others = (_busy(psutil.cpu_times()) - self._machine0) - (_own_cpu() - self._own0)
        self.cores = max(0.0, others / wall)


def _busy(t: Any) -> float:
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _read_cache() -> dict[str, Any]:
    try:
        known = json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _write_cache(known: dict[str, Any]) -> None:
    cache = _cache_file()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known, indent=1))
    except OSError:
        pass  # a read-only cache only costs a re-measure next time


def _cached(cache_key: str, measure: Callable[[], dict[str, Any]], valid: Callable[[dict[str, Any]], bool]
            ) -> tuple[dict[str, Any], bool]:
    """A measured decision, from the cache file (if ``valid``) or measured now and stored, unless other processes
    kept the machine busy while it was measured: a step timed beside them says little about the next run."""
    known = _read_cache()
    entry = known.get(cache_key)
    if isinstance(entry, dict) and isinstance(entry.get("why"), str) and valid(entry):
        return entry, True
    with OthersCpu() as others:
        decision = measure()
    if others.cores > BUSY_CORES and not os.environ.get("LABDECK_CACHE_BUSY_PROBES"):
        decision = {**decision, "why": f"{decision['why']}; beside other work using {others.cores:.1f} cores, "
                                       "so not kept"}
        return decision, False
    known[cache_key] = decision
    _write_cache(known)
    return decision, False


def forget(key: str) -> bool:
    """Drop the cached decisions for a model ``key`` on this CPU (a run found them wrong); True if any were."""
    known = _read_cache()
    mine = [k for k in known if k.split("|")[0] == key or k.startswith(f"threads|{key}|")]
    for k in mine:
        del known[k]
    if mine:
        _write_cache(known)
    return bool(mine)


def choose_threads(key: str, probe: Callable[[], float]) -> tuple[int, str, float]:
    """CPU intra-op threads for a model: all cores only when clearly faster than one.

    Small models gain little from a second thread, and a multi-threaded step stalls whenever another process (the
    dashboard, a shell) takes a core; so more threads must earn their place: >= 25% faster per step.
    """
    cores = DEFAULT_THREADS
    if cores <= 1:
        return 1, "one core", 0.0

    def measure() -> dict[str, Any]:
        times = {}
        for n in (1, cores):
            torch.set_num_threads(n)
            times[n] = probe()
            if times[n] > PROBE_SLOW:  # a big model: all cores, without a minute spent on one
                return {"threads": cores, "why": f"a step takes {times[n]:.1f} s on {n}: all {cores} threads"}
        best = cores if times[cores] < 0.8 * times[1] else 1
        return {"threads": best, "why": f"{times[1] * 1e3:.1f} ms/step on 1 thread, "
                                        f"{times[cores] * 1e3:.1f} on {cores}", "step_seconds": times[best]}

    decision, cached = _cached(f"threads|{key}|{cpu_key()}|{cores} cores|torch {torch.__version__}", measure,
                               lambda d: d.get("threads") in (1, cores))
    torch.set_num_threads(decision["threads"])
    return (decision["threads"], ("measured earlier: " if cached else "measured: ") + decision["why"],
            float(decision.get("step_seconds", 0.0)))


def choose_precision(device: torch.device, requested: str, key: str,
                     probe: Callable[[str], float] | None = None) -> Plan:
    """Resolve ``requested`` (auto|fp32|bf16|fp16) for ``device``.

    On CPU, ``auto`` times ``probe(precision)`` (seconds per training step of the real model) for fp32 and
    bf16 and keeps the faster; the answer is cached per model ``key``, CPU and torch version.
    """
    if requested != "auto":
        if device.type == "cpu" and requested != "fp32" and probe is not None:
            try:  # oneDNN has no fp16 (on some CPUs no bf16) kernel for some layers, e.g. the LSTM
                probe(requested)
            except RuntimeError as exc:
                return Plan(device, "fp32", f"{requested} unsupported here ({str(exc).splitlines()[0][:80]}); fp32")
        return Plan(device, requested, "requested")
    if device.type == "cuda":
        bf16 = torch.cuda.is_bf16_supported()
        return Plan(device, "bf16" if bf16 else "fp16", "CUDA AMP")
    if device.type != "cpu" or probe is None:
        return Plan(device, "fp32", "")
    def measure() -> dict[str, Any]:
        fp32 = probe("fp32")
        if fp32 > PROBE_SLOW:  # a big model: measuring bf16 too would hold the run up for minutes
            return {"precision": "fp32", "why": f"a step takes {fp32:.1f} s: fp32, bf16 not measured"}
        try:
            bf16 = probe("bf16")
        except RuntimeError as exc:  # e.g. oneDNN has no bf16 kernel for this layer on this CPU
            return {"precision": "fp32", "why": f"bf16 unsupported here ({str(exc).splitlines()[0][:80]})"}
        precision = "bf16" if bf16 < 0.9 * fp32 else "fp32"  # demand a clear win: bf16 costs accuracy
        return {"precision": precision, "why": f"bf16 step {bf16 * 1e3:.1f} ms vs fp32 {fp32 * 1e3:.1f} ms",
                "step_seconds": bf16 if precision == "bf16" else fp32}

    decision, cached = _cached(f"{key}|{cpu_key()}|torch {torch.__version__}", measure,
                               lambda d: d.get("precision") in ("fp32", "bf16"))
    return Plan(device, decision["precision"], ("measured earlier: " if cached else "measured: ") + decision["why"],
                step_seconds=float(decision.get("step_seconds", 0.0)))


def time_steps(model: torch.nn.Module, step: Callable[[], torch.Tensor], device: torch.device,
               precision: str, repeats: int = 3) -> float:
    """Median seconds of forward+backward under ``precision``; restores weights, grads and RNG afterwards."""
    saved = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    plan = Plan(device, precision)
    times = []
    try:
        for i in range(repeats + 1):  # the first call warms up kernels and is not counted
            t0 = time.perf_counter()
            with plan.autocast():
                loss = step()
            loss.backward()
            if device.type == "cuda":
                torch.cuda.synchronize()
            took = time.perf_counter() - t0
            if not i and took > PROBE_SLOW:
                return took  # one step of a big model says enough; repeating it would hold the run up
            if i:
                times.append(took)
    finally:
        model.load_state_dict(saved)
        model.zero_grad(set_to_none=True)
        torch.set_rng_state(rng)
    return sorted(times)[len(times) // 2]
