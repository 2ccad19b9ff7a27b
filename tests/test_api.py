"""The logging API for your own loop: labdeck.init / Run.log / Run.finish, and what the store and CLI make of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import warnings

import pytest

import labdeck
from labdeck.engine import Store

from .conftest import cli, show, wait_for


def script(body: str) -> list[str]:
    """A user's script, run as they would run it."""
    return [sys.executable, "-c", textwrap.dedent(body)]


def test_a_loop_logs_into_the_store_and_shows_like_any_run(home):
    with labdeck.init("my-cnn", {"lr": 3e-4, "layers": (2, 3), "out": home / "x"}) as run:
        for step in range(50):
            run.log({"loss": 1 / (step + 1), "acc": step / 50}, step=step)
        run.log({"loss": 0.001})  # the next step by itself
    info = Store().get(run.id, history=True)
    assert info.experiment == "my-cnn" and info.status == "finished" and info.epochs == 50
    assert info.params == {"lr": 3e-4, "layers": [2, 3], "out": str(home / "x")}
    assert info.history["loss"][:3] == [1.0, 0.5, 1 / 3] and info.history["loss"][-1] == 0.001
    assert info.history["epoch"] == [float(s) for s in range(51)]
    assert info.metrics == {"acc": 0.98, "loss": 0.001}
    # the CLI shows, exports and reports it like a run of its own experiments
    assert show(run.id)["metrics"]["acc"] == 0.98
    assert cli("export", run.id, check=True).stdout.splitlines()[0].startswith("step,loss,acc")
    assert cli("report", run.id, "--out", str(home / "report"), check=True).returncode == 0
    assert "loss" in (home / "report" / "report.md").read_text()


def test_bad_metrics_are_one_warning_each_and_lose_nothing_else(home):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with labdeck.init("odd") as run:
            for step in range(3):
                run.log({"ok": 1.0, "text": "high", "nan": float("nan"), "inf": float("inf"), "a\nb": 2.0,
                         "x" * 300: 3.0, **{f"m{i}": float(i) for i in range(1500)}}, step=step)
    said = [str(w.message) for w in caught]
    assert all(w.filename == __file__ for w in caught)  # pointing at the user's line
    assert len(said) == 6, said  # one per problem, not one per call
    assert any("'text' is a str, not a number: left out" in s for s in said)
    assert any("'nan' is nan at step 0: kept" in s for s in said)
    assert any("'a\\nb' is stored as 'a_b'" in s for s in said)
    assert any("1506 metrics in one log call" in s for s in said)
    history = Store().history(run.id)
    assert history["ok"] == [1.0] * 3 and history["a_b"] == [2.0] * 3 and history["m1499"] == [1499.0] * 3
    assert history["x" * 200] == [3.0] * 3 and "text" not in history
    with pytest.raises(ValueError, match="one of labdeck's own experiments"):
        labdeck.init("vision")


def test_an_exception_fails_the_run_and_ctrl_c_stops_it(home):
    with pytest.raises(ZeroDivisionError), labdeck.init("boom") as run:
        run.log({"loss": 1.0})
        1 / 0  # noqa: B018
    assert Store().get(run.id).status == "failed" and "ZeroDivisionError" in Store().get(run.id).message
    with pytest.raises(KeyboardInterrupt), labdeck.init("boom") as run:
        raise KeyboardInterrupt
    assert Store().get(run.id).status == "stopped"


def test_a_script_that_dies_is_failed_interrupted_or_finished_as_it_ended(home):
    failing = subprocess.run(script("""
        import labdeck
        run = labdeck.init("script")
        run.log({"loss": 1.0})
        raise RuntimeError("out of patience")
    """), capture_output=True, text=True)
    assert failing.returncode == 1
    ending = subprocess.run(script("""
        import labdeck
        labdeck.init("script").log({"loss": 1.0})
    """), capture_output=True, text=True, check=True)
    assert ending.stderr == ""
    killed = subprocess.Popen(script("""
        import labdeck, time
        run = labdeck.init("script")
        for step in range(10**9):
            run.log({"loss": 1.0 / (step + 1)})
            time.sleep(0.01)
    """))
    store = Store()
    wait_for(lambda: len(store.runs()) == 3 and store.history(store.runs()[-1].id).get("loss"), what="logging")
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    first, second, third = store.runs()
    assert (first.status, first.message) == ("failed", "RuntimeError: out of patience")
    assert second.status == "finished" and second.metrics == {"loss": 1.0}
    assert third.status == "interrupted" and third.epochs >= 1


