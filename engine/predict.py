"""Prediction on new data with a trained run's checkpoint, per experiment."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .checkpoint import load as load_checkpoint
from .errors import LabdeckError, ParamError
from .store import RunInfo, Store

if TYPE_CHECKING:
    from .experiments.language.experiment import Generator


def _series(inputs: list[str], csv: str | None) -> np.ndarray:
    if csv:
        from .experiments.sequence.data import read_csv_column

        return read_csv_column("csv:" + csv)[0]
    values = []
    for item in inputs:
        for part in item.replace(",", " ").split():
            try:
                value = float(part)
            except ValueError:
                raise ParamError(f"values: {part!r} is not a number") from None
            if not math.isfinite(value):  # nan, inf, 1e309
                raise ParamError(f"values: {part!r} is not a finite number")
            values.append(value)
    if not values:
        raise ParamError("values: give the last values of the series as numbers, or --csv PATH[:COLUMN]")
    return np.array(values, dtype=np.float64)


def predict(store: Store, info: RunInfo, inputs: list[str], csv: str | None = None, steps: int = 20
            ) -> dict[str, Any]:
    ckpt = load_checkpoint(store.checkpoint_path(info.id), info.experiment)
    if info.experiment == "sequence":
        from .experiments.sequence.experiment import predict as forecast

        if steps < 1:
            raise ParamError(f"steps: must be an integer >= 1 (got {steps})")
        out = forecast(ckpt, _series(inputs, csv), steps)
        return {"run_id": info.id, "forecast": out.tolist(),
                "lines": [f"{i + 1}\t{v:.6g}" for i, v in enumerate(out)]}
    if info.experiment == "vision":
        from .experiments.vision.experiment import predict as classify

        results = classify(ckpt, inputs)
        lines = []
        for r in results:
            lines.append(r["image"])
            lines += [f"  {t['probability']:7.2%}  {t['class']}" for t in r["top"]]
        return {"run_id": info.id, "images": results, "lines": lines}
    raise LabdeckError(f"prediction is not available for {info.experiment} runs")


BARELY = {"val_bpc": 3.0, "val_ppl": 400.0}  # above these, a language model mostly repeats its commonest tokens


def barely_trained(info: RunInfo) -> str | None:
    """What to expect from a language run's text when its model has hardly learnt (None: it has, or it is unknown)."""
    if info.experiment != "language":
        return None
    for key, bound in BARELY.items():
        value = info.metrics.get(key)
        if isinstance(value, (int, float)) and value > bound:
            return (f"run {info.id} is barely trained ({key} {value:.3g} after {info.epochs} epochs, "
                    f"{info.train_seconds:.0f} s of training): expect the same few words or letters whatever the "
                    "prompt; train it longer (--budget 300) for text that follows the prompt")
    return None


@dataclass(frozen=True)
class Text:
    rest: str  # what was made after the last part
    tokens: int
    rate: float  # tokens a second


def text_in_parts(pieces: Iterable[str], every: float, part: Callable[[str], object],
                  stopped: Callable[[], bool] = lambda: False) -> Text:
    """Gather a generator's pieces and hand them to ``part`` at most once each ``every`` seconds (one call per token
    would flood a UI or a link), until they end or ``stopped()``."""
    start = last = time.perf_counter()
    chunk: list[str] = []
    count = 0
    for piece in pieces:
        if stopped():
            break
        chunk.append(piece)
        count += 1
        if (now := time.perf_counter()) - last >= every:
            part("".join(chunk))
            chunk, last = [], now
    return Text("".join(chunk), count, count / max(time.perf_counter() - start, 1e-9))


def generator(store: Store, info: RunInfo) -> Generator:
    """A language run's model from its latest checkpoint (a running run's too: checkpoints are atomic)."""
    if info.experiment != "language":
        raise LabdeckError(f"run {info.id} is a {info.experiment} run; text generation needs a language run")
    from .experiments.language.experiment import Generator

    return Generator(load_checkpoint(store.checkpoint_path(info.id), info.experiment))
