"""Hostile files and faults: checkpoints that would run code, checkpoints of another kind, garbage."""

from __future__ import annotations

import pickle

import pytest
import torch

from labdeck.engine import LabdeckError, Store
from labdeck.engine.checkpoint import load, save
from labdeck.engine.predict import generator, predict


class RunsCode:
    """Unpickling this runs code (what a crafted checkpoint.pt would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def run_with_checkpoint(home, experiment: str, content) -> tuple[Store, str]:
    from labdeck.engine import registry

    from .conftest import tiny

    store = Store(home)
    run_id = store.create_run(experiment, registry.get(experiment).resolve(tiny() if experiment == "sequence" else {}))
    store.finish(run_id, "finished", {}, 1.0, 1)
    path = store.checkpoint_path(run_id)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return store, run_id


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(home, tmp_path):
    marker = tmp_path / "pwned"
    crafted = {"model": {}, "optimizer": {}, "scaler": {}, "extra": {"scaler": RunsCode(marker)}, "epoch": 1,
               "step": 1, "params": {}, "experiment": "sequence"}
    store, run_id = run_with_checkpoint(home, "sequence", crafted)
    with pytest.raises(LabdeckError, match="holds Python objects") as err:
        predict(store, store.get(run_id), ["0.1"] * 50)
    assert "\n" not in str(err.value)
    assert not marker.exists()
    store, lm = run_with_checkpoint(home, "language", {**crafted, "experiment": "language"})
    with pytest.raises(LabdeckError, match="holds Python objects"):
        generator(store, store.get(lm))
    assert not marker.exists()


def test_a_checkpoint_of_another_experiment_or_garbage_is_one_line(home):
    ckpt = {"model": {}, "optimizer": {}, "scaler": {}, "extra": {}, "epoch": 1, "step": 1, "params": {},
            "experiment": "vision"}
    store, run_id = run_with_checkpoint(home, "sequence", ckpt)
    with pytest.raises(LabdeckError, match="is of a vision run, not of a sequence run"):
        predict(store, store.get(run_id), ["0.1"] * 50)
    store, run_id = run_with_checkpoint(home, "sequence", b"\x00garbage" * 100)
    with pytest.raises(LabdeckError, match="not a readable checkpoint"):
        predict(store, store.get(run_id), ["0.1"] * 50)
    store, run_id = run_with_checkpoint(home, "sequence", {"weights": torch.zeros(3)})
    with pytest.raises(LabdeckError, match="not a labdeck checkpoint"):
        predict(store, store.get(run_id), ["0.1"] * 50)


def test_a_checkpoint_round_trips_as_tensors_and_plain_values(tmp_path):
    path = tmp_path / "checkpoint.pt"
    ckpt = {"model": {"w": torch.ones(2)}, "optimizer": {"state": {}}, "scaler": {}, "extra": {"affine": [2.0, -1.0]},
            "epoch": 3, "step": 30, "params": {"cell": "gru"}, "experiment": "sequence", "rng": torch.get_rng_state()}
    save(ckpt, path)
    got = load(path, "sequence")
    assert got["extra"] == {"affine": [2.0, -1.0]} and got["format"] == 2
    assert torch.equal(got["model"]["w"], torch.ones(2))
    assert not path.with_suffix(".tmp").exists()
    # plain pickle cannot read a torch zip: nothing here relies on pickle
    with open(path, "rb") as f, pytest.raises(pickle.UnpicklingError):
        pickle.load(f)


# -- kill -9 at chosen points, then resume --------------------------------------------------------------------
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from labdeck.engine import runs  # noqa: E402
from labdeck.engine.events import DataSummary, EpochMetrics, RunStarted, StatusChanged  # noqa: E402

from .conftest import set_args, tiny, wait_for  # noqa: E402

EPOCHS = 4


def run_worker(store: Store, run_id: str, fault: str) -> str:
    """Start the run's worker as ``labdeck`` does (forked from the warm process where one serves) with ``fault``
    set, and wait for it to end; its output."""
    pid = runs.spawn(store, run_id, env={"LABDECK_FAULT": fault})
    wait_ended(pid)
    return (store.run_dir(run_id) / "output.log").read_text()


def wait_ended(pid: int, timeout: float = 120) -> None:
    """Wait for process ``pid`` to end, whether this process's child or the warm process's."""
    import psutil

    if (proc := runs.process(pid)) is not None:
        proc.wait(timeout=timeout)
        return
    try:
        psutil.Process(pid).wait(timeout=timeout)
    except psutil.NoSuchProcess:
        pass


def event_epochs(store: Store, run_id: str) -> list[int]:
    return [e.epoch for _, e in store.events(run_id) if isinstance(e, EpochMetrics)]


def integrity(home) -> str:
    with sqlite3.connect(home / "labdeck.db") as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture(scope="module")
def speed_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.mark.parametrize("fault", [
    "checkpoint-written:1",  # the first checkpoint written, not yet renamed: no checkpoint at all
    "checkpoint-written:2",  # the second one written, not renamed: the first is the checkpoint
    "checkpoint-renamed:2",  # renamed, its CheckpointSaved event not yet in the store
    "epoch-logged:2",  # an epoch's metrics in the store, its checkpoint not yet written
    "evaluating:3",  # during an epoch's evaluation
    "store-transaction:10",  # between two statements of an epoch's transaction
])
def test_a_kill_anywhere_loses_nothing_that_was_logged_and_resume_finishes_unbroken(home, fault, speed_cache,
                                                                                    monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(speed_cache))  # measured once for all of them: each run starts fast
    store = Store(home)
    run_id = runs.create(store, "sequence", tiny(epochs=EPOCHS, precision="fp32"))
    output = run_worker(store, run_id, fault)
    assert integrity(home) == "ok"
    info = store.get(run_id, history=True)
    assert info.status == "interrupted", output  # it ended without recording its end: killed
    logged = [int(e) for e in info.history.get("epoch", [])]
    assert logged == event_epochs(store, run_id) == list(range(1, len(logged) + 1))  # the table and the events agree
    assert info.epochs == len(logged)
    assert not store.checkpoint_path(run_id).with_suffix(".tmp").exists() or fault.startswith("checkpoint-written")
    # resume: claimed as 'labdeck resume' does, trained here (a worker would only add its start-up)
    assert store.requeue(run_id) is None
    runs.run_here(store, run_id, resume=True)
    info = store.get(run_id, history=True)
    assert info.status == "finished", info.message
    assert integrity(home) == "ok"
    assert [int(e) for e in info.history["epoch"]] == list(range(1, EPOCHS + 1))
    assert event_epochs(store, run_id) == list(range(1, EPOCHS + 1))  # unbroken, no epoch twice
    kinds = [type(e) for _, e in store.events(run_id)]
    assert kinds.index(RunStarted) < kinds.index(DataSummary) < kinds.index(EpochMetrics)  # the first start is kept


# -- one worker per run -----------------------------------------------------------------------------------------
def test_of_two_resumes_at_once_one_starts_a_worker(home):
    store = Store(home)
    run_id = store.create_run("sequence", {})
    store.finish(run_id, "stopped", {}, 1.0, 1)
    results, barrier = [], threading.Barrier(2)

    def requeue() -> None:
        mine = Store(home)  # each its own connection, as two processes would have
        barrier.wait()
        results.append(mine.requeue(run_id))

    threads = [threading.Thread(target=requeue) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [None, "queued"]
    with pytest.raises(LabdeckError, match="is queued; nothing to resume"):
        runs.resume(store, run_id)


def test_a_second_worker_cannot_claim_a_run_another_live_process_trains(home):
    from labdeck.engine.errors import RunBusy
    from labdeck.engine.procs import process_start_time

    store = Store(home)
    run_id = store.create_run("sequence", {})
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store.claim(run_id, other.pid, process_start_time(other.pid))
        with pytest.raises(RunBusy, match="already running"):
            store.claim(run_id, os.getpid(), process_start_time(os.getpid()))
    finally:
        other.kill()
        other.wait()
    store.claim(run_id, os.getpid(), process_start_time(os.getpid()))  # its process is gone: the run is free


# -- what a failure leaves ------------------------------------------------------------------------------------------
def test_a_failed_resume_keeps_the_runs_summary(home):
    store, run_id = run_with_checkpoint(home, "sequence", b"garbage")
    store.finish(run_id, "stopped", {"test_mse": 0.25}, 12.5, 3)
    for epoch in (1, 2, 3):
        store.log_epoch(run_id, epoch, {"test_mse": 0.25}, EpochMetrics(run_id, epoch, 3, {}, 0.1, 4.0 * epoch, 0.5))
    store.finish(run_id, "stopped", {"test_mse": 0.25}, 12.5, 3)
    ended = runs.run_here(store, run_id, resume=True)
    info = store.get(run_id)
    assert ended.status == "failed" and "not a readable checkpoint" in info.message
    assert (info.epochs, info.metrics, info.train_seconds) == (3, {"test_mse": 0.25}, 12.5)


def test_a_full_disk_is_one_line_even_for_the_failure_log(home, monkeypatch):
    import pathlib

    from labdeck.engine.checkpoint import save as save_checkpoint

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    monkeypatch.setattr(torch, "save", full)
    home.mkdir(parents=True)
    with pytest.raises(LabdeckError, match=r"^disk full: cannot write checkpoint"):
        save_checkpoint({"model": {}}, home / "checkpoint.pt")
    # the run fails on it; writing error.log fails too (the disk is full): the run still ends with the reason
    real = pathlib.Path.write_text

    def write_text(self, *args, **kwargs):
        if self.name == "error.log":
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)
    store = Store(home)
    run_id = runs.create(store, "sequence", tiny(epochs=2))
    ended = runs.run_here(store, run_id)
    assert ended.status == "failed" and ended.message.startswith("disk full")
    assert store.get(run_id).status == "failed"


# -- smaller ones ----------------------------------------------------------------------------------------------
def test_a_run_id_prefix_is_not_a_pattern(home, capsys):
    from labdeck.engine.cli import main

    store = Store(home)
    run_id = store.create_run("sequence", {})
    store.finish(run_id, "finished", {}, 1.0, 1)
    for pattern in ("%", "_", run_id[:2] + "%"):
        assert main(["delete", pattern]) == 2
    assert [r.id for r in store.runs()] == [run_id]
    assert main(["show", run_id[:8]]) == 0
    assert main(["stop", "sw-nosuch"]) == 2 and "no sweep" in capsys.readouterr().err


def test_the_home_runs_and_checkpoints_are_private_whatever_the_umask(tmp_path):
    from labdeck.engine.checkpoint import save as save_checkpoint

    old = os.umask(0o022)
    try:
        store = Store(tmp_path / "home")
        run_id = store.create_run("sequence", {})
        save_checkpoint({"model": {}}, store.checkpoint_path(run_id))
    finally:
        os.umask(old)
    mode = lambda p: p.stat().st_mode & 0o777  # noqa: E731
    assert mode(store.home) == 0o700 and mode(store.home / "runs") == 0o700 and mode(store.run_dir(run_id)) == 0o700
    assert mode(store.home / "labdeck.db") == 0o600 and mode(store.checkpoint_path(run_id)) == 0o600


def test_a_stop_during_start_up_ends_the_run_stopped_not_interrupted(home):
    store = Store(home)
    run_id = runs.create(store, "sequence", tiny(epochs=50))
    runs.spawn(store, run_id)
    runs.stop(store, run_id)  # at once: the worker is still importing torch, it has not claimed the run yet
    wait_for(lambda: store.get(run_id).status not in ("queued", "running"), timeout=60, what="run ended")
    assert store.get(run_id).status == "stopped"


BUDGET, HELD = 8.0, 2.0  # seconds


@pytest.mark.slow
def test_time_paused_or_stopped_does_not_count_against_a_wall_budget(home):
    store = Store(home)
    run_id = runs.create(store, "sequence", tiny(epochs=1, length=3000, hidden=32), budget=BUDGET)
    pid = runs.spawn(store, run_id)
    wait_for(lambda: event_epochs(store, run_id), timeout=60, what="first epoch")
    os.kill(pid, signal.SIGSTOP)
    time.sleep(HELD)  # the time the process is stopped: what this test is about
    os.kill(pid, signal.SIGCONT)
    runs.pause(store, run_id)
    wait_for(lambda: store.get(run_id).status == "paused", timeout=30, what="paused")
    time.sleep(HELD)  # the time the run is paused: what this test is about
    runs.resume(store, run_id)
    wait_ended(pid, timeout=60)
    info = store.get(run_id)
    assert info.status == "finished" and info.train_seconds <= BUDGET
    events = [e for _, e in store.events(run_id)]
    planned = next(e for e in events if isinstance(e, RunStarted)).deadline
    moved = [e.deadline for e in events if isinstance(e, StatusChanged) and e.deadline]
    assert len(moved) == 2 and moved[-1] - planned >= 2 * HELD - 0.5  # the stop and the pause came on top
    ended = store._read("SELECT MAX(t) FROM events WHERE run_id=? AND kind='RunEnded'", (run_id,))[0][0]
    assert moved[-1] - 1.0 <= ended <= moved[-1] + 0.3  # and the run kept the moved deadline


def test_an_image_that_decodes_to_gigabytes_is_one_line(tmp_path, monkeypatch):
    from PIL import Image

    from labdeck.engine import DataError, registry
    from labdeck.engine.experiments.vision.experiment import predict as classify
    from labdeck.engine.experiments.vision.model import build

    p = registry.get("vision").resolve({"dataset": "shapes"})
    ckpt = {"params": p, "model": build(p["model"], 3, p["width"], p["depth"]).state_dict(),
            "extra": {"classes": ["a", "b", "c"], "size": 32, "mean": [0.5] * 3, "std": [0.25] * 3}}
    bomb = tmp_path / "bomb.png"
    Image.new("RGB", (300, 300)).save(bomb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 90,000 pixels: over twice the limit, as 20000x20000 is
    with pytest.raises(DataError, match="too large to classify"):
        classify(ckpt, [str(bomb)])


def test_one_damaged_cell_does_not_break_the_listing(home, capsys):
    from labdeck.engine.cli import main

    store = Store(home)
    good, bad = store.create_run("sequence", {"hidden": 8}), store.create_run("sequence", {"hidden": 16})
    with sqlite3.connect(home / "labdeck.db") as db:
        db.execute("UPDATE runs SET params='{\"hidden\": ', metrics='[1, 2]' WHERE id=?", (bad,))
    assert main(["runs"]) == 0 and main(["show", bad]) == 0
    out = capsys.readouterr().out
    assert good in out and bad in out
    assert store.get(good).params == {"hidden": 8} and store.get(bad).params == {}


def test_a_read_only_home_still_lists_and_shows_its_runs(home, monkeypatch, capsys):
    import errno

    from labdeck.engine import StoreError
    from labdeck.engine import store as store_module
    from labdeck.engine.cli import main

    store = Store(home)
    run_id = store.create_run("sequence", {"hidden": 8})
    store.log_epoch(run_id, 1, {"test_mse": 0.5}, EpochMetrics(run_id, 1, 1, {"test_mse": 0.5}, 0.1, 1.0, 1.0))
    store.finish(run_id, "finished", {"test_mse": 0.5}, 1.0, 1)
    store.close()

    def read_only_fs(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(store_module, "_private_dir", read_only_fs)  # what a read-only mount does to the first write
    with pytest.raises(StoreError):
        Store(home)
    assert main(["runs"]) == 0 and main(["show", run_id]) == 0 and main(["export", run_id]) == 0
    out = capsys.readouterr().out
    assert run_id in out and "test_mse" in out
    assert main(["delete", run_id]) == 1
    err = capsys.readouterr().err
    assert "read-only" in err.lower() and err.count("\n") == 1
    reader = Store(home, read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        reader.create_run("sequence", {})


def test_trials_of_a_sweep_whose_runner_died_do_not_wait_for_ever(home):
    from labdeck.engine import sweep
    from labdeck.engine.procs import process_start_time

    store = Store(home)
    sweep_id = sweep.create(store, "sequence", [tiny(hidden=4), tiny(hidden=8)])
    runner = home / f"{sweep_id}.runner"
    runner.write_text(json.dumps([os.getpid(), process_start_time(os.getpid())]))  # a live runner: they wait
    assert {i.status for i in Store(home).runs()} == {"queued"}
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    runner.write_text(json.dumps([int(dead.stdout), 0.0]))  # its runner was killed
    assert {i.status for i in Store(home).runs()} == {"interrupted"}


def test_a_ray_trial_whose_process_ended_stands_until_its_driver_says_how_or_dies(home):
    """A trial's process exits a moment before the Ray driver carries its end here: not read as interrupted
    (nor alerted as dead) meanwhile; once the driver itself is gone, nothing will say how, and it is."""
    from labdeck.engine import sweep
    from labdeck.engine.procs import process_start_time

    store = Store(home)
    sweep_id = sweep.create(store, "sequence", [tiny(hidden=4)], options={"backend": "ray"})
    (trial,) = sweep.trials(store, sweep_id)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    store.set_process(trial.id, int(dead.stdout), 0.0)  # on this node, as the driver wrote its row
    store.set_status(trial.id, "running")
    runner = home / f"{sweep_id}.runner"
    runner.write_text(json.dumps([os.getpid(), process_start_time(os.getpid())]))
    assert Store(home).get(trial.id).status == "running"
    runner.write_text(json.dumps([int(dead.stdout), 0.0]))  # the driver was killed
    assert Store(home).get(trial.id).status == "interrupted"


# Run inside a mount namespace where the home is really read-only or really full: what a user can still do there.
ON_A_MOUNTED_HOME = r"""
import asyncio, contextlib, io, json, sys, time
from labdeck.engine.cli import main

