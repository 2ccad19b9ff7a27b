"""Sequence data, the lab's way: make or read a series, inspect it, fill missing values, split, scale, window."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError, ParamError


def make_wave(kind: str, length: int, amplitude: float, frequency: float, phase: float, noise: float,
              seed: int) -> np.ndarray:
    """A generated wave; ``frequency`` is in cycles per 100 samples."""
    t = np.arange(length, dtype=np.float64)
    w = 2 * math.pi * frequency / 100.0
    if kind == "cosine":
        y = np.cos(w * t + phase)
    elif kind == "sines":
        y = (np.sin(w * t + phase) + 0.5 * np.sin(2.7 * w * t + 2 * phase)) / 1.5
    elif kind == "damped":
        y = np.exp(-t / max(1.0, length / 2)) * np.sin(w * t + phase)
    elif kind == "square":
        y = np.sign(np.sin(w * t + phase))
    else:  # sine, noisy
        y = np.sin(w * t + phase)
    y = amplitude * y
    if kind == "noisy" and noise == 0:
        noise = 0.1
    if noise > 0:
        y = y + np.random.default_rng(seed).normal(0.0, noise * amplitude, size=length)
    return y


def parse_csv_source(source: str) -> tuple[Path, str | None]:
    spec = source[4:]
    path, column = spec, None
    # PATH:COLUMN, but keep Windows drive letters and paths that exist with a colon intact.
    if ":" in spec and not Path(spec).exists():
        path, _, column = spec.rpartition(":")
    return Path(path).expanduser(), column or None


MAX_CSV_BYTES = 512 * 2**20
MISSING = ("na", "n/a", "#n/a", "nan", "null", "none", "?", "-", "--", "missing")  # cells that mean "no value"


def read_csv_column(source: str) -> tuple[np.ndarray, str]:
    """The values of one numeric column; blanks and NA-like cells become NaN (missing)."""
    path, column = parse_csv_source(source)
    if path.exists() and not path.is_file():  # a FIFO would hang the check, /dev/zero never end it
        raise DataError(f"source: {path} is not a regular file")
    if path.is_file() and path.stat().st_size > MAX_CSV_BYTES:
        raise DataError(f"source: {path} is over {MAX_CSV_BYTES // 2**20} MiB; give a smaller CSV")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"source: cannot read {path}: {exc.strerror or exc}") from None
    if b"\x00" in raw[:4096]:
        raise DataError(f"source: {path} is not a text CSV file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"source: {path} is not UTF-8 text") from None
    rows = [r for r in csv.reader(text.splitlines()) if r]
    if len(rows) < 2:
        raise DataError(f"source: {path} has no data rows")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]

    def numeric(cell: str) -> float:
        cell = cell.strip()
        if cell == "" or cell.lower() in MISSING:
            return math.nan
        value = float(cell)
        if math.isinf(value):
            raise DataError(f"source: {path}: {cell!r} is not a finite number (rows with inf cannot be scaled)")
        return value

    if column is None:
        candidates = list(range(len(header)))
    elif column in header:
        candidates = [header.index(column)]
    elif column.isdigit() and int(column) < len(header):
        candidates = [int(column)]
    else:
        raise DataError(f"source: {path} has no column {column!r} (columns: {', '.join(header)})")
    for idx in candidates:
        try:
            values = np.array([numeric(r[idx]) if idx < len(r) else math.nan for r in body], dtype=np.float64)
        except ValueError:
            continue
        if np.isfinite(values).sum() >= 2:
            return values, header[idx]
    what = f"column {column!r}" if column else "any column"
    raise DataError(f"source: {path}: {what} has no numeric values")


def fill_missing(values: np.ndarray, how: str) -> tuple[np.ndarray, int]:
    """Fill NaNs; returns the filled series and how many were missing."""
    missing = int(np.isnan(values).sum())
    if missing == 0:
        return values, 0
    if how == "interpolate":
        idx = np.arange(len(values))
        ok = ~np.isnan(values)
        return np.interp(idx, idx[ok], values[ok]), missing
    from sklearn.impute import SimpleImputer  # scikit-learn costs ~1.5 s to import: only when used

    imputer = SimpleImputer(strategy=how)
    return imputer.fit_transform(values.reshape(-1, 1)).ravel(), missing


def describe(values: np.ndarray) -> dict[str, float]:
    """The statistics pandas' ``describe()`` shows, ignoring missing values."""
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return {"count": 0.0}
    q = np.percentile(v, [25, 50, 75])
    return {"count": float(len(v)), "mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "25%": float(q[0]), "50%": float(q[1]), "75%": float(q[2]), "max": float(v.max())}


TINY = 10 * np.finfo(np.float64).eps  # a range or deviation below this scales by 1, as in scikit-learn


@dataclass(frozen=True)
class Affine:
    """A scaler fitted on the training part: ``scaled = a * x + b``. It fits the numbers scikit-learn's
    ``MinMaxScaler(feature_range=(-1, 1))`` and ``StandardScaler`` fit, constant series included (a test holds
    them equal), without the 1.7 s that importing scikit-learn adds to every run's start."""

    a: float
    b: float

    @classmethod
    def fit(cls, kind: str, train: np.ndarray) -> Affine | None:
        if kind == "minmax":
            lo, hi = float(train.min()), float(train.max())
            a = 2.0 / (hi - lo if hi - lo >= TINY else 1.0)
            return cls(a, -1.0 - lo * a)
        if kind == "standard":
            mean, std = float(train.mean()), float(train.std())
            a = 1.0 / (std if std >= TINY else 1.0)
            return cls(a, -mean * a)
        return None

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x * self.a + self.b

    def inverse(self, x: np.ndarray) -> np.ndarray:
        return (x - self.b) / self.a


@dataclass
class SeriesData:
    """A series split chronologically, with the scaler fitted on the training part only."""

    name: str
    raw: np.ndarray  # as read, NaN where missing
    values: np.ndarray  # filled, original scale
    n_train: int
    scaled: np.ndarray  # whole series, scaled with the training part's scaler
    scaler: Affine | None
    missing: int

    def unscale(self, x: np.ndarray) -> np.ndarray:
        if self.scaler is None:
            return x
        return self.scaler.inverse(np.asarray(x, dtype=np.float64))


def load_series(p: dict[str, Any]) -> tuple[np.ndarray, str]:
    if p["source"] == "wave":
        y = make_wave(p["wave"], p["length"], p["amplitude"], p["frequency"], p["phase"], p["noise"], p["seed"])
        if p["missing"] > 0:
            rng = np.random.default_rng(p["seed"] + 1)
            y = y.copy()
            y[rng.random(len(y)) < p["missing"]] = np.nan
        return y, p["wave"]
    return read_csv_column(p["source"])


MAX_WINDOW_BYTES = 8 * 2**30


def check_lengths(n: int, p: dict[str, Any]) -> None:
    """The window and forecast must fit in the split series."""
    n_train = int(n * p["split"])
    n_test = n - n_train
    if p["window"] >= n_train:
        raise ParamError(f"window: {p['window']} is not shorter than the training part of the series "
                         f"({n_train} of {n} samples at split={p['split']:g})")
    if n_test < 2:
        raise ParamError(f"split: leaves {n_test} test samples of {n}; lower split")
    if p["horizon"] > n_test:
        raise ParamError(f"horizon: {p['horizon']} is longer than the test part ({n_test} samples)")
    need = n * p["window"] * 4 * 2  # the windows and their copy on the device, float32
    if need > MAX_WINDOW_BYTES:
        raise ParamError(f"window: {n} samples x window {p['window']} need {need / 2**30:.0f} GiB of windows "
                         f"(at most {MAX_WINDOW_BYTES // 2**30}); lower length or window")


def prepare(p: dict[str, Any]) -> SeriesData:
    raw, name = load_series(p)
    check_lengths(len(raw), p)
    values, missing = fill_missing(raw, p["fill"])
    n_train = int(len(values) * p["split"])
    scaler = Affine.fit(p["scale"], values[:n_train])
    scaled = scaler.transform(values) if scaler else values.copy()
    return SeriesData(name, raw, values, n_train, scaled, scaler, missing)


def windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows ``X[i] = s[i:i+window]`` with targets ``y[i] = s[i+window]``."""
    view = np.lib.stride_tricks.sliding_window_view(series, window + 1)
    return view[:, :window].copy(), view[:, window].copy()
