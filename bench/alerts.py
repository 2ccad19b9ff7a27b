"""The watchdog: no false alarms on healthy runs, and how soon a death is told.

    python bench/alerts.py [--cifar DIR] [--text FILE] [--budget 20] [--kills 5]

1. Healthy runs of every experiment (each RNN/LSTM/GRU cell on the default wave; a CNN on CIFAR-10 from an image
   folder, or generated shapes; a character LSTM on a text file, or the standard library's source) and a plain
   PyTorch script logging through labdeck.init: every alert they get is listed; the goal is none but "finished".
2. Deaths: ``--kills`` detached runs killed with SIGKILL at a random moment of their training; for each, the
   seconds from the kill to the "died" alert (goal: within 2 s). The baseline in the same run is what a reader
   without the watchdog sees: the store marks the run interrupted on the next read, but nobody is told.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def labdeck(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labdeck", *args], env=env, capture_output=True, text=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cifar", help="CIFAR-10 as an image folder (train/<class>/, test/<class>/); default: shapes")
    ap.add_argument("--text", help="a text file for the language model; default: the standard library's source")
    ap.add_argument("--budget", type=float, default=20.0, help="seconds for each healthy run (the CNN gets 3x: "
                    "its data and final evaluation need about 45 s of a 2-core CPU's time)")
    ap.add_argument("--kills", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as top:
        env = {**os.environ, "LABDECK_HOME": f"{top}/home", "LABDECK_CONFIG": f"{top}/config",
               "LABDECK_WATCHDOG": "1"}
        vision = f"dataset=folder:{a.cifar}" if a.cifar else "dataset=shapes"
        language = f"corpus=file:{a.text}" if a.text else "corpus=stdlib"
        healthy = [["sequence", f"cell={c}"] for c in ("rnn", "lstm", "gru")] + [["vision", vision],
                                                                                   ["language", language]]
        t0 = time.perf_counter()
        for experiment, setting in healthy:
            budget = a.budget * (3 if experiment == "vision" else 1)
            done = labdeck("run", experiment, "--set", setting, "--budget", str(budget), env=env)
            print(f"{experiment:9s} {setting:40s} exit {done.returncode}", flush=True)
        script = subprocess.run([sys.executable, str(ROOT / "examples" / "plain_loop.py")], env=env,
                                capture_output=True, text=True)
        print(f"script    examples/plain_loop.py                   exit {script.returncode}", flush=True)
        sys.path.insert(0, str(ROOT))
        from labdeck.engine import runs
        from labdeck.engine.store import Store

        store = Store(f"{top}/home")
        told = store.alerts()
        false = [x for x in told if x.rule != "finished"]
        print(f"healthy runs: {len(store.runs())}, alerts: {len(told)}, other than finished: {len(false)} "
              f"({time.perf_counter() - t0:.0f} s)")
        for x in false:
            print(f"  false alarm? {x.run_id} {x.rule}: {x.message}")
        latencies, read = [], []
        rnd = random.Random(0)
        for _ in range(a.kills):
            run_id = runs.create(store, "sequence", {"epochs": 500, "length": 3000})
            pid = runs.spawn(store, run_id)
            deadline = time.monotonic() + 60
            while store.get(run_id).status != "running" or len(store.events(run_id)) < 3:
                time.sleep(0.05)
                if time.monotonic() > deadline:
                    raise SystemExit("a run never started")
            time.sleep(rnd.uniform(0.5, 3.0))  # a random moment of its training
            killed = time.time()
            os.kill(pid, signal.SIGKILL)
            read.append(time.time() - killed if store.get(run_id).status == "interrupted" else float("nan"))
            while not (alert := store.alerts(run_id=run_id)):
                time.sleep(0.02)
                if time.time() - killed > 30:
                    raise SystemExit("a death was never told")
            latencies.append(alert[0].t - killed)
        print(f"deaths told: {len(latencies)}/{a.kills}; seconds from kill -9 to the alert: median "
              f"{statistics.median(latencies):.2f}, max {max(latencies):.2f} (goal <= 2); baseline without the "
              f"watchdog: the store reads the run interrupted {statistics.median(read):.3f} s after the kill, and "
              f"tells no one")
        return 1 if false or max(latencies) > 2.0 else 0


if __name__ == "__main__":
    sys.exit(main())
