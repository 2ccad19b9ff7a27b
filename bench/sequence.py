"""Sequence benchmark: the default recipe under a 20 s budget against the pytorch/examples baseline.

Run: ``python bench/sequence.py [--budget 20]``. Both run in this process's machine, one after the other:
labdeck through its CLI (``labdeck run sequence --train-budget 20 --json``), then the recipe of pytorch/examples
``time_sequence_prediction`` (two LSTMCells of 51 units, float64, LBFGS lr 0.8) on the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

from labdeck.engine import registry
from labdeck.engine.experiments.sequence import data as D

TARGET_MSE = 1e-4


class BaselineLSTM(nn.Module):
    """pytorch/examples/time_sequence_prediction/train.py, unchanged in substance."""

    def __init__(self):
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, 51)
        self.lstm2 = nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)

    def forward(self, x, future=0):
        outputs = []
        h_t = torch.zeros(x.size(0), 51, dtype=torch.double)
        c_t = torch.zeros(x.size(0), 51, dtype=torch.double)
        h_t2 = torch.zeros(x.size(0), 51, dtype=torch.double)
        c_t2 = torch.zeros(x.size(0), 51, dtype=torch.double)
        for input_t in x.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


def run_labdeck(budget: float, home: str) -> dict:
    cmd = [sys.executable, "-m", "labdeck.engine", "--home", home, "run", "sequence", "--train-budget", str(budget),
           "--json"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    result = json.loads(out.stdout.strip().splitlines()[-1])
    hist = json.loads(subprocess.run([sys.executable, "-m", "labdeck.engine", "--home", home, "show", result["run_id"],
                                      "--json"], capture_output=True, text=True, check=True).stdout)["history"]
    reached = [t for t, m in zip(hist["train_seconds"], hist["test_mse"]) if m <= TARGET_MSE]
    return {**result["metrics"], "train_seconds": result["train_seconds"], "epochs": result["epochs"],
            "wall_seconds": wall, "time_to_target": reached[0] if reached else None}


def run_baseline(cap_seconds: float, chunk: int = 200) -> dict:
    p = registry.get("sequence").resolve({})
    torch.manual_seed(0)
    d = D.prepare(p)
    w, h = p["window"], p["horizon"]
    train = d.scaled[: d.n_train]
    n = len(train) // chunk
    seqs = torch.tensor(train[: n * chunk].reshape(n, chunk), dtype=torch.double)
    x, y = seqs[:, :-1], seqs[:, 1:]
    xt, yt = D.windows(d.scaled[d.n_train - w:], w)
    xt, yt = torch.tensor(xt, dtype=torch.double), d.unscale(yt)
    model = BaselineLSTM().double()
    opt = torch.optim.LBFGS(model.parameters(), lr=0.8)
    loss_fn = nn.MSELoss()
    spent, reached, steps, mse = 0.0, None, 0, float("nan")
    while spent < cap_seconds:
        t0 = time.perf_counter()

        def closure():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            return loss

        opt.step(closure)
        spent += time.perf_counter() - t0
        steps += 1
        with torch.no_grad():
            pred = d.unscale(model(xt)[:, -1].numpy())
        mse = float(np.mean((pred - yt) ** 2))
        if reached is None and mse <= TARGET_MSE:
            reached = spent
            break
    with torch.no_grad():
        context = torch.tensor(d.scaled[d.n_train - w: d.n_train], dtype=torch.double).view(1, -1)
        fc = d.unscale(model(context, future=h)[0, w:].numpy())
    rmse = float(np.sqrt(np.mean((fc - d.values[d.n_train: d.n_train + h]) ** 2)))
    return {"test_mse": mse, "forecast_rmse": rmse, "train_seconds": spent, "lbfgs_steps": steps,
            "time_to_target": reached}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=20.0)
    ap.add_argument("--baseline-cap", type=float, default=300.0, help="longest the baseline may train")
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as home:
        ours = run_labdeck(a.budget, home)
    base = run_baseline(a.baseline_cap)
    print(f"target: test_mse <= {TARGET_MSE:g}; forecast over 200 steps, unit-amplitude cosine")
    for name, r in (("labdeck default (LSTM 64, Adam, budget)", ours), ("pytorch/examples LBFGS float64", base)):
        ttt = f"{r['time_to_target']:.2f} s" if r["time_to_target"] is not None else "not reached"
        print(f"{name:42s} test_mse {r['test_mse']:.3g}  forecast_rmse {r['forecast_rmse']:.4f}  "
              f"train {r['train_seconds']:.1f} s  time to target {ttt}")
    if ours["time_to_target"] and base["time_to_target"]:
        print(f"time to test_mse <= {TARGET_MSE:g}: baseline / labdeck = "
              f"{base['time_to_target'] / ours['time_to_target']:.1f}x")
    ok = ours["test_mse"] <= TARGET_MSE and ours["forecast_rmse"] <= 0.05 and ours["train_seconds"] <= a.budget + 1
    print("goal (test_mse <= 1e-4 and forecast_rmse <= 0.05 within the budget):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
