"""The Sequence experiment end to end on tiny data, through the real training loop and store."""

import math
import time

import numpy as np
import pytest

from labdeck.engine import runs
from labdeck.engine.errors import DataError, ParamError
from labdeck.engine.events import (
    CheckpointSaved,
    DataSummary,
    EpochMetrics,
    Evaluation,
    LogLine,
    Phase,
    Predictions,
    RunEnded,
    RunStarted,
)
from labdeck.engine.store import Store

from .conftest import tiny


def train(store, budget=None, **over):
    run_id = runs.create(store, "sequence", tiny(**over), budget)
    seen = []
    ended = runs.run_here(store, run_id, on_event=seen.append)
    return run_id, ended, seen


def test_trains_and_reports_every_lab_step(home):
    store = Store()
    run_id, ended, seen = train(store, epochs=3)
    assert ended.status == "finished", ended.message
    kinds = [type(e) for e in seen if not isinstance(e, Phase)]
    assert kinds[0] is RunStarted and DataSummary in kinds and kinds[-1] is RunEnded
    # what the run is doing, between training steps: before it starts, each epoch's evaluation, the final one
    phases = [e.phase for e in seen if isinstance(e, Phase)]
    assert phases == ["loading data", "measuring speed", *["evaluating"] * 2, "final evaluation"]
    assert isinstance(seen[0], Phase) and isinstance(seen[-1], RunEnded)
    assert [e.epoch for e in seen if isinstance(e, EpochMetrics)] == [1, 2, 3]
    assert sum(isinstance(e, CheckpointSaved) for e in seen) == 3
    summary = next(e for e in seen if isinstance(e, DataSummary))
    assert summary.sizes["train_samples"] == 210 and summary.sizes["test_samples"] == 90  # 70/30
    assert summary.head[0][0] == 0 and len(summary.head) == 10
    assert summary.stats["cosine"]["max"] == pytest.approx(1.0, abs=1e-3)
    for key in ("test_mse", "test_mae", "forecast_rmse"):
        assert math.isfinite(ended.metrics[key])
    evaluation = next(e for e in seen if isinstance(e, Evaluation))
    assert len(evaluation.tables["grad_norms"]) == 10  # one per time step of the window
    preds = next(e for e in seen if isinstance(e, Predictions))
    assert len(preds.series["forecast"]) == 20 and len(preds.series["true"]) == 90
    # everything also landed in the store
    hist = store.history(run_id)
    assert hist["epoch"] == [1.0, 2.0, 3.0] and len(hist["test_mse"]) == 3
    assert store.get(run_id).status == "finished"
    assert (store.run_dir(run_id) / "checkpoint.pt").exists()


def test_batch_metrics_are_throttled_across_short_epochs(home, monkeypatch):
    from labdeck.engine import trainer
    from labdeck.engine.events import BatchMetrics

    monkeypatch.setattr(trainer, "BATCH_LOG_SECONDS", 0.05)
    _, ended, seen = train(Store(), epochs=6)
    batches = [e for e in seen if isinstance(e, BatchMetrics)]
    epochs = [e for e in seen if isinstance(e, EpochMetrics)]
    # epochs of this tiny run are far shorter than a second; batch points still come at the throttle's pace
    assert 1 <= len(batches) <= int(ended.train_seconds / 0.05) + len(epochs) + 1
    assert all(b.loss > 0 and b.samples_per_second > 0 for b in batches)
    assert [b.step for b in batches] == sorted(b.step for b in batches)


def test_learns_the_wave(home):
    _, ended, _ = train(Store(), epochs=15, length=600, hidden=16)
    # A flat prediction of a unit cosine has MSE 0.5; a trained model is far below it.
    assert ended.metrics["test_mse"] < 0.01


def test_same_seed_same_result(home):
    store = Store()
    a = train(store, seed=3)[1].metrics
    b = train(store, seed=3)[1].metrics
    c = train(store, seed=4)[1].metrics
    assert a == b
    assert a != c


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_other_cells(home, cell):
    _, ended, _ = train(Store(), cell=cell, epochs=1)
    assert ended.status == "finished"


