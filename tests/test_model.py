"""Unit tests of what the dashboard knows about runs (no Textual), the redraw pace, and the engine's rules the UI
calls (ranking, deleting, budgets)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from labdeck.engine import LabdeckError, ParamError, Store
from labdeck.engine.events import (
    BatchMetrics,
    CheckpointSaved,
    EpochMetrics,
    Phase,
    Progress,
    RunEnded,
    RunStarted,
    StatusChanged,
)
from labdeck.engine.params import parse_budget
from labdeck.engine.runs import delete
from labdeck.engine.scores import best, ranked
from labdeck.engine.store import RunInfo
from labdeck.tui.model import RunsModel
from labdeck.tui.redraw import FASTEST, SHARED, SLOWEST, RedrawPace
from labdeck.tui.widgets.run_header import detail_text, eta_text, rate_text


def info(run_id: str, experiment: str = "sequence", status: str = "finished", **metrics) -> RunInfo:
    return RunInfo(run_id, experiment, status, {}, 0.0, None, None, "", metrics, 0.0, 0, "", "run")


def started(run_id: str = "r1", budget: float | None = None) -> RunStarted:
    return RunStarted(run_id, "sequence", {"epochs": 10}, "cpu, bf16, 2 threads [measured]", "bf16", 0, budget)


def epoch(n: int, run_id: str = "r1", seconds: float = 1.0) -> EpochMetrics:
    return EpochMetrics(run_id, n, 10, {"train_loss": 1.0 / n}, 0.01, seconds * n, n / 10, n * 10)


def test_a_run_shows_what_it_is_doing_phase_by_phase():
    model = RunsModel()
    model.apply("r1", [Phase("r1", "loading data")])
    state = model.states["r1"]
    assert state.phase == "loading data"
    model.apply("r1", [Progress("r1", "download", 5e6, 10e6, 4.0)])
    assert state.phase == "loading data: downloading 5.0 of 10.0 MB (50%), 0:04 left"
    model.apply("r1", [started()])
    assert (state.phase, state.status, state.precision) == ("training", "running", "bf16")
    model.apply("r1", [Phase("r1", "evaluating")])
    assert state.phase == "evaluating"
    model.apply("r1", [Progress("r1", "evaluating", 3000, 10000, 65.0)])
    assert state.phase == "evaluating 3,000/10,000 (30%), 1:05 left"
    model.apply("r1", [epoch(1)])
    assert state.phase == "saving checkpoint"
    model.apply("r1", [CheckpointSaved("r1", 1, "x")])
    assert state.phase == "training"
    model.apply("r1", [Phase("r1", "final evaluation")])
    assert "final evaluation" in str(detail_text(state)) and "cpu, bf16, 2 threads" in str(detail_text(state))
    assert "measured" not in str(detail_text(state))  # the choice's reason stays in the log


def test_the_rate_is_smoothed_and_has_a_unit():
    model = RunsModel()
    model.apply("r1", [started()])
    state = model.states["r1"]
    model.apply("r1", [BatchMetrics("r1", 1, 10, 0.5, 1000.0, 0.1, 1.0)])
    assert rate_text(state, "img") == "1,000 img/s"
    model.apply("r1", [BatchMetrics("r1", 1, 20, 0.5, 30.0, 0.2, 2.0)])  # one window 30x slower
    assert 600 < state.rate < 800


def test_eta_of_a_budgeted_first_epoch_counts_down_from_the_budget():
    model = RunsModel()
    model.apply("r1", [started(budget=60.0), BatchMetrics("r1", 1, 10, 0.5, 100.0, 0.25, 15.0)])
    state = model.states["r1"]
    assert not state.epochs and state.eta_seconds() == 45.0
    assert eta_text(state) == "ETA 0:45"
    model.apply("r2", [started("r2"), epoch(2, "r2", seconds=10.0)])  # epochs decide: 20 s for 20%
    assert model.states["r2"].eta_seconds() == pytest.approx(80.0)


def test_eta_of_a_wall_budget_is_its_deadline_and_holds_while_paused(monkeypatch):
    from labdeck.tui import state as state_module

    now = [1000.0]
    monkeypatch.setattr(state_module.time, "time", lambda: now[0])
    model = RunsModel()
    begun = RunStarted("r1", "sequence", {}, "cpu", "fp32", 0, 60.0, "wall", deadline=1050.0)
    model.apply("r1", [begun, BatchMetrics("r1", 1, 10, 0.5, 100.0, 0.25, 15.0)])
    state = model.states["r1"]
    assert state.eta_seconds() == 50.0  # the whole run's time left, not 60 - 15 s of training
    model.apply("r1", [StatusChanged("r1", "paused")])
    now[0] = 1030.0
    assert state.eta_seconds() == 50.0  # a pause holds the clock
    model.apply("r1", [StatusChanged("r1", "running", deadline=1080.0)])  # the run moved its end by the pause
    assert state.eta_seconds() == 50.0
    now[0] = 1040.0
    assert state.eta_seconds() == 40.0


def test_a_failed_run_says_why_where_the_user_looks():
    model = RunsModel()
    failed = model.apply("r1", [started(), RunEnded("r1", "failed", {}, 0.0, 0, "disk full", "")])
    assert [e.message for e in failed] == ["disk full"]
    assert str(detail_text(model.states["r1"])) == "failed: disk full"
    assert model.apply("r1", [started(), RunEnded("r1", "failed", {}, 0.0, 0, "x")], reset=True) == []  # replayed


def test_a_started_or_resumed_run_shows_at_once():
    model = RunsModel()
    state = model.started("r1", "sequence", {"epochs": 3}, 20.0)
    assert (state.status, state.phase, state.budget) == ("queued", "starting", 20.0)
    model.apply("r1", [started(), RunEnded("r1", "stopped", {}, 1.0, 1)])
    version = state.version
    model.resumed("r1")
    assert (state.status, state.phase, state.ended) == ("queued", "starting", None) and state.version > version
    # resumed from elsewhere (the CLI): the store's list says queued
    model.apply("r1", [RunEnded("r1", "stopped", {}, 1.0, 1)])
    model.update_runs([info("r1", status="queued")])
    assert state.status == "queued" and state.ended is None


def test_a_stale_running_status_does_not_undo_an_ended_run():
    model = RunsModel()
    model.apply("r1", [started(), RunEnded("r1", "finished", {}, 1.0, 1)])
    model.update_runs([info("r1", status="running")])  # listed between its RunEnded and the store's update
    assert model.states["r1"].status == "finished"
    model.update_runs([info("r1", status="interrupted")])
    assert model.states["r1"].status == "interrupted"


def test_newest_and_compared_runs():
    model = RunsModel()
    model.update_runs([info("a"), info("b", "vision"), info("c")])
    assert model.newest("sequence").id == "c" and model.newest("language") is None
    model.apply("a", [started("a")])
    model.apply("b", [RunStarted("b", "vision", {}, "cpu", "fp32")])
    model.compared = ["a", "b", "zz"]
    assert [s.run_id for s in model.compared_states()] == ["a", "b"]
    assert [s.run_id for s in model.compared_states("vision")] == ["b"]


def test_the_redraw_pace_backs_off_when_the_machine_is_busy_and_speeds_up_when_it_is_not():
    load = [100.0]
    pace = RedrawPace(lambda: load[0])
    for _ in range(10):
        pace.drew()
    assert pace.seconds == SLOWEST  # 1 Hz: every core was busy
    load[0] = 30.0
    for _ in range(10):
        pace.drew()
    assert pace.seconds == FASTEST  # 10 Hz: a core to spare
    import dataclasses

    model = RunsModel()
    model.update_runs([dataclasses.replace(info("gpu", status="running"), device="cuda:0, bf16")])
    assert not model.cpu_training
    model.update_runs([dataclasses.replace(info("cpu", status="running"), device="cpu, fp32, 2 threads")])
    assert model.cpu_training
    pace.drew(cpu_training=model.cpu_training)
    assert pace.seconds == SHARED and "this CPU" in pace.describe()  # a run on this CPU: at most 5 Hz
    pace.drew(cost=0.05)
    assert pace.seconds == pytest.approx(0.5)  # never more than a tenth of the time redrawing
    pace.key()
    assert not pace.may_draw()
    assert "Hz" in pace.describe()


def test_runs_are_ranked_by_their_own_experiments_target_never_mixed():
    runs = [info("s1", test_mse=0.5), info("v1", "vision", test_accuracy=0.6), info("s2", test_mse=0.1),
            info("v2", "vision", test_accuracy=0.9), info("s3"), info("x", "unknown", test_mse=0.0)]
    order = [i.id for i in ranked(runs)]
    assert order[:4] == ["s2", "s1", "v2", "v1"]  # lower mse first, higher accuracy first, each group together
    assert set(order[4:]) == {"s3", "x"}  # no score: last
    assert best([r for r in runs if r.experiment == "vision"]).id == "v2"
    assert best([info("s4")]) is None


def test_an_active_run_cannot_be_deleted(home):
    store = Store(home)
    run_id = store.create_run("sequence", {})
    with pytest.raises(LabdeckError, match="stop it before deleting"):
        delete(store, run_id)  # queued
    store.finish(run_id, "finished", {}, 1.0, 1)
    assert delete(store, run_id) == run_id and store.runs() == []


@pytest.mark.parametrize("raw", ["inf", "-1", "0", "nan", "soon", float("inf")])
def test_a_budget_must_be_finite_seconds(raw):
    with pytest.raises(ParamError, match="budget: must be a number of seconds from"):
        parse_budget(raw)


def test_an_empty_budget_means_the_epochs():
    assert parse_budget("") is None and parse_budget(None) is None and parse_budget(" 20 ") == 20.0


def test_the_store_counts_epochs_as_they_arrive(home):
    store = Store(home)
    run_id = store.create_run("sequence", {})
    for n in (1, 2, 3):
        store.log_epoch(run_id, n, {"train_loss": 1.0, "train_seconds": n * 2.0}, epoch(n, run_id))
    got = store.get(run_id)
    assert (got.epochs, got.train_seconds) == (3, 6.0)  # `labdeck runs` and `show` while it trains
    store.truncate_after_epoch(run_id, 1)
    assert store.get(run_id).epochs == 1


def test_a_runs_history_costs_tens_of_bytes_an_epoch():
    import tracemalloc

    from labdeck.tui.state import RunState

    metrics = ("train_loss", "test_loss", "test_mse", "test_mae")

    def feed(state: RunState, start: int, n: int) -> None:
        for e in range(start, start + n):
            state.apply(EpochMetrics("r", e, 0, {k: 1.0 / e for k in metrics}, 0.01, e * 0.1, 0.5, e * 10))

    import numpy  # noqa: F401  (the history imports it once when it first thins out old epochs)

    state = RunState("r")
    feed(state, 1, 2000)  # warm-up: the log's deque fills, the arrays find their growth pattern
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    feed(state, 2001, 20_000)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown / 20_000 <= 100, f"{grown / 20_000:.0f} bytes an epoch"
    xs, ys = state.series("test_mse", max_points=500)
    assert len(xs) <= 500 and xs[-1] == 22_000 * 10 and ys[0] == 1.0


def test_where_the_first_line_has_no_room_the_rate_and_eta_go_to_the_second():
    model = RunsModel()
    model.apply("r1", [started(budget=60.0), BatchMetrics("r1", 1, 10, 0.5, 8769.0, 0.25, 15.0)])
    line = str(detail_text(model.states["r1"], "8,769 win/s ETA 0:45"))
    assert line == "training · 8,769 win/s ETA 0:45 · cpu, bf16, 2 threads"


def test_a_long_history_replayed_as_columns_folds_to_what_its_events_do(tmp_path):
    """Replay reads the epochs before the last ones as one EpochTable; the dashboard must end up with the same history
    as folding every event: a NaN loss (not strict JSON), a metric first reported late, a resume that cut epochs."""
    import math

    from labdeck.engine.events import EpochTable

    store = Store(tmp_path)
    run_id = store.create_run("sequence", {})
    store.emit(RunStarted(run_id, "sequence", {}, "cpu", "fp32"))

    def epoch(e: int) -> None:
        m = {"train_loss": math.nan if e == 300 else 1.0 / e, "test_loss": 2.0 / e}
        if e >= 400:
            m["acc"] = e / 2000
        # as the trainer does: the metrics table holds the epoch's training time too
        store.log_epoch(run_id, e, {**m, "train_seconds": e * 0.1},
                        EpochMetrics(run_id, e, 0, m, 0.01, e * 0.1, e / 2000, e * 10))
        if e % 50 == 0:
            store.emit(BatchMetrics(run_id, e, e * 10, 1.0 / e, 100.0, e / 2000))

    for e in range(1, 1001):
        epoch(e)
    store.truncate_after_epoch(run_id, 900)  # resumed from epoch 900's checkpoint
    store.emit(RunStarted(run_id, "sequence", {}, "cpu", "fp32", resumed_from_epoch=900))
    for e in range(901, 1201):
        epoch(e)

    _, replayed = store.replay(run_id, epochs=100)
    assert sum(isinstance(e, EpochTable) for e in replayed) == 1 and len(replayed) < 200
    whole = [event for _, event in store.events(run_id)]
    folded = {}
    for name, events in (("replayed", replayed), ("whole", whole)):
        model = RunsModel()
        model.apply(run_id, events, reset=True)
        folded[name] = model.states[run_id].history
    a, b = folded["replayed"], folded["whole"]
    assert list(a.epochs) == list(b.epochs) == list(range(1, 1201))
    assert sorted(a.keys()) == sorted(b.keys()) == ["acc", "test_loss", "train_loss", "train_seconds"]
    for key in b.keys():  # noqa: SIM118 (an EpochHistory, not a dict)
        assert a.series(key) == b.series(key)
    assert a.last == b.last and a.last.epoch == 1200
    assert 300 * 10 not in a.series("train_loss")[0]


def test_a_history_open_for_weeks_stays_bounded_and_evenly_spaced():
    from labdeck.tui.history import MAX_EPOCHS, RECENT, EpochHistory

    history = EpochHistory()
    for e in range(1, 3 * MAX_EPOCHS + 1):
        history.add(EpochMetrics("r", e, 0, {"loss": 1.0 / e}, 0.01, e * 0.1, 0.5, e * 10))
        assert len(history) <= MAX_EPOCHS
    epochs = list(history.epochs)
    assert epochs[-RECENT:] == list(range(3 * MAX_EPOCHS - RECENT + 1, 3 * MAX_EPOCHS + 1))  # the recent ones, all
    gaps = [b - a for a, b in pairwise(epochs[1:])]
    # the first epoch, then evenly spaced old ones, then every epoch since the last thinning: never sparser than older
    assert epochs[0] == 1 and gaps == sorted(gaps, reverse=True) and len(epochs) >= MAX_EPOCHS // 2
    xs, ys = history.series("loss")
    assert len(xs) == len(epochs) and xs[-1] == 3 * MAX_EPOCHS * 10 and ys[-1] == 1.0 / (3 * MAX_EPOCHS)


def test_the_machines_cpu_use_reads_between_0_and_100_percent(monkeypatch):
    # On an idle machine the idle time that passed is all the time that passed: the division's rounding made
    # that a hair under 0%, which the help screen showed as "-0% busy".
    import collections

    import psutil

    from labdeck.tui.redraw import CpuUse

    Times = collections.namedtuple("Times", "user system idle iowait")
    readings = iter([Times(100.0, 10.0, 500.1, 0.0), Times(100.0, 10.0, 500.3, 0.0),
                     Times(101.0, 10.0, 500.3, 0.0)])
    monkeypatch.setattr(psutil, "cpu_times", lambda: next(readings))
    pace = RedrawPace(CpuUse())
    pace.drew()  # the first reading has nothing to compare with
    pace.drew()
    assert pace.busy == 0.0 and "cores were 0% busy" in pace.describe()
    pace.drew()
    assert pace.busy == 100.0
