"""Deterministic runs written straight into a store, so snapshots render the same on every machine."""

from __future__ import annotations

import math

from labdeck.engine import Store, registry
from labdeck.engine.events import DataSummary, EpochMetrics, Evaluation, LogLine, Predictions, RunEnded, RunStarted

T0 = 1_764_000_000.0  # a fixed creation time


def add_sequence_run(store: Store, run_id: str, cell: str, decay: float, created: float = T0,
                     sweep: str | None = None, hidden: int = 64) -> str:
    params = registry.get("sequence").resolve({"cell": cell, "epochs": "12", "hidden": hidden})
    store.create_run("sequence", params, run_id=run_id, created=created, sweep=sweep)
    store.claim(run_id, 0, None)
    store.emit(RunStarted(run_id, "sequence", params, "cpu, fp32", "fp32"))
    head = [[i, round(math.cos(2 * math.pi * i / 50), 6)] for i in range(10)]
    store.emit(DataSummary(run_id, ["t", "cosine"], head,
                           {"cosine": {"count": 2000.0, "mean": 0.0, "std": 0.7073, "min": -1.0, "25%": -0.7071,
                                       "50%": 0.0, "75%": 0.7071, "max": 1.0}},
                           {"cosine": 0}, {"samples": 2000, "train_samples": 1400, "test_samples": 600},
                           ["scaled with minmax fitted on the training part only"]))
    for epoch in range(1, 13):
        loss = 0.3 * math.exp(-decay * epoch)
        m = {"train_loss": loss * 1.1, "test_loss": loss, "test_mse": loss, "test_mae": math.sqrt(loss) * 0.8}
        store.log_epoch(run_id, epoch, m, EpochMetrics(run_id, epoch, 12, m, 0.01 * (1 - epoch / 13),
                                                       epoch * 0.5, epoch / 12, epoch * 43))
    final = {"test_mse": 0.3 * math.exp(-decay * 12), "forecast_rmse": 0.02 / decay}
    grads = [math.exp(-(40 - t) * decay / 4) for t in range(40)]
    store.emit(Evaluation(run_id, final, {"grad_norms": grads, "cell": cell}))
    true = [math.cos(2 * math.pi * t / 50) for t in range(600)]
    store.emit(Predictions(run_id, {"true": true, "predicted": [v * 0.98 for v in true],
                                    "forecast": [v * (1 - t / 400) for t, v in enumerate(true[:200])],
                                    "train_tail": true[:200]}))
    store.emit(RunEnded(run_id, "finished", final, 6.0, 12))
    store.finish(run_id, "finished", final, 6.0, 12)
    return run_id


def _thumb(k: int) -> list[int]:
    """A 16x16 test pattern: a diagonal split in two colours that depend on ``k``."""
    a, b = [(40 * k) % 256, 200, 90], [230, (70 * k) % 256, 40]
    return [v for y in range(16) for x in range(16) for v in (a if x > y else b)]


def add_vision_run(store: Store, run_id: str, created: float = T0) -> str:
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    params = registry.get("vision").resolve({"dataset": "shapes", "epochs": "8"})
    store.create_run("vision", params, run_id=run_id, created=created)
    store.claim(run_id, 0, None)
    store.emit(RunStarted(run_id, "vision", params, "cpu, fp32", "fp32"))
    store.emit(DataSummary(run_id, ["class", "train", "test"], [[c, 5000, 1000] for c in classes],
                           {ch: {"mean": m, "std": 0.25} for ch, m in zip("RGB", (0.4914, 0.4822, 0.4465))},
                           {"unreadable images": 0}, {"train_images": 50000, "test_images": 10000, "classes": 10},
                           ["official split"], [{"label": c, "size": 16, "pixels": _thumb(i)}
                                                for i, c in enumerate(classes)]))
    for epoch in range(1, 9):
        acc = 0.9 - 0.5 * math.exp(-epoch / 2)
        m = {"train_loss": 2.0 * math.exp(-epoch / 3), "test_loss": 1.8 * math.exp(-epoch / 3), "test_accuracy": acc}
        store.log_epoch(run_id, epoch, m, EpochMetrics(run_id, epoch, 8, m, 0.5, epoch * 10.0, epoch / 8, epoch * 98))
    confusion = [[900 if i == j else (60 if (i, j) in ((3, 5), (5, 3)) else (40 if j == (i + 1) % 10 else 0))
                  for j in range(10)] for i in range(10)]
    final = {"test_loss": 0.35, "test_accuracy": 0.9, "macro_f1": 0.9}
    per = {"precision": [0.9] * 10, "recall": [0.9] * 10, "f1": [0.9] * 10, "support": [1000] * 10}
    grid = [{"true": k % 10, "pred": k % 10 if k % 4 else (k + 1) % 10, "confidence": 0.9, "pixels": _thumb(k)}
            for k in range(12)]
    store.emit(Evaluation(run_id, final, {"classes": classes, "confusion": confusion, "per_class": per,
                                          "grid": grid, "tta": True}))
    store.emit(RunEnded(run_id, "finished", final, 80.0, 8))
    store.finish(run_id, "finished", final, 80.0, 8)
    return run_id


def add_language_run(store: Store, run_id: str, created: float = T0) -> str:
    params = registry.get("language").resolve({"epochs": "6"})
    store.create_run("language", params, run_id=run_id, created=created)
    store.claim(run_id, 0, None)
    store.emit(RunStarted(run_id, "language", params, "cpu, fp32", "fp32"))
    for epoch in range(1, 7):
        loss = 1.3 + 1.5 * math.exp(-epoch / 1.5)
        m = {"train_loss": loss + 0.05, "val_loss": loss, "val_ppl": math.exp(loss), "val_bpc": loss / math.log(2)}
        store.log_epoch(run_id, epoch, m, EpochMetrics(run_id, epoch, 6, m, 0.003, epoch * 30.0, epoch / 6,
                                                       epoch * 250))
        store.emit(LogLine(run_id, f"sample: def read_{epoch}(self, path):\n    return self.open(path)"))
    final = {"val_loss": 1.35, "val_ppl": math.exp(1.35), "val_bpc": 1.35 / math.log(2)}
    store.emit(RunEnded(run_id, "finished", final, 180.0, 6))
    store.finish(run_id, "finished", final, 180.0, 6)
    return run_id


def add_sweep(store: Store) -> str:
    """A finished sweep of three trials over ``hidden``."""
    for i, hidden in enumerate((16, 32, 64)):
        add_sequence_run(store, f"demo-trial-{hidden}", "lstm", 0.3 + 0.2 * i, created=T0 + 400 + i,
                         sweep="sw-demo", hidden=hidden)
    return "sw-demo"


def demo_store(home) -> Store:
    store = Store(home)
    for i, (cell, decay) in enumerate((("rnn", 0.3), ("gru", 0.6), ("lstm", 0.8))):
        add_sequence_run(store, f"demo-{cell}", cell, decay, created=T0 + i * 60)
    add_vision_run(store, "demo-cnn", created=T0 + 200)
    add_language_run(store, "demo-lm", created=T0 + 260)
    return store
