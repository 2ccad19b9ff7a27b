"""The default recipe's size: with ``width=0`` the fast net's width is picked from the training budget and this
device's measured speed, and on a GPU the batch grows to airbench's 1024.

A wider net learns more per epoch but runs fewer epochs in the same time. Measured on the shared CIFAR-10
(bench/README.md): below about ``MIN_EPOCHS`` epochs the extra width no longer pays, so the pick is the widest
candidate that still trains that many epochs within the budget. Without a budget the epochs are fixed and the pick
is the CPU's width 16 or, on a GPU, airbench's 64.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .spec import SPEC

CPU_WIDTHS = (16, 24, 32, 48, 64)
GPU_WIDTHS = (64, 96, 128)  # wider ones were not measured on a GPU yet
MIN_EPOCHS = 8.0
GPU_BATCH = 1024  # airbench's; the lr scales with it (the default lr is tuned for the default batch)
RECIPE_FILE = "recipe.json"  # the pick, kept with the run so that a resume builds the same net


def pick(p: dict[str, Any], device: torch.device, budget: float | None, images: int, run_dir: Path,
         rate: Callable[[int, int], float], log: Callable[[str], None]) -> None:
    """Fill in ``p["width"]`` (and on a GPU the batch size and lr) in place where ``width`` is 0 (auto).

    ``rate(width, batch_size)`` is the measured training speed in images per second."""
    if p["model"] != "fast" or p["width"] != 0:
        return
    saved = run_dir / RECIPE_FILE
    try:
        known = json.loads(saved.read_text())
        p.update(width=int(known["width"]), batch_size=int(known["batch_size"]), lr=float(known["lr"]))
        return
    except (OSError, ValueError, KeyError, TypeError):
        pass
    gpu = device.type == "cuda"
    cpu_batch = SPEC.params["batch_size"].default
    if gpu and p["batch_size"] == cpu_batch:  # only the default batch grows: another one is the user's
        p["batch_size"], p["lr"] = GPU_BATCH, p["lr"] * GPU_BATCH / cpu_batch
    widths = GPU_WIDTHS if gpu else CPU_WIDTHS
    width, why = widths[0], f"no budget: {'airbench' if gpu else 'the CPU'}'s width {widths[0]}"
    if budget:
        why = ""
        for candidate in widths:
            speed = rate(candidate, p["batch_size"])
            epochs = budget * speed / max(images, 1)
            if candidate != widths[0] and epochs < MIN_EPOCHS:
                break
            width, why = candidate, f"{epochs:.1f} epochs in {budget:g} s at {speed:,.0f} img/s"
            if epochs < MIN_EPOCHS:
                break  # a wider net is slower still
        why += f"; the widest with >= {MIN_EPOCHS:g} epochs" if width != widths[0] else ""
    p["width"] = width
    log(f"recipe: width {width}, batch {p['batch_size']} ({why})")
    try:
        saved.write_text(json.dumps({"width": width, "batch_size": p["batch_size"], "lr": p["lr"], "why": why}))
    except OSError:
        pass  # a resume would measure again
