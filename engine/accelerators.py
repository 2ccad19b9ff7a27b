"""Whether this machine can have the accelerator a run asks for, known without importing torch (it takes seconds):
``device=cuda`` on a machine with no GPU driver is refused when the run is created, not when it starts."""

from __future__ import annotations

import platform
from pathlib import Path

# what a CUDA (NVIDIA) or ROCm (AMD, also torch.cuda) driver puts on the machine
_GPU_DRIVER_FILES = ("/dev/nvidiactl", "/proc/driver/nvidia/version", "/dev/kfd")


def missing(device: str) -> str | None:
    """Why ``device`` cannot be used on this machine, or None when it may be."""
    if device == "cuda" and not any(Path(f).exists() for f in _GPU_DRIVER_FILES):
        return "this machine has no CUDA GPU (no NVIDIA or ROCm driver); use auto or cpu"
    if device == "mps" and not (platform.system() == "Darwin" and platform.machine() == "arm64"):
        return "MPS needs a Mac with Apple silicon; use auto or cpu"
    return None
