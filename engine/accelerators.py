"""Whether this machine can have the accelerator a run asks for, known without importing torch (it takes seconds):
``device=cuda`` on a machine with no GPU driver is refused when the run is created, not when it starts."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

from . import gpus

# what a CUDA (NVIDIA) or ROCm (AMD, also torch.cuda) driver puts on the machine
_GPU_DRIVER_FILES = ("/dev/nvidiactl", "/proc/driver/nvidia/version", "/dev/kfd")


def has_gpu_driver() -> bool:
    return any(Path(f).exists() for f in _GPU_DRIVER_FILES)


def cuda_devices() -> tuple[str, ...]:
    """``cuda:0`` ... for each GPU a run started here may use."""
    return tuple(f"cuda:{i}" for i in range(len(gpus.visible()))) if has_gpu_driver() else ()


def missing(device: str) -> str | None:
    """Why ``device`` cannot be used on this machine, or None when it may be."""
    cuda = re.fullmatch(r"cuda(?::(\d+))?", device)
    if cuda and not has_gpu_driver():
        return "this machine has no CUDA GPU (no NVIDIA or ROCm driver); use auto or cpu"
    if cuda and cuda[1] is not None and (visible := gpus.visible()) and int(cuda[1]) >= len(visible):
        where = f" (CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']})" \
            if "CUDA_VISIBLE_DEVICES" in os.environ else ""
        return f"runs here may use {len(visible)} GPU{'s' if len(visible) > 1 else ''}{where}: " + \
            ", ".join(f"cuda:{i}" for i in range(len(visible)))
    if device == "mps" and not (platform.system() == "Darwin" and platform.machine() == "arm64"):
        return "MPS needs a Mac with Apple silicon; use auto or cpu"
    return None
