"""The script's own process, sampled in the background: CPU use, resident memory, and each GPU it uses (NVML or
nvidia-smi, where there is one). Names start with ``sys/``, so views list them after the script's own metrics."""

from __future__ import annotations

import os

PREFIX = "sys/"
FIRST = 2.0  # seconds from init to the first sample: a script that ends within seconds gets none
SECONDS = 5.0  # between samples


class Sampler:
    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self._proc.cpu_percent()  # the first call only starts the measurement
        self._gpus = True

    def sample(self) -> dict[str, float]:
        out = {f"{PREFIX}cpu_percent": self._proc.cpu_percent(),
               f"{PREFIX}rss_mb": self._proc.memory_info().rss / 2**20}
        if self._gpus:
            from labdeck.engine import gpus

            found = gpus.read()
            self._gpus = bool(found)  # no GPU now: none later, and no nvidia-smi every few seconds
            mine = [g for g in found if os.getpid() in g.pids] or [g for g in found if not g.pids]
            for g in mine:
                out[f"{PREFIX}gpu{g.index}_util"] = g.util
                out[f"{PREFIX}gpu{g.index}_mem_mb"] = g.used_mb
        return out
