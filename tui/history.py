"""A run's per-epoch metrics, compact: one C double per metric per epoch (arrays, not a Python object per point).

A long run streams tens of thousands of epochs into a dashboard that stays open for days: its memory must grow by
tens of bytes an epoch, not by the ~2 KB a kept event with its dict of metrics costs.
"""

from __future__ import annotations

import dataclasses
from array import array
from bisect import bisect_left, bisect_right
from itertools import pairwise

from labdeck.engine.events import EpochMetrics, EpochTable

NAN = float("nan")
PLOT_POINTS = 2000  # points of a line handed to a plot: more than a terminal is wide, in dots
# A run's history holds at most MAX_EPOCHS epochs: past that, the epochs before the last RECENT keep only those whose
# number is a multiple of a stride that doubles each time (evenly spaced, the first epoch kept). A plot shows
# PLOT_POINTS of them; every epoch stays in the store (export, report); a dashboard open for weeks stops growing at
# ~1 MB a run.
MAX_EPOCHS = 20_000
RECENT = 5_000


class EpochHistory:
    def __init__(self) -> None:
        self.epochs = array("q")  # epoch numbers, ascending
        self._steps = array("d")  # the optimizer step each epoch ended at: the x axis
        self._values: dict[str, array] = {}  # metric -> its value at each epoch (nan: not reported then)
        self.last: EpochMetrics | None = None  # the latest epoch's event, whole (lr, progress, time)
        self._stride = 1  # the epochs before the last RECENT are those whose number it divides (see MAX_EPOCHS)

    def __len__(self) -> int:
        return len(self.epochs)

    def add(self, m: EpochMetrics) -> None:
        """An epoch's metrics, in order or not, new or sent again (with its training time: the time axis)."""
        event = m
        if "train_seconds" not in m.metrics:
            m = dataclasses.replace(m, metrics={**m.metrics, "train_seconds": m.train_seconds})
        i = bisect_left(self.epochs, m.epoch)
        if i < len(self.epochs) and self.epochs[i] == m.epoch:  # sent again: replace
            self._steps[i] = float(m.step)
            for key, values in self._values.items():
                values[i] = float(m.metrics.get(key, NAN))
        else:
            self.epochs.insert(i, m.epoch)
            self._steps.insert(i, float(m.step))
            for key, values in self._values.items():
                values.insert(i, float(m.metrics.get(key, NAN)))
        for key, value in m.metrics.items():
            if key not in self._values:  # a metric first reported now: missing before
                values = self._values[key] = array("d", [NAN]) * len(self.epochs)
                values[i] = float(value)
        if self.last is None or m.epoch >= self.last.epoch:
            self.last = event
        self._thin()

    def _thin(self) -> None:
        if len(self.epochs) <= MAX_EPOCHS:
            return
        import numpy as np

        while True:
            old = len(self.epochs) - RECENT
            numbers = np.frombuffer(self.epochs, dtype=np.int64, count=old)
            keep = np.flatnonzero((numbers % self._stride == 0) | (np.arange(old) == 0))
            del numbers  # a view on the array's buffer: it could not be resized while one exists
            for column in (self.epochs, self._steps, *self._values.values()):
                kept = array(column.typecode)
                kept.frombytes(np.frombuffer(column, dtype=np.dtype(column.typecode), count=old)[keep].tobytes())
                column[:old] = kept
            if len(self.epochs) <= MAX_EPOCHS:
                return
            self._stride *= 2  # the older epochs at this spacing are still too many

    def extend(self, table: EpochTable) -> None:
        """Many epochs at once (a long history replayed): appended as columns when they come after the known
        ones, in order, as they do; else one by one."""
        epochs = table.epochs
        ordered = all(a < b for a, b in pairwise(epochs))
        if not epochs or not ordered or (len(self.epochs) and epochs[0] <= self.epochs[-1]):
            for i, epoch in enumerate(epochs):
                metrics = {k: v[i] for k, v in table.metrics.items() if v[i] == v[i]}
                self.add(EpochMetrics(table.run_id, epoch, 0, metrics, 0.0, 0.0, 0.0, int(table.steps[i])))
            return
        before, n = len(self.epochs), len(epochs)
        self.epochs.extend(epochs)
        self._steps.extend(table.steps)
        for key, values in table.metrics.items():
            if key not in self._values:
                self._values[key] = array("d", [NAN]) * before
            self._values[key].extend(values)
        for key, values in self._values.items():
            if key not in table.metrics:
                values.extend(array("d", [NAN]) * n)
        if self.last is None or epochs[-1] > self.last.epoch:
            i = n - 1
            self.last = EpochMetrics(table.run_id, epochs[i], 0, self.metrics_at(before + i), 0.0, 0.0, 0.0,
                                     int(table.steps[i]))
        self._thin()

    def keep_until(self, epoch: int) -> None:
        """Forget the epochs after ``epoch`` (a run resumed from that epoch's checkpoint)."""
        n = bisect_right(self.epochs, epoch)
        del self.epochs[n:]
        del self._steps[n:]
        for values in self._values.values():
            del values[n:]
        if self.last is not None and self.last.epoch > epoch:
            self.last = None if n == 0 else EpochMetrics(
                self.last.run_id, self.epochs[-1], self.last.epochs, self.metrics_at(n - 1), self.last.lr,
                self.last.train_seconds, self.last.progress, int(self._steps[n - 1]))

    def metrics_at(self, i: int) -> dict[str, float]:
        return {k: v[i] for k, v in self._values.items() if v[i] == v[i]}

    def keys(self) -> list[str]:
        return list(self._values)

    def series(self, key: str, max_points: int | None = None) -> tuple[list[float], list[float]]:
        """(steps, values) of a metric, skipping epochs without it; with ``max_points``, evenly thinned to at most
        that many (the last kept), so that drawing a 100,000-epoch run costs what a small one does."""
        values = self._values.get(key)
        if values is None or not len(values):
            return [], []
        import numpy as np  # here: the dashboard's first paint does not wait for it

        # copies, at C speed: a view kept on the buffer would stop the arrays from growing
        ys = np.frombuffer(values, dtype=np.float64).copy()
        xs = np.frombuffer(self._steps, dtype=np.float64).copy()
        kept = ~np.isnan(ys)
        xs, ys = xs[kept], ys[kept]
        if max_points is not None and len(xs) > max_points:
            pick = np.linspace(0, len(xs) - 1, max_points).round().astype(np.int64)
            xs, ys = xs[pick], ys[pick]
        return xs.tolist(), ys.tolist()
