"""The logging API for your own loop: labdeck.init / Run.log / Run.finish, and what the store and CLI make of it."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
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


# -- nothing lost, nothing raised (issue: a million steps from a script) ----------------------------------------------
def test_an_odd_step_is_one_warning_and_the_writer_goes_on(home):
    import numpy as np

    done = subprocess.run(script("""
        import labdeck, numpy as np
        run = labdeck.init("odd-steps")
        for step in range(10):
            run.log({"a": float(step)}, step=step)
            if step == 4:
                run.log({"a": 1.0}, step=2**63)  # beyond an int64
                run.log({"a": 1.0}, step=-1)
                run.log({"a": 1.0}, step=2)  # behind the last step
                run.log({"a": 1.0}, step="7")
        run.log({"a": 10.0}, step=np.int64(10))  # NumPy steps are steps
        run.log({"a": 11.0}, step=11.0)
        run.finish()
    """), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "LabdeckWarning" in line]
    assert len(warned) == 3, done.stderr  # out of range (2**63 and -1: one problem), behind, not an integer
    assert all("<string>:" in line for line in warned)  # each names the line
    (info,) = Store().runs()
    assert info.status == "finished" and info.epochs == 11
    assert Store().points(info.id, "a")[0].tolist() == [*range(10), 10, 11]
    assert np.array_equal(Store().points(info.id, "a")[1], np.array([*range(10), 10.0, 11.0]))


def test_no_value_or_mapping_raises_into_the_loop(home):
    class Broken(dict):
        def items(self):
            raise RuntimeError("cannot be read")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with labdeck.init("odd-values") as run:
            run.log({"huge": 10**400, "tiny": -(10**400), "ok": 1.0})
            run.log(Broken(a=1))
            run.log({"ok": 2.0})
            run.log([("not", "a mapping")])  # type: ignore[arg-type]
    said = [str(w.message) for w in caught]
    assert any("'huge' is inf" in s for s in said) and any("could not read" in s for s in said)
    points = Store().points(run.id, "huge")[1].tolist()
    assert points == [math.inf] and Store().points(run.id, "ok")[1].tolist() == [1.0, 2.0]


def test_every_json_output_is_json_with_non_finite_numbers_as_null(home):
    def strict(text: str):
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))

    with labdeck.init("nan-run", {"x": float("nan"), "y": float("inf")}) as run:
        run.log({"loss": float("nan"), "acc": 0.5})
        run.log({"loss": float("inf"), "acc": float("-inf")})
    shown = strict(cli("show", run.id, "--json", check=True).stdout)
    assert shown["params"] == {"x": None, "y": None} and shown["history"]["loss"] == [None, None]
    assert strict(cli("runs", "--json", check=True).stdout)[0]["run_id"] == run.id
    exported = strict(cli("export", run.id, "--format", "json", check=True).stdout)
    assert exported["history"]["acc"] == [0.5, None] and exported["history"]["step"] == [0, 1]
    for line in cli("watch", run.id, "--json", check=True).stdout.splitlines():
        strict(line)
    rows = [line.split(",")[:3] for line in cli("export", run.id, check=True).stdout.splitlines()]
    assert rows == [["step", "loss", "acc"], ["0", "nan", "0.5"], ["1", "inf", "-inf"]]  # CSV says what was logged


def test_a_home_removed_while_a_script_logs_is_one_warning_and_the_rest_lands(home):
    import shutil

    proc = subprocess.Popen(script("""
        import labdeck, sys, time
        run = labdeck.init("homeless")
        print(run.id, flush=True)
        for step in range(10**6):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
            if step >= 150 and sys.stdin.readline() == "":
                break
            time.sleep(0.01 if step < 150 else 0)
        run.finish()
    """), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    # steps 0-150 stored (loss and the time axis): the script waits for its input, its writer has nothing to write
    wait_for(lambda: Store().points_counts([run_id]).get(run_id, 0) >= 2 * 151, what="logging")
    shutil.rmtree(home)
    time.sleep(0.1)
    proc.stdin.write("go on\n" * 200)
    proc.stdin.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert err.count("LabdeckWarning") == 1 and "was removed while run" in err, err
    info = Store().get(run_id)  # a new store there, with the run and what it logged after
    assert info.status == "finished" and info.epochs > 150
    assert Store().points(run_id, "loss")[0][-1] == info.epochs


def test_the_module_api_config_name_and_resume_that_wandb_users_know(home):
    run = labdeck.init(project="drop-in", name="first try", config={"lr": 0.1, "layers": 2})
    labdeck.config.batch = 64
    labdeck.config.update({"lr": 0.05})
    for step in range(5):
        labdeck.log({"loss": 1.0 / (step + 1)})
    labdeck.finish()
    info = Store().get(run.id)
    assert (info.experiment, info.name) == ("drop-in", "first try")
    assert info.params == {"lr": 0.05, "layers": 2, "batch": 64} and labdeck.config["lr"] == 0.05
    again = labdeck.init(resume=run.id)
    labdeck.log({"loss": 0.1})
    again.finish()
    steps, values = Store().points(run.id, "loss")
    assert steps.tolist() == [0, 1, 2, 3, 4, 5] and values[-1] == 0.1 and Store().get(run.id).status == "finished"
    # labdeck's own resume cannot restart a script: it says how, in one line
    Store().set_status(run.id, "stopped")
    done = cli("resume", run.id)
    assert done.returncode == 2 and f"labdeck.init(resume='{run.id}')" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    with pytest.raises(ValueError, match="cannot resume"):
        labdeck.init(resume="nope")


def test_init_records_what_reproduces_the_run(home, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    train = repo / "train.py"
    train.write_text("import labdeck, time\nrun = labdeck.init()\nrun.log({'loss': 1.0})\ntime.sleep(0.5)\n"
                     "run.finish()\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    train.write_text(train.read_text() + "# changed\n")
    subprocess.run([sys.executable, str(train), "--lr", "3"], check=True, cwd=tmp_path, timeout=60)
    (info,) = Store().runs()
    assert info.experiment == "train"  # the script's name, when none is given
    meta = info.meta
    assert meta["command"][1:] == [str(train), "--lr", "3"] and meta["python"] == sys.version.split()[0]
    assert meta["git"]["commit"] == commit and meta["git"]["dirty"] is True and meta["host"]
    assert "git " + commit[:12] in cli("show", info.id, check=True).stdout


def test_the_scripts_process_is_sampled_into_its_run(home, monkeypatch):
    from labdeck import system_metrics

    monkeypatch.setattr(system_metrics, "FIRST", 0.0)
    monkeypatch.setattr(system_metrics, "SECONDS", 0.3)
    with labdeck.init("sampled") as run:
        for _ in range(20):
            run.log({"loss": 1.0})
            time.sleep(0.1)
    keys = Store().series_keys(run.id)
    assert keys["sys/rss_mb"]["points"] >= 3 and keys["sys/rss_mb"]["min"] > 10
    assert "sys/cpu_percent" in keys and "sys/" not in "".join(Store().get(run.id).metrics)


def test_watch_follows_a_scripts_steps(home):
    with labdeck.init("watched", system=False) as run:
        for step in range(30):
            run.log({"loss": 1.0 / (step + 1)})
    lines = cli("watch", run.id, check=True).stdout.splitlines()
    assert "step 29  loss 0.03333" in lines and lines[-1] == f"run {run.id} is finished"
    events = [json.loads(line) for line in cli("watch", run.id, "--json", check=True).stdout.splitlines()]
    assert {"kind": "progress", "run_id": run.id, "step": 29, "metrics": {"loss": 1 / 30}} in events
