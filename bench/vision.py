"""Vision benchmark: labdeck's default recipe under training budgets, against the lab's baseline and, on a GPU,
against airbench (the peer: the CIFAR-10 speed-run record holder) in the same run.

Run: ``python bench/vision.py --data /path/to/cifar10-folder [--budgets 60 300 600] [--cifar100 DIR]``.
``--data`` is a folder with ``train/<class>/`` and ``test/<class>/`` (the shared CIFAR-10 JPEG copy, extracted
outside the repository). In one process, one after the other:

1. the lab's baseline, the PyTorch CIFAR-10 tutorial recipe (LeNet, batch 4, SGD lr 0.001 momentum 0.9,
   2 epochs, inputs normalised with mean 0.5 / std 0.5), on the same decoded images;
2. on a GPU with the ``airbench`` package importable: ``airbench.train94`` (``--peer-runs`` times, after one
   warm-up) and ``airbench.train96`` once, fed the same images in airbench's ``CifarLoader`` format;
   training time by CUDA events around training only, accuracy with airbench's own test-time augmentation;
3. ``labdeck run vision --set dataset=folder:DATA --train-budget B --json`` for each budget, and with ``--epochs-line``
   the default recipe without a budget (a fresh store per run); training time counts only training steps, as in
   the speed-run literature (no decoding, no evaluation).

Prints the CPU's features, accuracy per budget, img/s, each result beside the baseline and the peer, and each
goal met or not.
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
from common import cpu_features, trained_steps  # beside this script
from torch import nn

from labdeck.engine import Store
from labdeck.engine.experiments.vision import data as D
from labdeck.engine.experiments.vision.model import LeNet

GOALS = {60: 0.82, 300: 0.88, 600: 0.90}  # issue 20, on a 2-core CPU
PEER_GAP, PEER_TIME = 0.003, 1.3  # on a GPU: within 0.3 pp of airbench94's accuracy in <= 1.3x its time


def airbench_peer(data: D.ImageData, runs: int) -> list[dict]:
    """airbench94 (``runs`` times) and airbench96 (once) on ``data``; GPU only, like airbench itself."""
    import airbench

    root = Path(tempfile.mkdtemp(prefix="airbench-"))
    (root / "cifar10").mkdir()
    for name, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        torch.save({"images": x.permute(0, 2, 3, 1).contiguous(), "labels": y, "classes": data.classes},
                   root / "cifar10" / f"{name}.pt")
    here = os.getcwd()
    os.chdir(root)  # airbench's train() opens its test set at ./cifar10
    out = []
    try:
        test = airbench.CifarLoader("cifar10", train=False, batch_size=2000)
        for name, train, aug, runs_of in (("airbench94", airbench.train94, {"flip": True, "translate": 2}, runs),
                                          ("airbench96", airbench.train96,
                                           {"flip": True, "translate": 4, "cutout": 12}, 1)):
            loader = airbench.CifarLoader("cifar10", train=True, batch_size=1024, aug=aug, altflip=True)
            if name == "airbench94":
                train(loader, verbose=False)  # warm-up: cuDNN autotuning and the first kernels
            accs, times = [], []
            for _ in range(runs_of):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                model = train(loader, verbose=False)
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end) / 1e3)
                accs.append(airbench.evaluate(model, test, tta_level=2))
            out.append({"name": name, "accuracy": sum(accs) / len(accs), "train_seconds": sum(times) / len(times),
                        "runs": runs_of, "spread": max(accs) - min(accs)})
    finally:
        os.chdir(here)
    return out


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


def labdeck(dataset: str, budget: float | None, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as home:
        cmd = [sys.executable, "-m", "labdeck.engine", "--home", home, "run", "vision", "--set", f"dataset={dataset}",
               *(["--train-budget", str(budget)] if budget else []), "--json", *extra]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            raise SystemExit(f"labdeck failed: {out.stderr.strip() or out.stdout[-500:]}")
        result = json.loads(out.stdout.splitlines()[-1])
        info = Store(home).get(result["run_id"])  # its params hold the recipe's pick (width, batch)
        steps = trained_steps(Store(home), info.id)
    return {"accuracy": result["metrics"]["test_accuracy"], "top5": result["metrics"].get("test_top5"),
            "train_seconds": result["train_seconds"], "epochs": result["epochs"], "wall_seconds": wall,
            "train_img_s": steps * info.params["batch_size"] / max(result["train_seconds"], 1e-9),
            "device": info.device, "width": info.params["width"], "batch_size": info.params["batch_size"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="CIFAR-10 as train/<class>/ and test/<class>/ image folders")
    ap.add_argument("--budgets", type=float, nargs="*", default=[60, 300, 600])
    ap.add_argument("--epochs-line", action="store_true", help="also the default recipe without a budget")
    ap.add_argument("--skip-baseline", action="store_true", help="no tutorial baseline (slow on a GPU: batch 4)")
    ap.add_argument("--peer-runs", type=int, default=3, help="airbench94 runs to average (GPU only)")
    ap.add_argument("--cifar100", help="CIFAR-100 in the same layout, if present")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra labdeck hyperparameters")
    a = ap.parse_args()
    os.environ.setdefault("LABDECK_DATA", str(Path(tempfile.gettempdir()) / "labdeck-bench-data"))
    extra = [x for kv in a.set for x in ("--set", kv)]
    data_dir = Path(os.environ["LABDECK_DATA"])
    t0 = time.perf_counter()
    data = D.load_folder(a.data, 32, 0.7, 0, data_dir, lambda *_: None)
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    print(f"machine: {cpu_features()}; {gpu or 'no GPU'}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads", flush=True)
    print(f"data: {len(data.y_train)} train / {len(data.y_test)} test images, {len(data.classes)} classes, "
          f"decoded or loaded in {time.perf_counter() - t0:.1f}s", flush=True)
    if a.skip_baseline:
        base = {"accuracy": float("nan"), "train_img_s": float("nan")}
    else:
        base = baseline(data)
        print(f"baseline (tutorial LeNet, batch 4, SGD 0.001/0.9, 2 epochs): accuracy {base['accuracy']:.2%} in "
              f"{base['train_seconds']:.1f}s of training; train {base['train_img_s']:.0f} img/s, "
              f"eval {base['eval_img_s']:.0f} img/s", flush=True)
    peers = []
    if gpu:
        try:
            peers = airbench_peer(data, a.peer_runs)
        except ImportError:
            print("peer: airbench is not installed (pip install airbench)", flush=True)
        except Exception as exc:  # the peer's failure must not hide labdeck's lines
            print(f"peer: airbench failed: {type(exc).__name__}: {exc}", flush=True)
        for peer in peers:
            print(f"peer {peer['name']} (airbench package, same images): accuracy {peer['accuracy']:.2%} "
                  f"(mean of {peer['runs']}, spread {peer['spread']:.2%}) in {peer['train_seconds']:.2f}s of training",
                  flush=True)

    def line(label: str, r: dict, goal: str) -> None:
        versus = (f"train {r['train_img_s'] / base['train_img_s']:.1f}x the baseline's img/s; accuracy "
                  f"{r['accuracy'] / base['accuracy']:.2f}x the baseline's") if not a.skip_baseline else ""
        print(f"labdeck {label}: accuracy {r['accuracy']:.2%} after {r['epochs']} epochs, width {r['width']}, "
              f"batch {r['batch_size']} ({r['train_seconds']:.1f}s training, {r['wall_seconds']:.0f}s wall, "
              f"{r['train_img_s']:.0f} img/s on {r['device']}); {versus}{goal}", flush=True)

    p94 = next((p for p in peers if p["name"] == "airbench94"), None)
    if a.epochs_line:
        r = labdeck(f"folder:{a.data}", None, extra)
        goal = ""
        if p94:
            close = r["accuracy"] >= p94["accuracy"] - PEER_GAP
            fast = r["train_seconds"] <= PEER_TIME * p94["train_seconds"]
            goal = (f"  vs airbench94: {100 * (r['accuracy'] - p94['accuracy']):+.2f} pp "
                    f"({'met' if close else 'NOT met'}: within {100 * PEER_GAP:.1f} pp), "
                    f"{r['train_seconds'] / p94['train_seconds']:.2f}x its time "
                    f"({'met' if fast else 'NOT met'}: <= {PEER_TIME:g}x)")
        line("default, no budget", r, goal)
    for budget in a.budgets:
        r = labdeck(f"folder:{a.data}", budget, extra)
        goal = GOALS.get(int(budget)) if not gpu else None
        verdict = "" if goal is None else f"  goal >= {goal:.0%}: {'met' if r['accuracy'] >= goal else 'NOT met'}"
        if gpu and peers:
            fits = [p for p in peers if p["train_seconds"] <= budget]
            best = max(fits, key=lambda p: p["accuracy"], default=None)
            if best:
                verdict = (f"  best peer within {budget:g}s: {best['name']} {best['accuracy']:.2%} "
                           f"({'labdeck ahead' if r['accuracy'] >= best['accuracy'] else 'peer ahead'})")
        line(f"default, budget {budget:g}s", r, verdict)
    if a.cifar100:
        for budget in a.budgets:
            r = labdeck(f"folder:{a.cifar100}", budget, extra)
            print(f"CIFAR-100, budget {budget:g}s: accuracy {r['accuracy']:.2%}, top-5 {r['top5']:.2%}", flush=True)
    else:
        print("CIFAR-100: not measured (no copy on this machine; pass --cifar100 DIR)")


if __name__ == "__main__":
    main()
