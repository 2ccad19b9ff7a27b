"""The machine's NVIDIA GPUs as they are now: utilisation, memory and the processes on each.

Read through NVML (``nvidia-ml-py``, the optional extra ``labdeck[gpu]``), else by ``nvidia-smi``, else there are
none. Indices are the physical ones (``nvidia-smi``'s), not those ``CUDA_VISIBLE_DEVICES`` gives a process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import RunInfo


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    util: float  # percent
    used_mb: float
    total_mb: float
    pids: tuple[int, ...] = ()  # the compute processes on it


_nvml: object | None = None  # the initialised pynvml module; False once it cannot be


def _nvml_module() -> Any:
    global _nvml  # noqa: PLW0603 (NVML is initialised once per process)
    if _nvml is None:
        try:
            import pynvml

            pynvml.nvmlInit()
            _nvml = pynvml
        except Exception:  # not installed, no driver, no library: nvidia-smi may still answer
            _nvml = False
    return _nvml or None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _by_nvml(nvml: Any) -> list[Gpu]:
    out = []
    for i in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(i)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        try:
            pids = tuple(p.pid for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle))
        except nvml.NVMLError:
            pids = ()
        out.append(Gpu(i, _text(nvml.nvmlDeviceGetName(handle)), float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                       memory.used / 2**20, memory.total / 2**20, pids))
    return out


def _smi(*query: str) -> list[list[str]]:
    done = subprocess.run(["nvidia-smi", *query, "--format=csv,noheader,nounits"], capture_output=True, text=True,
                          timeout=3)
    return [[cell.strip() for cell in line.split(",")] for line in done.stdout.splitlines() if line.strip()]


def _by_smi() -> list[Gpu]:
    pids: dict[str, list[int]] = {}
    for uuid, pid in _smi("--query-compute-apps=gpu_uuid,pid"):
        if pid.isdigit():
            pids.setdefault(uuid, []).append(int(pid))
    out = []
    for row in _smi("--query-gpu=index,uuid,name,utilization.gpu,memory.used,memory.total"):
        try:
            index, uuid, name, util, used, total = row
            out.append(Gpu(int(index), name, float(util), float(used), float(total), tuple(pids.get(uuid, ()))))
        except ValueError:  # "[N/A]" on some boards, or a changed format: that GPU is left out
            continue
    return out


def read() -> list[Gpu]:
    """The GPUs now; [] where there are none or nothing can read them."""
    nvml = _nvml_module()
    try:
        if nvml is not None:
            return _by_nvml(nvml)
        if shutil.which("nvidia-smi"):
            return _by_smi()
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    except Exception as exc:  # an NVML error (a GPU fell off the bus): no reading this time
        if nvml is not None and isinstance(exc, nvml.NVMLError):
            return []
        raise
    return []


def visible() -> list[str]:
    """The GPUs a process started from here may use: ``CUDA_VISIBLE_DEVICES``'s entries, else every NVIDIA device
    node; [] where there is none (or the count cannot be known without a driver)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        entries = [e.strip() for e in env.split(",") if e.strip()]
        # CUDA stops at the first invalid entry; "-1" hides every GPU
        return list(entries[:next((i for i, e in enumerate(entries) if e.startswith("-")), len(entries))])
    nodes = [p.name[len("nvidia"):] for p in Path("/dev").glob("nvidia[0-9]*")]
    return sorted((n for n in nodes if n.isdigit()), key=int)


def runs_on(gpus: list[Gpu], infos: Iterable[RunInfo]) -> dict[int, list[str]]:
    """For each GPU, the active runs of this machine whose process is on it (by process id)."""
    from .status import ACTIVE

    by_pid = {i.pid: i.id for i in infos if i.status in ACTIVE and i.local and i.pid}
    return {g.index: [by_pid[p] for p in g.pids if p in by_pid] for g in gpus}


def summary(gpus: list[Gpu]) -> str:
    """One short line for a status bar: ``GPU0 45% 3.1/80G  GPU1 ...``."""
    return "  ".join(f"GPU{g.index} {g.util:.0f}% {g.used_mb / 1024:.1f}/{g.total_mb / 1024:.0f}G" for g in gpus)