run_id = sys.argv[1]
result = {}
for name, argv in (("runs", ["runs"]), ("show", ["show", run_id]), ("export", ["export", run_id]),
                   ("delete", ["delete", run_id]), ("run", ["run", "sequence", "--set", "epochs=1"])):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    result[name] = [rc, out.getvalue(), err.getvalue()]

async def dashboard():
    from labdeck.tui.app import LabdeckApp
    from labdeck.engine import default_home
    app = LabdeckApp(default_home(), system_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        deadline = time.monotonic() + 60
        while run_id not in app.model.infos:
            assert time.monotonic() < deadline, "the dashboard never listed the run"
            await pilot.pause(0.05)
        return sorted(app.model.infos)

result["dashboard"] = asyncio.run(dashboard())
print(json.dumps(result))
"""


def on_a_mounted_home(home, mount: str, run_id: str) -> dict:
    """Run ON_A_MOUNTED_HOME with ``home`` mounted by the shell commands ``mount`` (in a user and mount namespace)."""
    import shutil

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], check=False).returncode != 0:
        pytest.skip("this machine cannot make a user and mount namespace (unshare -rm)")
    script = f"{mount} && exec \"$0\" -c \"$1\" {run_id}"
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script, sys.executable, ON_A_MOUNTED_HOME],
                          capture_output=True, text=True, timeout=180, cwd=os.getcwd(), check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def finished_run(home) -> str:
    store = Store(home)
    run_id = store.create_run("sequence", {"hidden": 8})
    store.log_epoch(run_id, 1, {"test_mse": 0.5}, EpochMetrics(run_id, 1, 1, {"test_mse": 0.5}, 0.1, 1.0, 1.0))
    store.finish(run_id, "finished", {"test_mse": 0.5}, 1.0, 1)
    store.close()
    return run_id


def assert_reads_work_and_writes_fail_in_one_line(result: dict, run_id: str, why: str) -> None:
    for name in ("runs", "show", "export"):
        rc, out, err = result[name]
        assert rc == 0 and "test_mse" in out and err == "", (name, result[name])
    assert run_id in result["runs"][1] and run_id in result["show"][1]
    for name in ("delete", "run"):
        rc, out, err = result[name]
        assert rc != 0 and err.count("\n") == 1 and why in err.lower() and "Traceback" not in err, (name, result[name])
    assert run_id in result["dashboard"]


def test_a_really_read_only_home_lists_shows_exports_and_opens_the_dashboard(home):
    run_id = finished_run(home)
    result = on_a_mounted_home(home, f"mount --bind {home} {home} && mount -o remount,bind,ro {home}", run_id)
    assert_reads_work_and_writes_fail_in_one_line(result, run_id, "read-only")
    assert Store(home).get(run_id).status == "finished"  # and nothing was lost


def test_a_really_full_home_lists_shows_exports_and_opens_the_dashboard(home, tmp_path):
    run_id = finished_run(home)
    saved = tmp_path / "saved"
    shutil_copy = f"cp -a {home} {saved}"
    fill = (f"{shutil_copy} && mount -t tmpfs -o size=2m tmpfs {home} && cp -a {saved}/. {home}/ && "
            f"(dd if=/dev/zero of={home}/filler bs=4k 2>/dev/null; true)")
    result = on_a_mounted_home(home, fill, run_id)
    assert_reads_work_and_writes_fail_in_one_line(result, run_id, "full")
    assert Store(home).get(run_id).status == "finished"


def test_a_resume_whose_checkpoint_is_gone_is_refused_in_one_line(home):
    from .conftest import cli

    store = Store(home)
    run_id = finished_run(home)
    store.set_status(run_id, "stopped")
    done = cli("resume", run_id)
    assert done.returncode == 2 and "checkpoint is gone" in done.stderr and done.stderr.count("\n") == 1
    assert store.get(run_id).status == "stopped" and store.get(run_id).epochs == 1  # its epoch is still there


def test_a_store_that_fails_before_the_first_epoch_is_said_in_one_line(home, monkeypatch):
    from labdeck.engine.errors import StoreError
    from labdeck.engine.events import DataSummary

    from .conftest import cli

    real = Store.emit

    def emit(self, event):
        if isinstance(event, DataSummary) or type(event).__name__ == "RunEnded":
            raise StoreError(f"run store write failed ({home}): its disk is full")
        return real(self, event)

    monkeypatch.setattr(Store, "emit", emit)
    done = cli("run", "sequence", *set_args(tiny(epochs=1)))
    assert done.returncode == 1 and "disk is full" in done.stdout + done.stderr


def test_a_report_draws_what_it_can_of_values_near_floats_limit(home):
    import labdeck

    from .conftest import cli

    with labdeck.init("huge-values", system=False) as run:
        for _ in range(5):
            run.log({"big": 1e308, "ok": 1.0})
    done = cli("report", run.id, "--out", str(home / "report"))
    assert done.returncode == 0, done.stderr
    assert "ok over steps" in (home / "report" / "report.md").read_text()


def test_error_log_is_for_this_user_only(home):
    import stat

    store = Store(home)
    run_id = runs.create(store, "sequence", tiny(epochs=1))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("labdeck.engine.experiments.sequence.experiment.SequenceTask.__init__",
                   lambda *a, **k: (_ for _ in ()).throw(RuntimeError("broken on purpose")))
        runs.run_here(store, run_id)
    log = store.run_dir(run_id) / "error.log"
    assert "broken on purpose" in log.read_text() and stat.S_IMODE(log.stat().st_mode) == 0o600


def test_a_store_with_bytes_changed_under_it_is_said_and_gets_no_new_run(home):
    import random

    from .conftest import cli

    store = Store(home)
    for _ in range(40):  # pages enough that one in the middle holds rows
        finished_run(home)
    store.close()
    db = home / "labdeck.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root, = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='events_run'").fetchone()
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db.read_bytes())
    start = (root - 1) * page  # an index's page: a disk that went bad, or a stray write, scrambles its cells
    data[start + 8: start + page] = bytes(random.Random(0).randrange(256) for _ in range(page - 8))
    db.write_bytes(bytes(data))
    assert "damaged" in Store(home).check()
    done = cli("run", "sequence", *set_args(tiny(epochs=1)))
    assert done.returncode == 1 and "damaged" in done.stderr and done.stderr.count("\n") == 1
