"""CPU, RAM and (where present) GPU utilisation, measured off the UI thread."""

from __future__ import annotations

import shutil
import subprocess


def gpu_text() -> str:
    if not shutil.which("nvidia-smi"):
        return ""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used,memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=2)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    parts = []
    for i, line in enumerate(out.stdout.strip().splitlines()):
        try:
            util, used, total = (float(x) for x in line.split(","))
        except ValueError:
            continue
        parts.append(f"GPU{i} {util:.0f}% {used / 1024:.1f}/{total / 1024:.0f}G")
    return "  ".join(parts)


def system_text() -> str:
    import psutil  # imported in the polling thread, after the first frame

    mem = psutil.virtual_memory()
    text = f"CPU {psutil.cpu_percent(interval=None):.0f}%  RAM {mem.used / 2**30:.1f}/{mem.total / 2**30:.0f}G"
    gpu = gpu_text()
    return f"{text}  {gpu}" if gpu else text