def test_a_wall_budget_is_the_whole_run_from_start_to_result(home):
    store = Store()
    start = time.monotonic()
    run_id = runs.create(store, "sequence", tiny(length=2000, hidden=32, window=40, horizon=50, epochs=1), 5)
    seen = []
    ended = runs.run_here(store, run_id, on_event=seen.append)
    took = time.monotonic() - start
    assert ended.status == "finished", ended.message
    # loading, measuring, training, every evaluation and the final report fit in the budget; the process's
    # first optimizer pulls in torch._dynamo (about a second here), and that counts too
    assert 2.0 <= took <= 5.0 + 0.3
    epochs = [e for e in seen if isinstance(e, EpochMetrics)]
    assert len(epochs) > 1 and epochs[-1].progress == pytest.approx(1.0)
    assert epochs[-1].metrics["test_mse"] == ended.metrics["test_mse"]  # the last epoch's is the final evaluation
    plan = next(e.text for e in seen if isinstance(e, LogLine) and e.text.startswith("budget: "))
    assert "5 s for the whole run" in plan and "final evaluation" in plan
    started = next(e for e in seen if isinstance(e, RunStarted))
    assert started.budget_kind == "wall" and started.deadline == pytest.approx(store.get(run_id).created + 5, abs=0.5)


def test_a_train_budget_counts_training_steps_only(home):
    store = Store()
    run_id = runs.create(store, "sequence", tiny(length=2000, hidden=32, window=40, horizon=50, epochs=1), 1.5,
                         budget_kind="train")
    seen = []
    ended = runs.run_here(store, run_id, on_event=seen.append)
    assert ended.status == "finished"
    assert 1.0 <= ended.train_seconds <= 1.5 + 0.5
    epochs = [e for e in seen if isinstance(e, EpochMetrics)]
    assert len(epochs) > 1  # epochs=1 is ignored under a budget
    assert epochs[-1].progress == pytest.approx(1.0)
    assert epochs[-1].lr < epochs[0].lr  # the schedule decayed to the budget's end
    assert store.get(run_id).budget_kind == "train"


def test_a_wall_budget_too_short_to_train_fails_saying_what_to_ask(home, monkeypatch):
    from labdeck.engine.experiments.sequence.experiment import SequenceTask

    monkeypatch.setattr(SequenceTask, "final_cost", 1e9)  # a final evaluation far longer than the budget
    store = Store()
    run_id = runs.create(store, "sequence", tiny(), 2)
    ended = runs.run_here(store, run_id)
    assert (ended.status, ended.epochs) == ("failed", 0), ended.message
    assert ended.message.startswith("budget too short: ") and "give it at least " in ended.message


def test_csv_source_with_missing_values(home, tmp_path):
    t = np.arange(200)
    values = np.sin(t / 5.0)
    lines = ["when,level"] + [f"{i},{'' if i % 10 == 3 else f'{v:.5f}'}" for i, v in zip(t, values)]
    path = tmp_path / "series.csv"
    path.write_text("\n".join(lines) + "\n")
    store = Store()
    run_id, ended, seen = train(store, source=f"csv:{path}:level", window=8, horizon=10)
    assert ended.status == "finished", ended.message
    summary = next(e for e in seen if isinstance(e, DataSummary))
    assert summary.missing == {"level": 20}
    assert any("filled 20 missing" in n for n in summary.notes)


@pytest.mark.parametrize("kind", ["minmax", "standard"])
@pytest.mark.parametrize("series", [np.sin(np.arange(300) / 7.0) * 3 + 5, np.full(50, 2.5)], ids=["wave", "constant"])
def test_the_scaler_fits_what_scikit_learns_does(kind, series):
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    from labdeck.engine.experiments.sequence.data import Affine

    ours = Affine.fit(kind, series[:200])
    theirs = (MinMaxScaler(feature_range=(-1, 1)) if kind == "minmax" else StandardScaler()).fit(
        series[:200].reshape(-1, 1))
    expected = theirs.transform(series.reshape(-1, 1)).ravel()
    np.testing.assert_allclose(ours.transform(series), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.inverse(expected), series, rtol=1e-12, atol=1e-12)
    assert Affine.fit("none", series) is None


def test_bad_csv_is_a_clear_error(home, tmp_path):
    store = Store()
    with pytest.raises(DataError, match="cannot read"):
        runs.create(store, "sequence", tiny(source=f"csv:{tmp_path}/missing.csv"))
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(DataError, match="not a text CSV"):
        runs.create(store, "sequence", tiny(source=f"csv:{binary}"))
    text = tmp_path / "words.csv"
    text.write_text("a,b\nx,y\nz,w\n")
    with pytest.raises(DataError, match="no numeric values"):
        runs.create(store, "sequence", tiny(source=f"csv:{text}"))
    with pytest.raises(ParamError, match="window"):
        runs.create(store, "sequence", tiny(window=500))
    assert store.runs() == []  # bad input creates no run


