"""Metric series as the store keeps them: chunks of points, and min/max decimation that keeps spikes and gaps.

A series is one metric of one run: points (step, value), steps never decreasing. The store holds it in chunks of
at most ``CHUNK`` points: the steps (nothing at all when they count up by one, as they mostly do), the values as
float64, and a summary, the chunk decimated to a min and a max per ``SUMMARY`` points. A plot of a million points
reads the summaries (a sixteenth of the data) and decimates them again, so it never touches every point.

Decimation keeps, per bucket of points, the lowest and the highest finite value at their own steps, and a gap
(a NaN point) where the bucket held a NaN or an infinity, so that a spike or a hole in a long run stays visible.
Everything here works on NumPy arrays; nothing makes a Python object per point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

CHUNK = 1024  # points in a full chunk
SUMMARY = 32  # points per min/max pair of a chunk's summary


@dataclass(frozen=True)
class Chunk:
    """One stored chunk of a series, decoded (``steps`` int64, ``values`` float64)."""

    start: int  # the index of its first point in the series
    steps: np.ndarray
    values: np.ndarray


def encode(steps: np.ndarray, values: np.ndarray) -> list[dict[str, Any]]:
    """The rows that hold these points (steps non-decreasing): one per CHUNK points, the last one shorter. Worked
    out for all the rows at once: a flush of 100,000 points costs a few NumPy calls, not a few per row."""
    steps = np.ascontiguousarray(steps, dtype="<i8")
    values = np.ascontiguousarray(values, dtype="<f8")
    n = len(steps)
    if not n:
        return []
    starts = np.arange(0, n, CHUNK)
    ends = np.minimum(starts + CHUNK, n)
    # a row's steps count up by one when no step inside it differs from the one before by anything else
    breaks = np.concatenate([[0], np.cumsum(np.diff(steps) != 1)])
    consecutive = breaks[ends - 1] == breaks[starts]
    finite = np.isfinite(values)
    lo = np.minimum.reduceat(np.where(finite, values, np.inf), starts)
    hi = np.maximum.reduceat(np.where(finite, values, -np.inf), starts)
    xs, ys, counts = _buckets(steps, values, SUMMARY)
    per_row = np.add.reduceat(counts, np.arange(0, len(counts), CHUNK // SUMMARY))
    cuts = np.concatenate([[0], np.cumsum(per_row)])
    rows = []
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
        summary = xs[cuts[i]:cuts[i + 1]].tobytes() + ys[cuts[i]:cuts[i + 1]].tobytes()
        rows.append({"n": b - a, "first_step": int(steps[a]), "last_step": int(steps[b - 1]),
                     "lo": float(lo[i]) if math.isfinite(lo[i]) else None,
                     "hi": float(hi[i]) if math.isfinite(hi[i]) else None,
                     "steps": None if consecutive[i] else steps[a:b].tobytes(), "vals": values[a:b].tobytes(),
                     "summary": summary})
    return rows


def decode(start: int, n: int, first_step: int, steps: bytes | None, vals: bytes) -> Chunk:
    step_array = (np.arange(first_step, first_step + n, dtype=np.int64) if steps is None
                  else np.frombuffer(steps, dtype="<i8"))
    return Chunk(start, step_array, np.frombuffer(vals, dtype="<f8"))


def decode_summary(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    both = np.frombuffer(blob, dtype="<f8")
    half = len(both) // 2
    return both[:half], both[half:]


def decimate(xs: np.ndarray, ys: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ~3 points per bucket of consecutive points: the min and the max finite value in step order, and a
    NaN point (a gap) where the bucket held a non-finite value. Short series come back whole (as float64, each
    non-finite value a NaN)."""
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    n = len(ys)
    buckets = max(1, int(buckets))
    if n <= 2 * buckets:
        return xs, np.where(np.isfinite(ys), ys, np.nan)  # an infinity is a gap here too
    out_x, out_y, _ = _buckets(xs, ys, math.ceil(n / buckets))
    return out_x, out_y


def _buckets(xs: np.ndarray, ys: np.ndarray, per: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max/gap points of each bucket of ``per`` consecutive points (the last may be shorter), and how many
    points each bucket gave."""
    n = len(ys)
    full = n // per * per
    parts = [_minmax(xs[:full].reshape(-1, per), ys[:full].reshape(-1, per))] if full else []
    if full < n:
        parts.append(_minmax(xs[full:].reshape(1, -1), ys[full:].reshape(1, -1)))
    return (np.concatenate([p[0] for p in parts]).astype(np.float64), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


def _minmax(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows are buckets: each gives its min, max and first non-finite point, in the order they stand."""
    finite = np.isfinite(y)
    low = np.where(finite, y, np.inf).argmin(axis=1)
    high = np.where(finite, y, -np.inf).argmax(axis=1)
    gap = (~finite).argmax(axis=1)
    has_finite, has_gap = finite.any(axis=1), ~finite.all(axis=1)
    # three candidates per bucket, in their order within it; the max dropped where it is the min
    pos = np.stack([low, high, gap], axis=1)
    keep = np.stack([has_finite, has_finite & (high != low), has_gap], axis=1)
    pos = np.sort(np.where(keep, pos, x.shape[1]), axis=1)  # dropped candidates sort last
    keep = pos < x.shape[1]
    rows = np.broadcast_to(np.arange(len(y))[:, None], pos.shape)
    safe = np.minimum(pos, x.shape[1] - 1)
    out_x = x[rows, safe][keep]
    out_y = y[rows, safe][keep]
    out_y[~np.isfinite(out_y)] = np.nan  # an infinity is a gap too: a plot cannot draw it
    return out_x, out_y, keep.sum(axis=1)


def split_at_gaps(xs: list[float], ys: list[float]) -> list[tuple[list[float], list[float]]]:
    """The runs of finite points between gaps, each to be drawn as a line of its own."""
    out: list[tuple[list[float], list[float]]] = []
    cur_x: list[float] = []
    cur_y: list[float] = []
    for x, y in zip(xs, ys):
        if math.isfinite(y) and math.isfinite(x):
            cur_x.append(x)
            cur_y.append(y)
        elif cur_x:
            out.append((cur_x, cur_y))
            cur_x, cur_y = [], []
    if cur_x:
        out.append((cur_x, cur_y))
    return out
