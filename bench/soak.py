"""Soak benchmark: the real dashboard watching a synthetic run that reports far faster than a real one.

Run: ``python bench/soak.py [--minutes 10] [--epochs-per-second 40]``, or ``--idle 300`` for an idle dashboard
over 300 finished runs, keys pressed every 1.5 s. A writer thread puts epochs (four metrics
each), batch points and log lines straight into a fresh store, as a training process would, at many times a real
run's rate (an hour here covers weeks of a real run); ``labdeck`` watches it in a pseudo-terminal with the Sequence
tab shown. Printed: the dashboard's RSS each minute, its growth per epoch after the first minute (warm-up), and
its CPU use (what its redraws cost) in the first and the last minute.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import time

import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ui import SEQUENCE_KEY, dashboard

from labdeck.engine import Store, registry
from labdeck.engine.events import BatchMetrics, EpochMetrics, LogLine, RunStarted


def writer(home: str, run_id: str, rate: float, stop: threading.Event, counts: dict) -> None:
    store = Store(home)
    params = registry.get("sequence").resolve({})
    store.emit(RunStarted(run_id, "sequence", params, "cpu, fp32 (synthetic)", "fp32"))
    epoch, step, t0 = 0, 0, time.monotonic()
    while not stop.is_set():
        epoch += 1
        for _ in range(4):  # a few batch points an epoch, as the trainer logs twice a second
            step += 25
            store.emit(BatchMetrics(run_id, epoch, step, 1.0 / math.sqrt(step), 5000.0, 0.5, epoch * 0.1))
        m = {"train_loss": 1.0 / epoch, "test_loss": 1.1 / epoch, "test_mse": 1.1 / epoch, "test_mae": 0.3 / epoch}
        store.log_epoch(run_id, epoch, {**m, "train_seconds": epoch * 0.1},
                        EpochMetrics(run_id, epoch, 0, m, 0.01, epoch * 0.1, 0.5, step))
        if epoch % 10 == 0:
            store.emit(LogLine(run_id, f"note at epoch {epoch}"))
        counts["epochs"] = epoch
        wait = t0 + epoch / rate - time.monotonic()
        if wait > 0:
            stop.wait(wait)


def idle(minutes: float, runs: int) -> int:
    """Nothing new arrives: a store of ``runs`` finished runs, and a user who switches tabs (the Runs tab among
    them) and opens and closes the help screen every few seconds. The goal: at most 5 MB of growth in an hour."""
    home = tempfile.mkdtemp(prefix="labdeck-idle-")
    store = Store(home)
    params = registry.get("sequence").resolve({})
    for i in range(runs):
        run_id = store.create_run("sequence", params)
        for epoch in range(1, 21):
            m = {"train_loss": 1.0 / epoch, "test_loss": 1.1 / epoch + i * 1e-4}
            store.log_epoch(run_id, epoch, m, EpochMetrics(run_id, epoch, 20, m, 0.01, epoch * 0.1, epoch / 20))
        store.finish(run_id, "finished", m, 2.0, 20)
    store.close()
    term = dashboard(home)
    proc = psutil.Process(term.proc.pid)
    keys = [b"4", b"j", b"j", b"5", b"1", b"2", b"3", b"?", b"?", b"4", b"k"]
    samples = []
    start = time.monotonic()
    try:
        time.sleep(3.0)
        i = 0
        while time.monotonic() - start < minutes * 60:
            os.write(term.master, keys[i % len(keys)])
            i += 1
            time.sleep(1.5)
            minute = int((time.monotonic() - start) // 60)
            if minute > len(samples):
                samples.append(proc.memory_info().rss / 2**20)
                print(f"minute {minute:3d}: RSS {samples[-1]:6.1f} MB ({i} keys)", flush=True)
    finally:
        term.close()
    if len(samples) < 4:
        print("too short: give --minutes 4 or more")
        return 1
    half = len(samples) // 2
    per_hour = (samples[-1] - samples[half]) / (len(samples) - 1 - half) * 60
    print(f"\nidle with {runs} runs, tabs and help switched: {samples[0]:.1f} -> {samples[-1]:.1f} MB; the second "
          f"half grows at {per_hour:.1f} MB an hour (goal <= 5)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--epochs-per-second", type=float, default=40.0)
    ap.add_argument("--idle", type=int, metavar="RUNS", help="no run writing: RUNS finished runs, keys pressed")
    a = ap.parse_args()
    if a.idle:
        return idle(a.minutes, a.idle)
    home = tempfile.mkdtemp(prefix="labdeck-soak-")
    store = Store(home)
    run_id = store.create_run("sequence", registry.get("sequence").resolve({}))
    store.claim(run_id, os.getpid(), None)
    term = dashboard(home)
    proc = psutil.Process(term.proc.pid)
    time.sleep(3.0)
    os.write(term.master, SEQUENCE_KEY)
    stop, counts = threading.Event(), {"epochs": 0}
    thread = threading.Thread(target=writer, args=(home, run_id, a.epochs_per_second, stop, counts), daemon=True)
    thread.start()
    samples = []  # (minute, epochs, rss MB, cpu seconds)
    start = time.monotonic()
    try:
        minute = 0
        while time.monotonic() - start < a.minutes * 60:
            time.sleep(max(0.0, start + (minute + 1) * 60 - time.monotonic()))
            minute += 1
            cpu = proc.cpu_times()
            samples.append((minute, counts["epochs"], proc.memory_info().rss / 2**20, cpu.user + cpu.system))
            print(f"minute {minute:3d}: {samples[-1][1]:7d} epochs  RSS {samples[-1][2]:6.1f} MB", flush=True)
    finally:
        stop.set()
        term.close()
    if len(samples) < 3:
        print("too short: give --minutes 3 or more")
        return 1
    (_, e1, r1, _), (_, em, rm, _), (_, e2, r2, _) = samples[0], samples[len(samples) // 2], samples[-1]
    # Textual's and Rich's caches (styles, cell widths, rendered lines) fill for a few minutes, then hold
    print(f"\nafter the first minute: {(r2 - r1) * 2**20 / max(1, e2 - e1):.0f} bytes of RSS per epoch "
          f"({e2 - e1} epochs, {r1:.1f} -> {r2:.1f} MB); in the second half: "
          f"{(r2 - rm) * 2**20 / max(1, e2 - em):.0f} bytes per epoch ({e2 - em} epochs, {rm:.1f} -> {r2:.1f} MB; "
          f"goal <= 100)")
    first = samples[1][3] - samples[0][3]
    last = samples[-1][3] - samples[-2][3]
    print(f"dashboard CPU: {first / 60:.1%} of a core in minute 2, {last / 60:.1%} in the last minute "
          f"(redraws cost the same after {e2:,} epochs: {last <= first * 1.25})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
