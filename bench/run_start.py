"""How soon a detached run trains: a fresh worker process against one forked from the warm process, same run.

    python bench/run_start.py [--runs 5]

Each run is a 1-epoch sequence run started as ``labdeck run --detach`` starts it (``runs.spawn``); the figure is the
time from the spawn to its first epoch in the store, and the CPU its process used (read from /proc while it lives).
Baseline: ``LABDECK_WARM_SECONDS=0`` (every worker a new Python process that imports torch). Goal: a warm start
trains its first epoch in at most half the baseline's time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from common import cpu_features  # beside this script

PARAMS = {"length": "300", "hidden": "8", "window": "10", "horizon": "20", "batch_size": "32", "epochs": "1",
          "device": "cpu", "precision": "fp32"}


def start_once(store, runs) -> tuple[float, float]:
    """(seconds to the first epoch, CPU seconds of the worker) of one run."""
    import psutil

    run_id = runs.create(store, "sequence", PARAMS)
    t0 = time.perf_counter()
    pid = runs.spawn(store, run_id)
    proc, cpu = psutil.Process(pid), 0.0
    while not store.get(run_id).epochs:
        try:
            times = proc.cpu_times()
            cpu = times.user + times.system
        except psutil.Error:
            pass
        time.sleep(0.01)
    first = time.perf_counter() - t0
    try:
        proc.wait(timeout=60)  # a child (started afresh) or not (forked by the warm process): psutil waits for either
    except psutil.NoSuchProcess:
        pass
    return first, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    from labdeck.engine import Store, runs, warm

    print(f"machine: {cpu_features()}; a 1-epoch sequence run, {a.runs} runs each")
    with tempfile.TemporaryDirectory() as home:
        os.environ["LABDECK_HOME"] = home
        store = Store(home)
        os.environ["LABDECK_WARM_SECONDS"] = "0"
        fresh = [start_once(store, runs) for _ in range(a.runs)]
        os.environ["LABDECK_WARM_SECONDS"] = "120"
        if (server := warm.launch()) is not None:
            server.wait()
        deadline = time.monotonic() + 60
        while not warm.socket_path().exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        forked = [start_once(store, runs) for _ in range(a.runs)]
        warm.shutdown()
    for name, rows in (("fresh process (baseline)", fresh), ("forked from the warm process", forked)):
        print(f"{name}: first epoch after median {statistics.median(r[0] for r in rows):.2f} s, "
              f"worker CPU median {statistics.median(r[1] for r in rows):.2f} s")
    ratio = statistics.median(r[0] for r in forked) / statistics.median(r[0] for r in fresh)
    print(f"warm / fresh: {ratio:.2f}x   goal <= 0.5x: {'met' if ratio <= 0.5 else 'not met'}")


if __name__ == "__main__":
    main()
