"""Sequence: an RNN, LSTM or GRU learns a wave (or a CSV column) and forecasts it.

Reads like the lab: data (make/read, inspect, fill, split 70/30, scale, window) -> model -> train (the shared
loop) -> evaluate (MSE/MAE on the original scale, free-running forecast, gradient reach) -> predict.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import ParamError
from ...events import Evaluation, Event, Predictions
from ...experiment import Context, Experiment, Task, batch_count, make_optimizer, shuffled_batches
from ...status import Stage
from . import data as D
from .model import Recurrent, forecast, input_gradient_norms
from .spec import SPEC

EVAL_BATCH = 4096  # windows a forward pass of evaluation takes


class SequenceTask(Task):
    def __init__(self, p: dict[str, Any], ctx: Context):
        self.p, self.ctx = p, ctx
        self.device = ctx.plan.device
        # -- data --------------------------------------------------------------------------
        self.data = D.prepare(p)
        d, w = self.data, p["window"]
        x_train, y_train = D.windows(d.scaled[: d.n_train], w)
        x_test, y_test = D.windows(d.scaled[d.n_train - w:], w)  # test windows see the training tail as context
        as_t = lambda a: torch.tensor(a, dtype=torch.float32, device=self.device)  # noqa: E731
        self.x_train, self.y_train = as_t(x_train), as_t(y_train)
        self.x_test, self.y_test = as_t(x_test), as_t(y_test)
        # -- model -------------------------------------------------------------------------
        self.model = Recurrent(p["cell"], p["hidden"], p["layers"], p["dropout"])
        self.optimizer = make_optimizer(p["optimizer"], self.model.parameters(), p["lr"], p["weight_decay"])
        self.clip, self.warmup = p["clip"], p["warmup"]
        self._generator = torch.Generator().manual_seed(p["seed"])

    def summary(self) -> dict[str, Any]:
        d = self.data
        head = [[i, None if np.isnan(v) else round(float(v), 6)] for i, v in enumerate(d.raw[:10])]
        notes = [f"series: {d.name}, {len(d.values)} samples"]
        if d.missing:
            notes.append(f"filled {d.missing} missing values ({self.p['fill']})")
        notes.append(f"scaled with {self.p['scale']} fitted on the training part only")
        notes.append(f"split chronologically {self.p['split']:g} / {1 - self.p['split']:g}")
        return dict(columns=["t", d.name], head=head, stats={d.name: D.describe(d.raw)},
                    missing={d.name: d.missing},
                    sizes={"samples": len(d.values), "train_samples": d.n_train,
                           "test_samples": len(d.values) - d.n_train, "train_windows": len(self.x_train),
                           "test_windows": len(self.x_test)},
                    notes=notes)

    # -- train ---------------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return batch_count(len(self.x_train), self.p["batch_size"])

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for idx in shuffled_batches(len(self.x_train), self.p["batch_size"], self.p["seed"], epoch, self.device):
            yield self.x_train[idx], self.y_train[idx]

    def loss(self, batch: Any) -> tuple[torch.Tensor, int]:
        x, y = batch
        return nn.functional.mse_loss(self.model(x).float(), y), len(y)

    # -- evaluate ------------------------------------------------------------------------------
    def eval_size(self) -> int:
        return len(self.x_test)

    def _predict_test(self, x: torch.Tensor | None = None, stage: str | None = None) -> np.ndarray:
        x = self.x_test if x is None else x
        out = []
        for i in range(0, len(x), EVAL_BATCH):
            out.append(self.model(x[i: i + EVAL_BATCH]).float())
            if stage:
                self.ctx.progress(stage, min(i + EVAL_BATCH, len(x)), len(x))
        predicted: np.ndarray = torch.cat(out).cpu().numpy().astype(np.float64)
        return predicted

    def _scores(self, pred: np.ndarray, y: torch.Tensor | None = None) -> dict[str, float]:
        """Held-out scores of scaled one-step predictions: the loss on the scaled series, MSE/MAE on the original."""
        true = (self.y_test if y is None else y).cpu().numpy().astype(np.float64)
        p, t = self.data.unscale(pred), self.data.unscale(true)
        return {"test_loss": float(np.mean((pred - true) ** 2)), "test_mse": float(np.mean((p - t) ** 2)),
                "test_mae": float(np.mean(np.abs(p - t)))}

    def evaluate(self, limit: int | None = None, stage: str = Stage.EVALUATING) -> dict[str, float]:
        if limit is None or limit >= len(self.x_test):
            return self._scores(self._predict_test(stage=stage))
        # windows spread evenly over the test part: a prefix would see one stretch of the series only
        idx = torch.linspace(0, len(self.x_test) - 1, max(1, limit), device=self.device).round().long()
        return self._scores(self._predict_test(self.x_test[idx], stage), self.y_test[idx])

    def _forecast(self) -> np.ndarray:
        d, w, h = self.data, self.p["window"], self.p["horizon"]
        context = torch.tensor(d.scaled[d.n_train - w: d.n_train], dtype=torch.float32)
        model = self.model.to("cpu")  # batch-1 autoregression is latency-bound: the CPU is fastest
        try:
            return d.unscale(forecast(model, context, h).numpy())
        finally:
            self.model.to(self.device)

    def report(self, run_id: str) -> tuple[dict[str, float], list[Event]]:
        with torch.no_grad():
            pred = self._predict_test(stage=Stage.FINAL_EVALUATION)
        metrics = self._scores(pred)
        d, h = self.data, self.p["horizon"]
        fc = self._forecast()
        truth = d.values[d.n_train: d.n_train + h]
        metrics["forecast_rmse"] = float(np.sqrt(np.mean((fc - truth) ** 2)))
        n = min(len(self.x_test), 512)
        grads = input_gradient_norms(self.model, self.x_test[:n], self.y_test[:n])
        series = {
            "true": d.values[d.n_train:].tolist(),
            "predicted": d.unscale(pred).tolist(),
            "forecast": fc.tolist(),
            "train_tail": d.values[max(0, d.n_train - 200): d.n_train].tolist(),
        }
        return metrics, [Evaluation(run_id, metrics, {"grad_norms": grads, "cell": self.p["cell"]}),
                         Predictions(run_id, series)]

    # -- checkpoint state ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        scaler = self.data.scaler  # as plain numbers: a checkpoint holds no Python objects
        return {"affine": [scaler.a, scaler.b] if scaler else None}

    def load_state(self, state: dict[str, Any]) -> None:
        pass  # the scaler is refitted identically from the same data and seed


class Sequence(Experiment):
    spec = SPEC

    def build(self, p: dict[str, Any], ctx: Context) -> Task:
        return SequenceTask(p, ctx)

    def model_key(self, p: dict[str, Any]) -> str:
        return f"sequence/{p['cell']}/{p['hidden']}x{p['layers']}/w{p['window']}/b{p['batch_size']}"


def predict(checkpoint: dict[str, Any], values: np.ndarray, steps: int) -> np.ndarray:
    """Forecast ``steps`` values after ``values`` (original scale) with a trained run's checkpoint."""
    p = checkpoint["params"]
    w = p["window"]
    if len(values) < w:
        raise ParamError(f"values: need at least window={w} values, got {len(values)}")
    values, _ = D.fill_missing(np.asarray(values, dtype=np.float64), p["fill"])
    model = Recurrent(p["cell"], p["hidden"], p["layers"], p["dropout"])
    model.load_state_dict(checkpoint["model"])
    model.eval()
    a, b = checkpoint["extra"].get("affine") or (1.0, 0.0)
    scaled = values * a + b
    out = forecast(model, torch.tensor(scaled[-w:], dtype=torch.float32), steps).numpy().astype(np.float64)
    unscaled: np.ndarray = (out - b) / a
    return unscaled
