"""A plain PyTorch loop, watched in labdeck: run it, then open `labdeck` (Runs tab, Enter on the run).

    python examples/plain_loop.py [--steps 2000]

A small MLP learns y = sin(3x) from noisy samples; the loop logs its loss, the held-out loss and the learning rate.
Pause and stop in the dashboard reach it at its next log.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import labdeck


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--home", help="labdeck home (default: LABDECK_HOME or your data directory)")
    a = ap.parse_args()

    torch.manual_seed(0)
    x = torch.rand(4096, 1) * 4 - 2
    y = torch.sin(3 * x) + 0.1 * torch.randn_like(x)
    x_val, y_val = x[:512], y[:512]
    x_train, y_train = x[512:], y[512:]
    model = nn.Sequential(nn.Linear(1, a.hidden), nn.Tanh(), nn.Linear(a.hidden, a.hidden), nn.Tanh(),
                          nn.Linear(a.hidden, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.steps)

    with labdeck.init("sine-mlp", vars(a), home=a.home) as run:
        for step in range(a.steps):
            batch = torch.randint(0, len(x_train), (128,))
            loss = nn.functional.mse_loss(model(x_train[batch]), y_train[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step % 20 == 0 or step == a.steps - 1:
                with torch.no_grad():
                    val = nn.functional.mse_loss(model(x_val), y_val)
                run.log({"loss": loss, "val_loss": val, "lr": sched.get_last_lr()[0]}, step=step)  # 0-d tensors
            if run.should_stop():
                break
    print(f"run {run.id}: val_loss {val.item():.4f}")


if __name__ == "__main__":
    main()
