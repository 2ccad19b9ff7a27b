"""Huge-run benchmark: a run of 100,000 epochs and 1,000,000 batch points beside a 50-epoch run, and a script's run
of 1,000,000 steps x 5 metrics beside one of 50 steps, each in a store of its own.

Run: ``python bench/huge_run.py [--epochs 100000] [--batches 1000000] [--steps 1000000]``. Measured for each run, the
same way:
- open: the store's replay of its history (a script's metrics decimated), the dashboard model's fold of it, and the
  data of one redraw (every plotted metric, thinned to what a plot can show);
- in the real app (headless, 120x40), started on a store of that run alone: from start to the run shown with every
  plot built (an experiment's run: its tab, which follows its newest run; a script's run: Enter on it in the Runs
  tab, its metrics view); the small run's figure is mostly the app's own start;
- a redraw: the view drawn again with one more epoch (or step).
The goal: a huge run opens in under a second more than a small one and redraws at the cost of the small one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import tempfile
import time

import numpy as np

from labdeck.engine import Store, registry
from labdeck.engine.events import BatchMetrics, EpochMetrics, MetricSeries, RunEnded, RunStarted, to_record


def fill(store: Store, run_id: str, epochs: int, batches: int) -> None:
    """The events and metric rows a training process would have written, in one transaction."""
    params = registry.get("sequence").resolve({})
    per_epoch = max(1, batches // epochs)
    rows, t = [], time.time()

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
    add(RunEnded(run_id, "finished", m, epochs * 0.1, epochs))
    db = store._db  # a benchmark's bulk load: millions of rows through emit() would take minutes
    db.execute("BEGIN")
    db.executemany("INSERT INTO events (run_id, kind, payload, t) VALUES (?,?,?,?)", rows)
    db.execute("COMMIT")
    e = np.arange(1, epochs + 1)  # the same metrics as the events, as the trainer's log_epoch stores them
    store.append_points(run_id, {"train_loss": (e, 1.0 / e), "test_loss": (e, 1.1 / e), "test_mse": (e, 1.1 / e),
                                 "test_mae": (e, 0.3 / e), "train_seconds": (e, e * 0.1)}, epochs, epochs * 0.1)
    store.finish(run_id, "finished", m, epochs * 0.1, epochs)


def fill_script(store: Store, run_id: str, steps: int) -> None:
    """A script's run as the logging API writes it: five metrics and the time at every step."""
    store.emit(RunStarted(run_id, "my-loop", {"lr": 3e-4}, "your script", ""))
    s = np.arange(steps)
    loss = 1.0 / (1.0 + s * 1e-4) + (s * 7919 % 1000) * 1e-5
    for i in range(0, steps, 100_000):  # in the writer's batches
        part = slice(i, i + 100_000)
        store.append_points(run_id, {"loss": (s[part], loss[part]), "acc": (s[part], 1 - loss[part] / 2),
                                     "lr": (s[part], np.full(len(s[part]), 3e-4)),
                                     "grad_norm": (s[part], 1.0 + s[part] % 17 * 0.1),
                                     "tokens_per_s": (s[part], 51234.0 + s[part] % 100),
                                     "train_seconds": (s[part], s[part] * 1e-3)}, int(s[part][-1]), steps * 1e-3)
    store.emit(RunEnded(run_id, "finished", {"loss": float(loss[-1])}, steps * 1e-3, steps - 1))
    store.finish(run_id, "finished", {"loss": float(loss[-1])}, steps * 1e-3, steps - 1)


def model_costs(home: str, run_id: str, script: bool) -> dict[str, float]:
    from labdeck.tui.history import PLOT_POINTS
    from labdeck.tui.model import RunsModel

    store = Store(home, read_only=True)
    t0 = time.perf_counter()
    _, events = store.replay(run_id, series=script)
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


