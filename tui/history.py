"""A run's per-epoch metrics, compact: one C double per metric per epoch (arrays, not a Python object per point).

A long run streams tens of thousands of epochs into a dashboard that stays open for days: its memory must grow by
tens of bytes an epoch, not by the ~2 KB a kept event with its dict of metrics costs.
"""

from __future__ import annotations

import dataclasses
from array import array
from bisect import bisect_left, bisect_right
from itertools import pairwise

from labdeck.engine.events import EpochMetrics, EpochTable, MetricSeries

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
            columns: list[array] = [self.epochs, self._steps, *self._values.values()]
            for column in columns:
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
        for key, column in self._values.items():
            if key not in table.metrics:
                column.extend(array("d", [NAN]) * n)
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
            xs, ys = decimate(xs, ys, max_points // 3)
        return xs.tolist(), ys.tolist()

    @property
    def latest_step(self) -> int:
        """The highest epoch reported (0 before the first)."""
        return self.epochs[-1] if len(self.epochs) else 0

    def latest(self) -> dict[str, float]:
        return dict(self.last.metrics) if self.last is not None else {}


def decimate(xs, ys, buckets: int):
    from labdeck.engine.series import decimate as engine_decimate  # NumPy: not for the first frame

    return engine_decimate(xs, ys, buckets)


class SeriesHistory:
    """A script's metrics, each a series of its own: the decimated past the store replayed (spikes and gaps kept)
    and the points logged since. A series past MAX_POINTS has all but its last RECENT points decimated again, so a
    run that logs for days costs the dashboard a bounded amount of memory and drawing."""

    MAX_POINTS = 12_000
    RECENT = 4_000

    def __init__(self) -> None:
        self._xs: dict[str, array] = {}
        self._ys: dict[str, array] = {}
        self.counts: dict[str, int] = {}  # stored points each series stands for (where the next read starts)
        self._latest: dict[str, float] = {}  # each metric's last finite value
        self.last: EpochMetrics | None = None  # a script has no epoch events
        self.latest_step = 0

    def __len__(self) -> int:
        return self.latest_step

    def load(self, event: MetricSeries) -> None:
        """The replayed series (replacing what was held), or new points to append."""
        if not event.append:
            self._xs, self._ys, self.counts, self._latest = {}, {}, {}, {}
        for key, (xs, ys) in event.series.items():
            self._xs.setdefault(key, array("d")).extend(xs)
            self._ys.setdefault(key, array("d")).extend(ys)
            for y in reversed(ys):
                if y - y == 0.0:  # finite
                    self._latest[key] = y
                    break
            if xs:
                self.latest_step = max(self.latest_step, int(xs[-1]))
            if len(self._xs[key]) > self.MAX_POINTS:
                self._thin(key)
        self.counts.update(event.counts)

    def _thin(self, key: str) -> None:
        import numpy as np

        xs, ys = np.frombuffer(self._xs[key]), np.frombuffer(self._ys[key])
        old_x, old_y = decimate(xs[:-self.RECENT], ys[:-self.RECENT], (self.MAX_POINTS - self.RECENT) // 6)
        kept_x, kept_y = array("d", old_x.tobytes()), array("d", old_y.tobytes())
        kept_x.frombytes(xs[-self.RECENT:].tobytes())
        kept_y.frombytes(ys[-self.RECENT:].tobytes())
        del xs, ys  # views on the arrays about to be replaced
        self._xs[key], self._ys[key] = kept_x, kept_y

    def keep_until(self, step: int) -> None:
        """Forget the points after ``step`` (a script's run resumed there)."""
        for key in list(self._xs):
            xs = self._xs[key]
            n = bisect_right(xs, float(step))
            del xs[n:]
            del self._ys[key][n:]
        self.latest_step = min(self.latest_step, step)

    def keys(self) -> list[str]:
        return list(self._xs)

    def latest(self) -> dict[str, float]:
        return dict(self._latest)

    def series(self, key: str, max_points: int | None = None) -> tuple[list[float], list[float]]:
        """(steps, values) of a metric, NaN where it has a gap; decimated to ``max_points`` (min and max kept)."""
        xs, ys = self._xs.get(key), self._ys.get(key)
        if not xs or ys is None:
            return [], []
        if max_points is None or len(xs) <= max_points:
            return xs.tolist(), ys.tolist()
        out_x, out_y = decimate(xs, ys, max_points // 3)
        return out_x.tolist(), out_y.tolist()
