"""Huge-run benchmark: a run of 100,000 epochs and 1,000,000 batch points, beside a 50-epoch run, in one store.

Run: ``python bench/huge_run.py [--epochs 100000] [--batches 1000000]``. Measured for each run, the same way:
- open: the store's replay of its history, the dashboard model's fold of it, and the data of one redraw (every
  plotted metric, thinned to what a plot can show);
- in the real app (headless, 120x40), started on a store of that run alone: from start to the Sequence tab
  showing the run with every plot built (the small run's figure is mostly the app's own start);
- a redraw: the view drawn again with one more epoch.
The goal: the huge run opens in under a second and redraws at the cost of the small one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import tempfile
import time

from labdeck.engine import Store, registry
from labdeck.engine.events import BatchMetrics, EpochMetrics, RunEnded, RunStarted, to_record


def fill(store: Store, run_id: str, epochs: int, batches: int) -> None:
    """The events and metric rows a training process would have written, in one transaction."""
    params = registry.get("sequence").resolve({})
    per_epoch = max(1, batches // epochs)
    rows, metric_rows, t = [], [], time.time()

    def add(event) -> None:
        kind, payload = to_record(event)
        rows.append((run_id, kind, json.dumps(payload), t))

    add(RunStarted(run_id, "sequence", params, "cpu, fp32 (synthetic)", "fp32"))
    step = 0
    for epoch in range(1, epochs + 1):
        for _ in range(per_epoch):
            step += 1
            add(BatchMetrics(run_id, epoch, step, 1.0 / math.sqrt(step), 5000.0, epoch / epochs, epoch * 0.1))
        m = {"train_loss": 1.0 / epoch, "test_loss": 1.1 / epoch, "test_mse": 1.1 / epoch, "test_mae": 0.3 / epoch}
        add(EpochMetrics(run_id, epoch, epochs, m, 0.01, epoch * 0.1, epoch / epochs, step))
        metric_rows += [(run_id, epoch, k, v) for k, v in m.items()]
    add(RunEnded(run_id, "finished", m, epochs * 0.1, epochs))
    db = store._db  # a benchmark's bulk load: millions of rows through emit() would take minutes
    db.execute("BEGIN")
    db.executemany("INSERT INTO events (run_id, kind, payload, t) VALUES (?,?,?,?)", rows)
    db.executemany("INSERT INTO metrics (run_id, epoch, key, value) VALUES (?,?,?,?)", metric_rows)
    db.execute("COMMIT")
    store.finish(run_id, "finished", m, epochs * 0.1, epochs)


def model_costs(home: str, run_id: str) -> dict[str, float]:
    from labdeck.tui.history import PLOT_POINTS
    from labdeck.tui.model import RunsModel

    store = Store(home, read_only=True)
    t0 = time.perf_counter()
    _, events = store.replay(run_id)
    t1 = time.perf_counter()
    model = RunsModel()
    model.apply(run_id, events, reset=True)
    t2 = time.perf_counter()
    history = model.states[run_id].history
    for key in history.keys():  # noqa: SIM118 (an EpochHistory, not a dict)
        history.series(key, PLOT_POINTS)
    t3 = time.perf_counter()
    store.close()
    return {"replay": t1 - t0, "fold": t2 - t1, "series": t3 - t2}


async def app_costs(home: str, run_id: str) -> dict[str, float]:
    """The real app started on a store that holds only this run, to the Sequence tab showing it drawn (the tab
    follows its newest run); then one more epoch, to drawn again."""
    from labdeck.tui.app import LabdeckApp
    from labdeck.tui.experiment_pane import ExperimentPane
    from labdeck.tui.widgets.line_plot import LinePlot

    t0 = time.perf_counter()
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        while not app.mounted or not app.query("#pane-sequence"):
            await pilot.pause(0.01)
        pane = app.query_one("#pane-sequence", ExperimentPane)

        async def drawn() -> None:
            deadline = time.monotonic() + 60
            while True:
                state = app.model.states.get(run_id)
                if (state and pane.drawn_version == state.version
                        and all(p.drawn for p in app.screen.query(LinePlot) if p.region.area)):
                    return
                assert time.monotonic() < deadline, "the run was never drawn"
                await pilot.pause(0.01)

        await drawn()
        opened = time.perf_counter() - t0
        redraws = []
        store = Store(home)
        state = app.model.states[run_id]
        last = state.history.last
        for i in range(5):
            epoch = last.epoch + i + 1
            t0 = time.perf_counter()
            app.model.apply(run_id, [EpochMetrics(run_id, epoch, 0, last.metrics, 0.01, 1.0, 1.0, last.step + i)])
            state.version += 1
            await drawn()
            redraws.append(time.perf_counter() - t0)
        store.close()
    return {"open in the app": opened, "redraw in the app": statistics.median(redraws)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=100_000)
    ap.add_argument("--batches", type=int, default=1_000_000)
    a = ap.parse_args()
    runs = {}
    for name, epochs, batches in (("small", 50, 500), ("huge", a.epochs, a.batches)):
        t0 = time.perf_counter()
        home = tempfile.mkdtemp(prefix=f"labdeck-{name}-")
        store = Store(home)
        run_id = store.create_run("sequence", registry.get("sequence").resolve({}))
        fill(store, run_id, epochs, batches)
        store.close()
        runs[name] = (home, run_id)
        print(f"{name}: {epochs:,} epochs, {batches:,} batch points written in {time.perf_counter() - t0:.1f} s",
              flush=True)
    results = {}
    for name, (home, run_id) in runs.items():
        costs = model_costs(home, run_id)
        costs.update(asyncio.run(app_costs(home, run_id)))
        results[name] = costs
    print(f"\n{'seconds':18s} {'small':>9s} {'huge':>9s}")
    for key in results["small"]:
        print(f"{key:18s} {results['small'][key]:9.3f} {results['huge'][key]:9.3f}")
    opened = results["huge"]["open in the app"] - results["small"]["open in the app"]
    print(f"\nthe huge run takes {opened:.2f} s longer to open than the small one (goal < 1 s); a redraw costs "
          f"{results['huge']['redraw in the app'] / results['small']['redraw in the app']:.2f}x the small run's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
