"""Vision benchmark: labdeck's default recipe under 60/300/600 s training budgets, against the lab's baseline.

Run: ``python bench/vision.py --data /path/to/cifar10-folder [--budgets 60 300 600] [--cifar100 DIR]``.
``--data`` is a folder with ``train/<class>/`` and ``test/<class>/`` (the shared CIFAR-10 JPEG copy, extracted
outside the repository). In one process, one after the other:

1. the lab's baseline, the PyTorch CIFAR-10 tutorial recipe (LeNet, batch 4, SGD lr 0.001 momentum 0.9,
   2 epochs, inputs normalised with mean 0.5 / std 0.5), on the same decoded images;
2. ``labdeck run vision --set dataset=folder:DATA --budget B --json`` for each budget (a fresh store per run);
   training time counts only training steps, as in the speed-run literature (no decoding, no evaluation).

Prints accuracy per budget, img/s for training and evaluation, and each result as a ratio to the baseline.
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

import torch
from torch import nn

from labdeck.engine import Store
from labdeck.engine.events import EpochMetrics
from labdeck.engine.experiments.vision import data as D
from labdeck.engine.experiments.vision.model import LeNet

GOALS = {60: 0.80, 300: 0.90, 600: 0.94}


def baseline(data: D.ImageData, epochs: int = 2) -> dict:
    """The tutorial's loop, step for step (tensors instead of a DataLoader over PIL images)."""
    torch.manual_seed(0)
    net = LeNet(len(data.classes))
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    norm = lambda x: (x.float() / 255 - 0.5) / 0.5  # noqa: E731
    seconds = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(data.y_train))
        t0 = time.perf_counter()
        for i in range(0, len(order), 4):
            idx = order[i: i + 4]
            loss = nn.functional.cross_entropy(net(norm(data.x_train[idx])), data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds += time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.no_grad():
        pred = torch.cat([net(norm(data.x_test[i: i + 1000])).argmax(1) for i in range(0, len(data.y_test), 1000)])
    eval_s = time.perf_counter() - t0
    return {"accuracy": (pred == data.y_test).float().mean().item(), "train_seconds": seconds,
            "train_img_s": epochs * len(data.y_train) / seconds, "eval_img_s": len(data.y_test) / eval_s}


def labdeck(dataset: str, budget: float, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as home:
        cmd = [sys.executable, "-m", "labdeck.engine", "--home", home, "run", "vision", "--set", f"dataset={dataset}",
               "--budget", str(budget), "--json", *extra]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            raise SystemExit(f"labdeck failed: {out.stderr.strip() or out.stdout[-500:]}")
        result = json.loads(out.stdout.splitlines()[-1])
        store = Store(home)
        info = store.get(result["run_id"])
        # steps x batch size over training seconds (the last epoch may be cut short by the budget)
        steps = max((e.step for _, e in store.events(info.id) if isinstance(e, EpochMetrics)), default=0)
    return {"accuracy": result["metrics"]["test_accuracy"], "top5": result["metrics"].get("test_top5"),
            "train_seconds": result["train_seconds"], "epochs": result["epochs"], "wall_seconds": wall,
            "train_img_s": steps * info.params["batch_size"] / max(result["train_seconds"], 1e-9),
            "device": info.device}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="CIFAR-10 as train/<class>/ and test/<class>/ image folders")
    ap.add_argument("--budgets", type=float, nargs="+", default=[60, 300, 600])
    ap.add_argument("--skip-baseline", action="store_true", help="only the labdeck runs")
    ap.add_argument("--cifar100", help="CIFAR-100 in the same layout, if present")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra labdeck hyperparameters")
    a = ap.parse_args()
    os.environ.setdefault("LABDECK_DATA", str(Path(tempfile.gettempdir()) / "labdeck-bench-data"))
    extra = [x for kv in a.set for x in ("--set", kv)]
    data_dir = Path(os.environ["LABDECK_DATA"])
    t0 = time.perf_counter()
    data = D.load_folder(a.data, 32, 0.7, 0, data_dir, lambda *_: None)
    print(f"data: {len(data.y_train)} train / {len(data.y_test)} test images, {len(data.classes)} classes, "
          f"decoded or loaded in {time.perf_counter() - t0:.1f}s; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads", flush=True)
    if a.skip_baseline:
        base = {"accuracy": float("nan"), "train_img_s": float("nan")}
    else:
        base = baseline(data)
        print(f"baseline (tutorial LeNet, batch 4, SGD 0.001/0.9, 2 epochs): accuracy {base['accuracy']:.2%} in "
              f"{base['train_seconds']:.1f}s of training; train {base['train_img_s']:.0f} img/s, "
              f"eval {base['eval_img_s']:.0f} img/s", flush=True)
    for budget in a.budgets:
        r = labdeck(f"folder:{a.data}", budget, extra)
        goal = GOALS.get(int(budget))
        verdict = "" if goal is None else f"  goal >= {goal:.0%}: {'met' if r['accuracy'] >= goal else 'NOT met'}"
        print(f"labdeck default, budget {budget:g}s: accuracy {r['accuracy']:.2%} after {r['epochs']} epochs "
              f"({r['train_seconds']:.1f}s training, {r['wall_seconds']:.0f}s wall); train {r['train_img_s']:.0f} "
              f"img/s ({r['train_img_s'] / base['train_img_s']:.1f}x the baseline's); accuracy "
              f"{r['accuracy'] / base['accuracy']:.2f}x the baseline's{verdict}", flush=True)
    if a.cifar100:
        for budget in a.budgets:
            r = labdeck(f"folder:{a.cifar100}", budget, extra)
            print(f"CIFAR-100, budget {budget:g}s: accuracy {r['accuracy']:.2%}, top-5 {r['top5']:.2%}", flush=True)
    else:
        print("CIFAR-100: not measured (no copy on this machine; pass --cifar100 DIR)")


if __name__ == "__main__":
    main()
