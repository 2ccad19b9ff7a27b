"""The ``series`` table: appending a metric's points in chunks, and reading them back whole, in part or decimated.

Functions of a SQLite connection, so that the store runs them inside its own transactions and locks. A write
appends a small row (a fragment); once a series' fragments hold a chunk's worth of points, or there are many of
them, they are merged into full chunks in the same transaction, so a slow run rewrites little and a fast one
writes each point about twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import series
from .schema import write_chunks

MAX_FRAGMENTS = 64  # fragments at a series' end before they are merged, whatever their size
RAW_POINTS = 65_536  # a series this short is decimated from its points; a longer one from its chunks' summaries

_COLUMNS = "start, n, first_step, steps, vals"


def _tail(db: sqlite3.Connection, run_id: str, key: str) -> tuple[int, int, list[tuple[Any, ...]]]:
    """(points in the series, its last step, its fragments at the end: rows of fewer than CHUNK points)."""
    rows = db.execute(f"SELECT {_COLUMNS}, last_step FROM series WHERE run_id=? AND key=? ORDER BY start DESC "
                      "LIMIT ?", (run_id, key, MAX_FRAGMENTS + 1)).fetchall()
    if not rows:
        return 0, -1, []
    end, last_step = rows[0][0] + rows[0][1], rows[0][5]
    fragments = []
    for row in rows:
        if row[1] >= series.CHUNK:
            break
        fragments.append(row[:5])
    return end, last_step, fragments[::-1]


def append(db: sqlite3.Connection, run_id: str, key: str, steps: np.ndarray, values: np.ndarray) -> int:
    """Add points (steps non-decreasing) to a series; a point at or before the series' last step replaces what the
    series holds from that step on. Returns the change in the series' number of points."""
    added = len(steps)
    if not added:
        return 0
    end, last_step, fragments = _tail(db, run_id, key)
    removed = 0
    if int(steps[0]) <= last_step:  # sent again (a resumed run, a step logged twice): the new points replace
        removed = truncate(db, run_id, key, int(steps[0]) - 1)
        end, last_step, fragments = _tail(db, run_id, key)
    pending = sum(f[1] for f in fragments)
    if fragments and (len(fragments) >= MAX_FRAGMENTS or pending + added >= series.CHUNK):
        chunks = [series.decode(*f) for f in fragments]
        _replace_from(db, run_id, key, fragments[0][0], np.concatenate([*(c.steps for c in chunks), steps]),
                      np.concatenate([*(c.values for c in chunks), values]))
    else:
        write_chunks(db, run_id, key, end, steps, values)
    return added - removed


def truncate(db: sqlite3.Connection, run_id: str, key: str, last_step: int) -> int:
    """Drop a series' points after ``last_step``; returns how many were dropped."""
    rows = db.execute(f"SELECT {_COLUMNS} FROM series WHERE run_id=? AND key=? AND last_step>? ORDER BY start",
                      (run_id, key, last_step)).fetchall()
    if not rows:
        return 0
    first = series.decode(*rows[0])
    keep = first.steps <= last_step
    _replace_from(db, run_id, key, first.start, first.steps[keep], first.values[keep])
    return int(sum(r[1] for r in rows)) - int(keep.sum())


def _replace_from(db: sqlite3.Connection, run_id: str, key: str, start: int, steps: np.ndarray,
                  values: np.ndarray) -> None:
    """The series' points from index ``start`` on become these. The row at ``start`` is updated in place, so a
    series' first row keeps its rowid: the order a run's metrics were first logged in (``keys``)."""
    db.execute("DELETE FROM series WHERE run_id=? AND key=? AND start>?", (run_id, key, start))
    if not len(steps):
        db.execute("DELETE FROM series WHERE run_id=? AND key=? AND start=?", (run_id, key, start))
        return
    row = series.encode(steps[:series.CHUNK], values[:series.CHUNK])[0]
    db.execute("UPDATE series SET n=?, first_step=?, last_step=?, lo=?, hi=?, summary=?, steps=?, vals=? "
               "WHERE run_id=? AND key=? AND start=?",
               (row["n"], row["first_step"], row["last_step"], row["lo"], row["hi"], row["summary"], row["steps"],
                row["vals"], run_id, key, start))
    write_chunks(db, run_id, key, start + series.CHUNK, steps[series.CHUNK:], values[series.CHUNK:])


def keys(db: sqlite3.Connection, run_id: str) -> dict[str, dict[str, Any]]:
    """Each series of a run: its points, first and last step, lowest and highest finite value, last value."""
    out = {}
    for key, points, first, last, lo, hi, end in db.execute(
            "SELECT key, SUM(n), MIN(first_step), MAX(last_step), MIN(lo), MAX(hi), MAX(start) FROM series "
            "WHERE run_id=? GROUP BY key ORDER BY MIN(rowid)", (run_id,)).fetchall():
        out[key] = {"points": points, "first_step": first, "last_step": last, "min": lo, "max": hi,
                    "last": _last_finite(db, run_id, key, end)}
    return out


def _last_finite(db: sqlite3.Connection, run_id: str, key: str, end: int) -> float | None:
    """The series' last finite value, from its last chunk that has one."""
    rows = db.execute(f"SELECT {_COLUMNS} FROM series WHERE run_id=? AND key=? AND lo IS NOT NULL ORDER BY start "
                      "DESC LIMIT 1", (run_id, key)).fetchall()
    if not rows:
        return None
    values = series.decode(*rows[0]).values
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if len(finite) else None


