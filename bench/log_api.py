"""The cost of Run.log for a 5-metric dict, beside a baseline measured in the same run.

    python bench/log_api.py [--calls 200000]

Baseline: what any logger pays at least, copying the dict into a list. Goal: Run.log's median <= 20 µs, with the
store written by its background thread meanwhile (counted: the run's steps must all be in the store at the end).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time


def timed(fn, calls: int) -> list[float]:
    """Per-call times in µs, measured in batches of 100 calls (a single call is below the clock's resolution)."""
    out = []
    for start in range(0, calls, 100):
        t0 = time.perf_counter_ns()
        for step in range(start, start + 100):
            fn(step)
        out.append((time.perf_counter_ns() - t0) / 100 / 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200_000)
    a = ap.parse_args()
    import labdeck
    from labdeck.engine import Store

    metrics = {"loss": 0.25, "acc": 0.91, "lr": 3e-4, "grad_norm": 1.7, "tokens_per_s": 51234.0}
    kept: list = []
    base = timed(lambda step: kept.append((step, dict(metrics))), a.calls)
    with tempfile.TemporaryDirectory() as home:
        run = labdeck.init("bench", {"calls": a.calls}, home=home)
        t0 = time.perf_counter()
        costs = timed(lambda step: run.log(metrics, step=step), a.calls)
        loop = time.perf_counter() - t0
        run.finish()
        stored = len(Store(home).history(run.id)["loss"])
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, {a.calls} calls")
    print(f"baseline (append a copy of the dict): median {statistics.median(base):.2f} µs")
    med = statistics.median(costs)
    print(f"Run.log, 5 metrics: median {med:.2f} µs, p99 {sorted(costs)[int(len(costs) * 0.99)]:.2f} µs "
          f"({med / statistics.median(base):.1f}x the baseline); {a.calls / loop:,.0f} calls/s; "
          f"{stored} of {a.calls} steps in the store   goal <= 20 µs: {'met' if med <= 20 else 'NOT met'}")


if __name__ == "__main__":
    main()
