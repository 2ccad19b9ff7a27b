"""Deterministic runs written straight into a store, so snapshots render the same on every machine."""

from __future__ import annotations

import math

from engine import Store, registry
from engine.events import DataSummary, EpochMetrics, Evaluation, Predictions, RunEnded, RunStarted

T0 = 1_764_000_000.0  # a fixed creation time


def add_sequence_run(store: Store, run_id: str, cell: str, decay: float, created: float = T0) -> str:
    params = registry.get("sequence").resolve({"cell": cell, "epochs": "12"})
    store.create_run("sequence", params, run_id=run_id, created=created)
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


def demo_store(home) -> Store:
    store = Store(home)
    for i, (cell, decay) in enumerate((("rnn", 0.3), ("gru", 0.6), ("lstm", 0.8))):
        add_sequence_run(store, f"demo-{cell}", cell, decay, created=T0 + i * 60)
    return store
