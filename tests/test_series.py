"""Metric series in the store: chunks, fragments merged, decimation that keeps spikes and gaps, old stores migrated,
and runs listed by what changed."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labdeck.engine import schema, series, series_table
from labdeck.engine.listing import RunListing
from labdeck.engine.store import Store


def test_decimation_keeps_every_spike_and_every_gap():
    rng = np.random.default_rng(0)
    steps = np.arange(1_000_000)
    values = 1.0 / np.sqrt(steps + 1) + rng.normal(0, 1e-3, len(steps))
    values[123_457] = 50.0  # one step's spike
    values[654_321] = np.nan  # one step's gap
    values[900_000] = np.inf
    xs, ys = series.decimate(steps, values, 500)
    assert len(xs) <= 3 * 500
    assert 50.0 in ys and xs[list(ys).index(50.0)] == 123_457
    gaps = xs[np.isnan(ys)]
    assert any(abs(g - 654_321) < 2_000 for g in gaps) and any(abs(g - 900_000) < 2_000 for g in gaps)
    assert np.all(np.diff(xs) >= 0)  # still in step order
    assert ys[-1] == pytest.approx(values[-2000:].min(), abs=1e-2) or xs[-1] > 999_000


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64)), min_size=1, max_size=3000),
       st.integers(1, 200))
def test_decimation_keeps_the_extremes_of_any_series(values, buckets):
    ys = np.array(values, dtype=np.float64)
    xs = np.arange(len(ys))
    out_x, out_y = series.decimate(xs, ys, buckets)
    finite = ys[np.isfinite(ys)]
    kept = out_y[np.isfinite(out_y)]
    if len(finite):
        assert kept.min() == finite.min() and kept.max() == finite.max()
    assert np.isnan(out_y).any() == (~np.isfinite(ys)).any()
    assert set(out_x.tolist()) <= set(xs.tolist())


def test_points_go_in_as_fragments_and_come_out_whole(tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run("script", {})
    logged = []
    step = 0
    for flush in range(300):  # a slow run: a few points a flush
        n = flush % 7 + 1
        steps = np.arange(step, step + n)
        store.append_points(run_id, {"loss": (steps, steps * 0.5)}, int(steps[-1]), 0.0)
        logged += steps.tolist()
        step += n
    db = sqlite3.connect(tmp_path / "labdeck.db")
    rows = db.execute("SELECT start, n FROM series WHERE key='loss' ORDER BY start").fetchall()
    assert sum(n for _, n in rows) == len(logged) == store.get(run_id).points
    assert len(rows) <= len(logged) // series.CHUNK + series_table.MAX_FRAGMENTS  # merged as it went
    assert all(n == series.CHUNK for _, n in rows[:len(logged) // series.CHUNK])
    steps, values = store.points(run_id, "loss")
    assert steps.tolist() == logged and values.tolist() == [s * 0.5 for s in logged]
    # a read from any point on, as a dashboard catching up does
    assert store.points(run_id, "loss", after=777)[0].tolist() == logged[777:]


def test_a_step_sent_again_replaces_what_followed_it(tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run("script", {})
    store.append_points(run_id, {"loss": (np.arange(3000), np.zeros(3000))}, 2999, 0.0)
    store.append_points(run_id, {"loss": (np.arange(1500, 1600), np.ones(100))}, 1599, 0.0)
    steps, values = store.points(run_id, "loss")
    assert steps.tolist() == list(range(1600)) and values[1500:].tolist() == [1.0] * 100
    assert store.get(run_id).points == 1600
    store.truncate_after_epoch(run_id, 99)
    assert store.points(run_id, "loss")[0].tolist() == list(range(100)) and store.get(run_id).points == 100


def test_a_long_series_is_decimated_from_summaries_and_exports_whole(tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run("script", {})
    n = 200_000
    steps = np.arange(0, 2 * n, 2)  # every other step: steps are stored
    values = np.cos(steps / 1000.0)
    values[70_001] = 9.0
    values[150_000] = np.nan
    store.append_points(run_id, {"loss": (steps, values), "acc": (steps[::10], values[::10])}, int(steps[-1]), 1.0)
    decimated = store.decimated(run_id, buckets=400)
    xs, ys, count = decimated["loss"]
    assert count == n and len(xs) <= 3 * 400 and 9.0 in ys and np.isnan(ys).any()
    rows = sum(len(block) for block, _ in store.blocks(run_id, ["loss", "acc"]))
    assert rows == n
    keys = store.series_keys(run_id)
    assert list(keys) == ["loss", "acc"] and keys["loss"]["max"] == 9.0 and keys["loss"]["last_step"] == 2 * n - 2


def test_a_store_of_the_first_schema_opens_with_its_metrics_as_series(tmp_path):
    db = sqlite3.connect(tmp_path / "labdeck.db")
    for statement in schema.statements(schema.BASE):
        db.execute(statement)
    db.execute("ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT ''")
    db.execute("INSERT INTO runs (id, experiment, status, params, created, epochs) VALUES "
               "('old', 'sequence', 'finished', '{}', 1.0, 3)")
    db.executemany("INSERT INTO metrics VALUES ('old', ?, ?, ?)",
                   [(e, k, v) for e in (1, 2, 3) for k, v in (("train_loss", 1.0 / e), ("test_mse", None))])
    db.commit()
    db.close()
    (tmp_path / "runs").mkdir()
    # read-only first: brought up to date in memory, the file untouched
    reader = Store(tmp_path, read_only=True)
    assert reader.history("old")["train_loss"] == [1.0, 0.5, 1 / 3]
    assert sqlite3.connect(tmp_path / "labdeck.db").execute("PRAGMA user_version").fetchone()[0] == 0
    store = Store(tmp_path)
    history = store.history("old")
    assert history["epoch"] == [1.0, 2.0, 3.0] and history["train_loss"] == [1.0, 0.5, 1 / 3]
    assert all(math.isnan(v) for v in history["test_mse"])  # a NaN the old table held as NULL
    assert store.get("old").points == 6
    assert sqlite3.connect(tmp_path / "labdeck.db").execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
    with sqlite3.connect(tmp_path / "labdeck.db") as newer:
        newer.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
    with pytest.raises(Exception, match="newer labdeck"):
        Store(tmp_path)


def test_a_listing_reads_only_what_changed_and_sees_deaths_and_deletions(tmp_path):
    store = Store(tmp_path)
    ids = [store.create_run("script", {"i": i}) for i in range(5)]
    listing = RunListing(store)
    changed, removed = listing.poll()
    assert sorted(i.id for i in changed) == sorted(ids) and removed == []
    assert listing.poll() == ([], [])  # nothing changed: nothing read
    store.set_params(ids[1], {"i": 10})
    store.claim(ids[2], 999_999_999, None)  # running in a process that does not exist
    changed, _ = listing.poll()
    assert {i.id: i.status for i in changed} == {ids[1]: "queued", ids[2]: "interrupted"}
    store.delete_run(ids[0])
    changed, removed = listing.poll()
    assert removed == [ids[0]] and changed == []
    assert json.loads(json.dumps([i.to_json() for i in listing.infos.values()]))
