"""Sequence experiment spec: hyperparameters and input checks (no torch here)."""

from __future__ import annotations

from typing import Any

from ...errors import ParamError
from ...params import Param, ParamSpec
from ...spec import Spec, common_params

WAVES = ("sine", "cosine", "sines", "damped", "noisy", "square")
FILLS = ("interpolate", "mean", "median")
SCALERS = ("minmax", "standard", "none")
CELLS = ("rnn", "lstm", "gru")


def check_source(source: str) -> None:
    """The ``source`` parameter's form (the file itself is read when the run is checked)."""
    if source == "wave":
        return
    if not source.startswith("csv:") or len(source) <= 4:
        raise ParamError("must be 'wave' or 'csv:PATH[:COLUMN]'")


def check(p: dict[str, Any]) -> None:
    import numpy as np

    from . import data  # numpy, still no torch

    raw, _ = data.load_series(p)
    if np.isnan(raw).all():
        raise ParamError("source: the series has no values")
    data.check_lengths(len(raw), p)


SPEC = Spec(
    name="sequence",
    title="Sequence",
    summary="RNN / LSTM / GRU learn a wave and forecast it",
    params=ParamSpec([
        Param("source", "str", "wave", "'wave' or 'csv:PATH[:COLUMN]' (a column of your CSV)", check=check_source),
        Param("wave", "str", "cosine", "generated wave", choices=WAVES),
        Param("length", "int", 2000, "samples in the generated wave", low=20, high=5_000_000),
        Param("amplitude", "float", 1.0, "wave amplitude", low=1e-6, high=1e6),
        Param("frequency", "float", 2.0, "cycles per 100 samples", low=0.01, high=50.0),
        Param("phase", "float", 0.0, "phase in radians", low=-100.0, high=100.0),
        Param("noise", "float", 0.0, "Gaussian noise, as a fraction of the amplitude", low=0.0, high=10.0),
        Param("missing", "float", 0.0, "fraction of generated samples removed, to practise filling",
              low=0.0, high=0.9),
        Param("fill", "str", "interpolate", "how missing values are filled", choices=FILLS),
        Param("scale", "str", "minmax", "scaling, fitted on the training part only", choices=SCALERS),
        Param("split", "float", 0.7, "chronological train fraction (the rest is the test part)", low=0.1, high=0.95),
        Param("cell", "str", "lstm", "recurrent cell", choices=CELLS),
        Param("hidden", "int", 64, "hidden units per layer", low=1, high=4096),
        Param("layers", "int", 1, "stacked recurrent layers", low=1, high=8),
        Param("dropout", "float", 0.0, "dropout between layers", low=0.0, high=0.9),
        Param("window", "int", 40, "input time steps per sample", low=2, high=10_000),
        Param("horizon", "int", 200, "free-running forecast steps scored as forecast_rmse", low=1, high=100_000),
        *common_params(lr=0.01, batch_size=32, epochs=40, clip=1.0),
    ]),
    target="test_mse",
    target_mode="min",
    trainer="labdeck.engine.experiments.sequence.experiment:Sequence",
    check=check,
    key_params=("wave", "cell", "hidden", "layers", "window", "lr"),
    unit="win",
)