async def app_costs(home: str, run_id: str, script: bool) -> dict[str, float]:
    """The real app started on a store that holds only this run, to the run shown with every plot drawn (an
    experiment's run: its tab, which follows its newest run; a script's run: Enter on it in the Runs tab); then one
    more epoch or step, to drawn again."""
    from labdeck.tui.app import LabdeckApp
    from labdeck.tui.experiment_pane import ExperimentPane
    from labdeck.tui.messages import RunEvents
    from labdeck.tui.screens.run_metrics import RunMetricsView
    from labdeck.tui.widgets.line_plot import LinePlot
    from labdeck.tui.widgets.virtual_table import VirtualTable

    t0 = time.perf_counter()
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4" if script else "2")
        while not app.mounted or not app.query("#pane-sequence"):
            await pilot.pause(0.01)
        if script:
            while not (table := app.query_one("#runs-table", VirtualTable)).row_count:
                await pilot.pause(0.01)
            table.focus()
            await pilot.press("enter")
            while not isinstance(app.screen, RunMetricsView):
                await pilot.pause(0.01)
        view = app.screen if script else app.query_one("#pane-sequence", ExperimentPane)

        def shown(state) -> bool:
            if script:
                return view._drawn is not None and view._drawn[0] == state.version
            return view.drawn_version == state.version

        async def drawn() -> None:
            deadline = time.monotonic() + 60
            while True:
                state = app.model.states.get(run_id)
                if (state and shown(state) and state.latest_epoch
                        and all(p.drawn for p in app.screen.query(LinePlot) if p.region.area)):
                    return
                assert time.monotonic() < deadline, "the run was never drawn"
                await pilot.pause(0.01)

        await drawn()
        opened = time.perf_counter() - t0
        redraws = []
        state = app.model.states[run_id]
        last, version = state.history.last, state.version
        for i in range(5):
            t0 = time.perf_counter()
            if script:
                step = float(state.latest_epoch + 1)
                event = MetricSeries(run_id, {k: ((step,), (0.5,)) for k in state.metric_keys()}, {}, append=True)
            else:
                event = EpochMetrics(run_id, last.epoch + i + 1, 0, last.metrics, 0.01, 1.0, 1.0, last.step + i)
            app.post_message(RunEvents(run_id, [event]))  # as the store watcher brings them
            while state.version == version:
                await pilot.pause(0.001)
            version = state.version
            await drawn()
            redraws.append(time.perf_counter() - t0)
    return {"open in the app": opened, "redraw in the app": statistics.median(redraws)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=100_000)
    ap.add_argument("--batches", type=int, default=1_000_000)
    ap.add_argument("--steps", type=int, default=1_000_000)
    a = ap.parse_args()
    runs = {}
    for name, epochs, batches in (("small", 50, 500), ("huge", a.epochs, a.batches)):
        t0 = time.perf_counter()
        home = tempfile.mkdtemp(prefix=f"labdeck-{name}-")
        store = Store(home)
        run_id = store.create_run("sequence", registry.get("sequence").resolve({}))
        fill(store, run_id, epochs, batches)
        store.close()
        runs[name] = (home, run_id, False)
        print(f"{name}: {epochs:,} epochs, {batches:,} batch points written in {time.perf_counter() - t0:.1f} s",
              flush=True)
    for name, steps in (("small script", 50), ("huge script", a.steps)):
        t0 = time.perf_counter()
        home = tempfile.mkdtemp(prefix="labdeck-script-")
        store = Store(home)
        run_id = store.create_run("my-loop", {"lr": 3e-4})
        fill_script(store, run_id, steps)
        store.close()
        runs[name] = (home, run_id, True)
        print(f"{name}: {steps:,} steps x 5 metrics written in {time.perf_counter() - t0:.1f} s", flush=True)
    results = {}
    for name, (home, run_id, script) in runs.items():
        costs = model_costs(home, run_id, script)
        costs.update(asyncio.run(app_costs(home, run_id, script)))
        results[name] = costs
    print(f"\n{'seconds':18s} " + " ".join(f"{name:>13s}" for name in results))
    for key in results["small"]:
        print(f"{key:18s} " + " ".join(f"{r[key]:13.3f}" for r in results.values()))
    for small, huge in (("small", "huge"), ("small script", "huge script")):
        opened = results[huge]["open in the app"] - results[small]["open in the app"]
        print(f"\nthe {huge} run takes {opened:.2f} s longer to open than the {small} one (goal < 1 s); a redraw costs "
              f"{results[huge]['redraw in the app'] / results[small]['redraw in the app']:.2f}x the {small} run's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