def test_stop_request_ends_the_run_as_stopped_with_a_checkpoint(home):
    store = Store()
    run_id = runs.create(store, "sequence", tiny(epochs=1000))

    def stop_after_two(event):
        if isinstance(event, EpochMetrics) and event.epoch == 2:
            store.request(run_id, "stop")

    ended = runs.run_here(store, run_id, on_event=stop_after_two)
    assert ended.status == "stopped" and 2 <= ended.epochs < 1000
    assert store.get(run_id).status == "stopped"
    assert (store.run_dir(run_id) / "checkpoint.pt").exists()


def test_predict_forecasts_from_given_values(home):
    from labdeck.engine.predict import predict

    store = Store()
    run_id, ended, _ = train(store, epochs=2)
    out = predict(store, store.get(run_id), ["0.1, 0.2 0.3"] + [str(v) for v in range(7)], steps=5)
    assert len(out["forecast"]) == 5 and all(math.isfinite(v) for v in out["forecast"])
    with pytest.raises(ParamError, match="need at least window=10 values"):
        predict(store, store.get(run_id), ["1", "2"], steps=5)
    with pytest.raises(ParamError, match="not a number"):
        predict(store, store.get(run_id), ["abc"], steps=5)


def test_failure_inside_a_run_ends_it_as_failed(home, monkeypatch):
    from labdeck.engine.experiments.sequence import experiment

    def broken(self, batch):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(experiment.SequenceTask, "loss", broken)
    store = Store()
    run_id, ended, _ = train(store)
    assert ended.status == "failed" and ended.message == "RuntimeError: boom"
    assert store.get(run_id).message == "RuntimeError: boom"
    assert "Traceback" in (store.run_dir(run_id) / "error.log").read_text()


def test_full_disk_fails_the_run_cleanly_and_keeps_the_last_checkpoint(home, monkeypatch):
    import errno

    import torch

    from labdeck.engine import trainer

    store = Store()
    run_id = runs.create(store, "sequence", tiny(epochs=4))
    real_save, saves = torch.save, []

    def save(obj, path, *args, **kwargs):
        saves.append(path)
        if len(saves) == 3:  # the third checkpoint hits a full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(trainer.torch, "save", save)
    ended = runs.run_here(store, run_id)
    assert ended.status == "failed"
    assert ended.message.startswith("disk full: cannot write checkpoint") and "\n" not in ended.message
    ckpt = torch.load(store.checkpoint_path(run_id), weights_only=False)
    assert ckpt["epoch"] == 2  # the last good checkpoint is intact, no half-written file beside it
    assert not store.checkpoint_path(run_id).with_suffix(".tmp").exists()
    assert store.history(run_id)["epoch"] == [1.0, 2.0, 3.0]  # what was logged before the failure stays


def test_a_stop_mid_epoch_resumes_that_epoch_from_the_next_batch(home):
    from labdeck.engine.events import BatchMetrics

    store = Store()
    # long epochs (about 1,500 steps), so that the first batch-loss point (after 0.5 s) comes mid-epoch
    run_id = runs.create(store, "sequence", tiny(epochs=2, length=12000, batch_size=8, hidden=16))

    def stop_at_first_batch_point(event):
        if isinstance(event, BatchMetrics):
            store.request(run_id, "stop")

    ended = runs.run_here(store, run_id, on_event=stop_at_first_batch_point)
    assert ended.status == "stopped" and ended.epochs == 0
    assert store.checkpoint_path(run_id).exists()  # the partial first epoch is kept
    store.request(run_id, "run")
    seen = []
    ended = runs.run_here(store, run_id, resume=True, on_event=seen.append)
    assert ended.status == "finished" and ended.epochs == 2
    epochs = [e for e in seen if isinstance(e, EpochMetrics)]
    assert [e.epoch for e in epochs] == [1, 2]
    steps_per_epoch = -(-(8400 - 10) // 8)  # training windows / batch size
    assert epochs[-1].step == 2 * steps_per_epoch  # no step repeated or lost across the stop
    assert store.history(run_id)["epoch"] == [1.0, 2.0]