def test_stop_and_pause_from_the_cli_reach_the_loop(home):
    proc = subprocess.Popen(script("""
        import labdeck, sys, time
        run = labdeck.init("controlled")
        print(run.id, flush=True)
        step = 0
        while not run.should_stop():
            run.log({"loss": 1.0 / (step + 1)}, step=step)
            step += 1
            time.sleep(0.01)
        run.finish()
    """), stdout=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    store = Store()
    wait_for(lambda: store.history(run_id).get("loss"), what="logging")
    assert cli("pause", run_id).returncode == 0
    wait_for(lambda: store.get(run_id).status == "paused", what="paused at the next log")
    paused_at = store.get(run_id).epochs
    assert cli("resume", run_id).returncode == 0
    wait_for(lambda: store.get(run_id).epochs > paused_at + 5, what="logging again")
    assert cli("stop", run_id).returncode == 0
    assert proc.wait(timeout=30) == 0
    assert store.get(run_id).status == "stopped"


def test_several_processes_log_at_once_and_lose_nothing(home):
    procs = [subprocess.Popen(script(f"""
        import labdeck
        with labdeck.init("ddp", {{"rank": {rank}}}) as run:
            for step in range(2000):
                run.log({{"loss": 1.0 / (step + 1), "rank": {rank}}}, step=step)
    """), stderr=subprocess.PIPE, text=True) for rank in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    runs = Store().runs()
    # a run the store did not take shows as a warning on its process's stderr
    assert len(runs) == 4 and all(r.status == "finished" for r in runs), (runs, errors)
    assert all(len(Store().history(r.id)["loss"]) == 2000 for r in runs)


def test_a_store_that_cannot_be_written_is_one_warning_training_goes_on_and_nothing_is_lost(home, monkeypatch):
    from labdeck.engine.errors import StoreError

    real = Store.append_points
    broken = {"on": True}

    def append(self, *args):
        if broken["on"]:
            raise StoreError("run store write failed: its disk is full")
        return real(self, *args)

    monkeypatch.setattr(Store, "append_points", append)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = labdeck.init("full-disk")
        for step in range(100):
            run.log({"loss": 1.0}, step=step)
        wait_for(lambda: caught, what="the warning")
        broken["on"] = False  # space freed: what was kept in memory goes in
        run.finish()
    assert len(caught) == 1 and "training goes on" in str(caught[0].message)
    assert Store().history(run.id)["epoch"] == [float(s) for s in range(100)]
    # no store at all: a warning, and a run that logs into nothing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with labdeck.init("nowhere", home=home / "labdeck.db" / "not-a-dir") as run:
            run.log({"loss": 1.0})
    assert len(caught) == 1 and "training goes on without it" in str(caught[0].message)


def run_example(name: str, *args: str):
    """Run examples/NAME as a user would; the one run it logged, and its history."""
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / name
    done = subprocess.run([sys.executable, str(example), *args], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    (info,) = Store().runs()
    return info, Store().history(info.id)


def test_the_plain_pytorch_example_logs_a_run_that_learns(home):
    info, history = run_example("plain_loop.py", "--steps", "300")
    assert info.experiment == "sine-mlp" and info.status == "finished" and info.params["steps"] == 300
    assert history["val_loss"][-1] < history["val_loss"][0] / 2 and len(history["lr"]) == 16


def test_the_lightning_example_logs_through_the_labdeck_logger(home):
    pytest.importorskip("lightning")
    info, history = run_example("lightning_module.py", "--epochs", "2")
    assert info.experiment == "sine-lightning" and info.status == "finished"
    assert info.params == {"hidden": 64, "lr": 0.003}  # save_hyperparameters reached the run
    assert len(history["loss"]) >= 5 and "val_loss" in info.metrics and history["epoch_"][-1] == 1.0
