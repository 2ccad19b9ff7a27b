"""Budget benchmark: does ``--budget S`` keep its word? Each experiment runs at each budget through the CLI, as a
user types it, and the wall clock from the command to its printed result is set beside S.

Run: ``python bench/budget.py --cifar DIR --text FILE [--budgets 30 60 300] [--baseline-budgets 30 60]``.
``--cifar``: CIFAR-10 as ``train/<class>/`` and ``test/<class>/`` image folders (the shared JPEG copy, extracted
outside the repository); ``--text``: a text corpus (WikiText-2's test.txt). In one process, one after the other,
each in a fresh store:

1. one short run per image folder, so that its first decode (which later runs reuse, and which a budget does not
   count) is done and timed on its own;
2. for each experiment (vision on the folder, sequence on its default wave, language on the corpus) and each
   budget: ``labdeck run EXP --budget S --json``; the wall clock of the whole command, the run's training seconds,
   its evaluation's share and its final held-out metric;
3. the baseline, for each ``--baseline-budgets`` value: the same command with ``--train-budget S``, which counts
   training steps only (as speed-run benchmarks do, and as ``--budget`` did before it meant the whole run), so
   the wall clock it really takes and the metric it reaches stand beside the wall budget's.

The goal: every ``--budget S`` command ends within S (plus 2% for the process's own start and end), and reaches a
metric near the training-only run's of the same S. Prints the CPU's features and writes bench/out/budget.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import cpu_features  # beside this script

from labdeck.engine import Store
from labdeck.engine.events import LogLine

# the held-out metric each experiment is ranked by, and whether higher is better
METRIC = {"vision": ("test_accuracy", True), "sequence": ("test_mse", False), "language": ("val_bpc", False)}
SLACK = 0.02  # of the budget: the process's own start (Python, imports) and end


def command(experiment: str, sets: list[str], flag: str, seconds: float, data_dir: str) -> dict:
    """One ``labdeck run`` as a user types it, in a fresh store; what it printed and what its store says."""
    with tempfile.TemporaryDirectory() as home:
        cmd = [sys.executable, "-m", "labdeck.engine", "--home", home, "run", experiment,
               *[arg for s in sets for arg in ("--set", s)], flag, f"{seconds:g}", "--json"]
        env = dict(os.environ, LABDECK_DATA=data_dir, LABDECK_WARM_SECONDS="0")
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            raise SystemExit(f"labdeck failed: {out.stderr.strip()[-800:] or out.stdout[-800:]}")
        result = json.loads(out.stdout.splitlines()[-1])
        store = Store(home)
        plan = next((e.text for _, e in store.events(result["run_id"])
                     if isinstance(e, LogLine) and e.text.startswith("budget: ")), "")
    name, _ = METRIC[experiment]
    return {"experiment": experiment, "kind": "wall" if flag == "--budget" else "train", "budget": seconds,
            "wall_seconds": round(wall, 2), "train_seconds": result["train_seconds"], "epochs": result["epochs"],
            "metric": name, "value": result["metrics"].get(name), "plan": plan}


def decode_first(folder: str, data_dir: str) -> float:
    """The image folder's first decode, which later runs reuse: a run of one tenth of a second of training."""
    t0 = time.perf_counter()
    command("vision", [f"dataset=folder:{folder}"], "--train-budget", 0.1, data_dir)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cifar", required=True, help="CIFAR-10 as train/<class>/ and test/<class>/ image folders")
    ap.add_argument("--text", required=True, help="a text corpus for the language model (WikiText-2's test.txt)")
    ap.add_argument("--budgets", type=float, nargs="*", default=[30, 60, 300])
    ap.add_argument("--baseline-budgets", type=float, nargs="*", default=[30, 60])
    ap.add_argument("--experiments", nargs="*", default=list(METRIC))
    a = ap.parse_args()
    sets = {"vision": [f"dataset=folder:{a.cifar}"], "sequence": [],
            "language": [f"corpus=file:{a.text}", "split=0.9"]}
    print(f"machine: {cpu_features()}")
    rows = []
    with tempfile.TemporaryDirectory() as data_dir:
        if "vision" in a.experiments:
            print(f"first decode of {a.cifar}: {decode_first(a.cifar, data_dir):.1f} s (not a budget's)")
        for experiment in a.experiments:
            for flag, budgets in (("--budget", a.budgets), ("--train-budget", a.baseline_budgets)):
                for seconds in budgets:
                    row = command(experiment, sets[experiment], flag, seconds, data_dir)
                    rows.append(row)
                    kept = row["wall_seconds"] <= seconds * (1 + SLACK)
                    goal = ("kept" if kept else "NOT kept") if row["kind"] == "wall" else "baseline"
                    print(f"{experiment:9} {flag:15} {seconds:5g} s  wall {row['wall_seconds']:7.1f} s "
                          f"({row['wall_seconds'] / seconds:5.2f}x)  train {row['train_seconds']:6.1f} s  "
                          f"{row['metric']} {row['value']:.4g}  epochs {row['epochs']}  [{goal}]", flush=True)
                    if row["plan"]:
                        print(f"          {row['plan']}", flush=True)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "budget.json").write_text(json.dumps({"machine": cpu_features(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
