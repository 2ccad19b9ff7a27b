"""What the benchmarks share: the machine line, and a finished run's training throughput read from its store."""

from __future__ import annotations

import os

from labdeck.engine import Store
from labdeck.engine.device import cpu_flags, cpu_name
from labdeck.engine.events import EpochMetrics


def cpu_features() -> str:
    """The CPU features that decide training speed here (bf16 autocast pays only with native bf16 or AMX)."""
    flags = cpu_flags()
    shown = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{cpu_name()}, {os.cpu_count()} cores, {' '.join(shown) or 'no AVX2'}"


def trained_steps(store: Store, run_id: str) -> int:
    """Optimizer steps of the run's whole epochs (the last one may be cut short by a budget and not count)."""
    return max((e.step for _, e in store.events(run_id) if isinstance(e, EpochMetrics)), default=0)