def read(db: sqlite3.Connection, run_id: str, key: str, after: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A series' points from point index ``after`` on: (steps, values)."""
    rows = db.execute(f"SELECT {_COLUMNS} FROM series WHERE run_id=? AND key=? AND start>? ORDER BY start",
                      (run_id, key, after - series.CHUNK)).fetchall()
    chunks = [series.decode(*r) for r in rows if r[0] + r[1] > after]
    if not chunks:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    skip = after - chunks[0].start
    return (np.concatenate([c.steps for c in chunks])[max(0, skip):],
            np.concatenate([c.values for c in chunks])[max(0, skip):])


def count(db: sqlite3.Connection, run_id: str, key: str) -> int:
    row = db.execute("SELECT start + n FROM series WHERE run_id=? AND key=? ORDER BY start DESC LIMIT 1",
                     (run_id, key)).fetchone()
    return row[0] if row else 0


def decimated(db: sqlite3.Connection, run_id: str, key: str, buckets: int) -> tuple[np.ndarray, np.ndarray, int]:
    """A series drawn in ``buckets`` columns: (steps, values, points it stands for). A long series is read from its
    chunks' summaries, never point by point."""
    total = count(db, run_id, key)
    if total <= RAW_POINTS:
        steps, values = read(db, run_id, key)
        xs, ys = series.decimate(steps, values, buckets)
        return xs, ys, total
    rows = db.execute("SELECT n, first_step, iif(n < ?, steps, NULL), iif(n < ?, vals, NULL), summary FROM series "
                      "WHERE run_id=? AND key=? ORDER BY start",
                      (series.CHUNK, series.CHUNK, run_id, key)).fetchall()
    xs_parts, ys_parts = [], []
    for n, first_step, steps, vals, summary in rows:
        if vals is None:
            xs, ys = series.decode_summary(summary)
        else:
            chunk = series.decode(0, n, first_step, steps, vals)
            xs, ys = series.decimate(chunk.steps, chunk.values, -(-n // series.SUMMARY))
        xs_parts.append(xs)
        ys_parts.append(ys)
    xs, ys = series.decimate(np.concatenate(xs_parts), np.concatenate(ys_parts), buckets)
    return xs, ys, total


class _Reader:
    """One series read a few chunks at a time, in order."""

    BATCH = 16

    def __init__(self, db: sqlite3.Connection, run_id: str, key: str):
        self.db, self.run_id, self.key = db, run_id, key
        self.next_start = 0
        self.done = False
        self.steps = np.empty(0, np.int64)
        self.values = np.empty(0, np.float64)

    def fill(self) -> None:
        if self.done or len(self.steps):
            return
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM series WHERE run_id=? AND key=? AND start>=? ORDER BY start "
                               "LIMIT ?", (self.run_id, self.key, self.next_start, self.BATCH)).fetchall()
        if not rows:
            self.done = True
            return
        chunks = [series.decode(*r) for r in rows]
        self.next_start = rows[-1][0] + rows[-1][1]
        self.steps = np.concatenate([c.steps for c in chunks])
        self.values = np.concatenate([c.values for c in chunks])

    def take(self, bound: int) -> tuple[np.ndarray, np.ndarray]:
        cut = int(np.searchsorted(self.steps, bound, side="right"))
        taken = self.steps[:cut], self.values[:cut]
        self.steps, self.values = self.steps[cut:], self.values[cut:]
        return taken


def blocks(db: sqlite3.Connection, run_id: str, names: list[str]
           ) -> Iterator[tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]]:
    """A run's series side by side, a block of steps at a time, in step order: (steps, {key: (values, present)}),
    ``present`` False where the series has no point at that step (its value is then NaN). A step a series holds
    twice gives its last value. Memory stays flat however long the run."""
    readers = [_Reader(db, run_id, key) for key in names]
    while True:
        for r in readers:
            r.fill()
        live = [r for r in readers if len(r.steps)]
        if not live:
            return
        bound = min(int(r.steps[-1]) for r in live)
        taken = {r.key: r.take(bound) for r in readers}
        steps = np.unique(np.concatenate([s for s, _ in taken.values()]))
        columns = {}
        for key, (key_steps, key_values) in taken.items():
            values = np.full(len(steps), np.nan)
            present = np.zeros(len(steps), bool)
            if len(key_steps):
                last = np.append(key_steps[1:] != key_steps[:-1], True)  # the last of repeated steps
                where = np.searchsorted(steps, key_steps[last])
                values[where] = key_values[last]
                present[where] = True
            columns[key] = (values, present)
        yield steps, columns


def step_values(db: sqlite3.Connection, run_id: str, step: int) -> dict[str, float]:
    """Each series' value at ``step`` (the last, if logged twice), for the series that have one."""
    out = {}
    for key, *row in db.execute(f"SELECT key, {_COLUMNS} FROM series WHERE run_id=? AND first_step<=? AND "
                                "last_step>=?", (run_id, step, step)).fetchall():
        chunk = series.decode(*row)
        hits = np.flatnonzero(chunk.steps == step)
        if len(hits):
            out[key] = float(chunk.values[hits[-1]])
    return out
