"""Sweeps (grid, random, parallel, failures, stop and resume), lab reports and metric export."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import random
from pathlib import Path

import pytest

from labdeck.engine import sweep
from labdeck.engine.store import Store

from .conftest import cli, set_args, tiny, wait_for
from .demo_runs import add_sweep, demo_store


def test_plan_is_the_grid_product_times_the_random_draws():
    ranges = sweep.parse_ranges(["lr=0.001:0.1:log", "hidden=4:32"], "sequence")
    trials = sweep.plan("sequence", {"epochs": "2"}, {"cell": ["rnn", "gru"]}, 3, ranges, seed=1)
    assert len(trials) == 6 and all(t["epochs"] == "2" for t in trials)
    assert [t["cell"] for t in trials] == ["rnn"] * 3 + ["gru"] * 3
    assert all(0.001 <= t["lr"] <= 0.1 and isinstance(t["hidden"], int) and 4 <= t["hidden"] <= 32 for t in trials)
    assert trials == sweep.plan("sequence", {"epochs": "2"}, {"cell": ["rnn", "gru"]}, 3, ranges, seed=1)
    assert Range_draws_are_spread(ranges["lr"])


def Range_draws_are_spread(r) -> bool:
    values = [r.draw(random.Random(s)) for s in range(200)]
    return sum(v < 0.01 for v in values) > 60  # log-uniform: a third below 0.01, not 9%


@pytest.mark.parametrize("args, message", [
    (["--grid", "hidden=4,0"], "hidden: must be an integer from 1"),
    (["--grid", "hidden"], "grid: expected KEY=V1,V2"),
    (["--grid", "colour=red,blue"], "colour: unknown parameter"),
    (["--random", "3", "--range", "cell=1:2"], "not numeric"),
    (["--random", "3", "--range", "lr=0.1:0.01"], "LOW < HIGH"),
    (["--random", "3"], "give the ranges"),
    (["--grid", "hidden=4"], "at least two trials"),
    (["--grid", "hidden=4,8", "--parallel", "0"], "parallel"),
    (["--grid", "hidden=4,8", "--asha"], "need --backend ray"),
    (["--grid", "hidden=4,8", "--address", "ray://head:10001"], "need --backend ray"),
])
def test_bad_sweeps_exit_2_and_create_nothing(home, args, message):
    proc = cli("sweep", "sequence", *args)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert Store().runs() == []


@pytest.mark.slow
def test_grid_sweep_runs_trials_in_parallel_and_a_failed_trial_does_not_stop_it(home, tmp_path):
    # lr=100 with plain SGD and no clipping diverges: that trial fails, the others finish (the grid's product is
    # tested above: three trials here, two at a time, so that the third starts after one has ended)
    proc = cli("sweep", "sequence", "--grid", "lr=0.01,100,0.03", "--parallel", "2",
               *set_args(tiny(optimizer="sgd", clip=0)), "--json", timeout=300)
    assert proc.returncode == 1, proc.stderr  # a sweep with a failed trial exits 1, as a failed run does
    result = json.loads(proc.stdout)
    assert result["swept"] == ["lr"] and len(result["trials"]) == 3
    by_lr = {t["params"]["lr"]: t for t in result["trials"]}
    assert by_lr[0.01]["status"] == by_lr[0.03]["status"] == "finished"
    assert by_lr[100]["status"] == "failed" and "diverged" in by_lr[100]["message"]
    best = min((by_lr[0.01], by_lr[0.03]), key=lambda t: t["metrics"]["test_mse"])
    assert result["best"] == best["run_id"]
    infos = Store().runs()
    assert len(infos) == 3 and {i.sweep for i in infos} == {result["sweep_id"]}
    # its report, from what the trials recorded as they trained
    out = tmp_path / "report"
    cli("report", result["sweep_id"], "--out", str(out), check=True)
    assert (out / f"best-{best['run_id']}-waves.png").stat().st_size > 1000
    assert len(list(csv.reader((out / "trials.csv").open()))) == 4


@pytest.mark.slow
def test_a_sweep_stops_and_resumes(home):
    long = tiny(epochs=100000, length=2000, window=40, hidden=32)
    sweep_id = cli("sweep", "sequence", "--grid", "cell=rnn,gru", *set_args(long), "--detach",
                   check=True).stdout.strip()
    assert sweep_id.startswith("sw-")
    store = Store()
    first = wait_for(lambda: next((i for i in sweep.trials(store, sweep_id) if i.status == "running"), None),
                     what="first trial running")
    assert sum(i.status == "running" for i in sweep.trials(store, sweep_id)) == 1  # one at a time on CPU
    wait_for(lambda: store.checkpoint_path(first.id).exists(), what="a checkpoint")
    cli("stop", sweep_id, check=True)
    wait_for(lambda: all(i.status == "stopped" for i in sweep.trials(store, sweep_id)), what="all stopped")
    cli("resume", sweep_id, check=True)
    again = wait_for(lambda: next((i for i in sweep.trials(store, sweep_id) if i.status == "running"), None),
                     what="running again")
    assert again.id == first.id  # the unfinished trial continues from its checkpoint
    cli("stop", sweep_id, check=True)
    wait_for(lambda: all(i.status == "stopped" for i in sweep.trials(store, sweep_id)), what="stopped again")


def test_report_of_a_sweep_and_of_each_experiment(home, tmp_path):
    # runs written into the store as training records them (a sweep trained for real is reported above)
    sweep_id = add_sweep(Store(home))
    out = tmp_path / "sweep-report"
    assert cli("report", sweep_id, "--out", str(out), check=True).stdout.strip() == str(out / "report.md")
    text = (out / "report.md").read_text()
    assert f"# Sweep {sweep_id}" in text and "sweep-hidden.png" in text
    assert (out / "sweep-hidden.png").stat().st_size > 1000
    rows = list(csv.reader((out / "trials.csv").open()))
    assert rows[0] == ["run_id", "status", "hidden", "test_mse"] and len(rows) == 4
    best = min(sweep.trials(Store(home), sweep_id), key=lambda i: i.metrics["test_mse"]).id
    assert rows[1][0] == best  # ranked, best first
    assert (out / f"best-{best}-waves.png").exists() and (out / f"best-{best}-gradients.png").exists()
    demo_store(home)
    for run, figures in (("demo-cnn", ["loss.png", "accuracy.png", "confusion.png"]), ("demo-lm", ["ppl.png"])):
        folder = tmp_path / run
        cli("report", run, "--out", str(folder), check=True)
        report = (folder / "report.md").read_text()
        for name in figures:
            assert (folder / name).stat().st_size > 1000 and f"({name})" in report
    assert "Per-class metrics" in (tmp_path / "demo-cnn" / "report.md").read_text()
    assert "def read_6" in (tmp_path / "demo-lm" / "report.md").read_text()


def test_a_report_appears_whole_and_a_new_one_replaces_it_whole(home, tmp_path, monkeypatch):
    # the dashboard (and any script) waits for report.md to exist, then reads it

    from labdeck.engine import durable, write_report

    renames = []
    real = os.replace

    def watched(src, dst):
        renames.append((Path(dst).name, Path(src).read_text()))
        real(src, dst)

    monkeypatch.setattr(durable.os, "replace", watched)
    demo_store(home)
    out = tmp_path / "report"
    for _ in range(2):
        path = write_report(Store(home), "demo-cnn", out)
    assert [name for name, _ in renames] == ["report.md", "report.md"] and renames[-1][1] == path.read_text()
    assert "Per-class metrics" in path.read_text() and sorted(p.name for p in out.glob(".*")) == []


def test_export_prints_the_full_history(home):
    demo_store(home)
    rows = list(csv.reader(io.StringIO(cli("export", "demo-rnn", check=True).stdout)))
    assert rows[0][:2] == ["epoch", "lr"] or rows[0][0] == "epoch"
    assert [r[0] for r in rows[1:]] == [str(e) for e in range(1, 13)]
    data = json.loads(cli("export", "demo-rnn", "--format", "json", check=True).stdout)
    assert data["run_id"] == "demo-rnn" and len(data["history"]["epoch"]) == 12
    proc = cli("export", "nope")
    assert proc.returncode == 2 and "no run" in proc.stderr


def test_a_local_sweep_gives_each_trial_a_gpu_of_its_own_while_one_is_free(home, monkeypatch, tmp_path):
    from .conftest import fake_gpus

    fake_gpus(monkeypatch, tmp_path, 2)
    proc = cli("sweep", "sequence", "--grid", "hidden=4,6,8", *set_args(tiny()), "--parallel", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    store = Store()
    spans: dict[str, list[tuple[float, float]]] = {}
    for info in sweep.trials(store, json.loads(proc.stdout)["sweep_id"]):
        records = store.records(info.id)
        placed = [json.loads(p)["text"] for _, k, p, _ in records if k == "LogLine" and "sweep: trains on GPU" in p]
        assert len(placed) == 1, placed
        gpu = placed[0].split("GPU ")[1].split(" ")[0]
        started = next(t for _, k, _, t in records if k == "RunStarted")
        ended = next(t for _, k, _, t in records if k == "RunEnded")
        spans.setdefault(gpu, []).append((started, ended))
    assert sorted(spans) == ["0", "1"] and sum(map(len, spans.values())) == 3
    for gpu, times in spans.items():  # one trial at a time on each GPU, though three were allowed at once
        times.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(times)), (gpu, times)


def test_gpu_slots_pack_up_to_per_gpu_and_leave_cpu_and_numbered_trials_alone(home, monkeypatch, tmp_path):
    from .conftest import fake_gpus

    fake_gpus(monkeypatch, tmp_path, 2)
    slots = sweep.GpuSlots(per_gpu=2)
    assert [slots.take(r, "auto") for r in "abcd"] == ["0", "1", "0", "1"]
    assert slots.take("e", "cuda") is False  # full: it waits
    assert slots.take("f", "cpu") is None and slots.take("g", "cuda:1") is None
    slots.release({"a", "b", "c"})
    assert slots.take("e", "cuda") == "1"
    assert cli("sweep", "sequence", "--grid", "hidden=4,8", "--per-gpu", "0").returncode == 2


def test_a_run_goes_out_as_tensorboard_files_and_comes_back_in(home, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ids = demo_store(home)
    store = Store()
    run = next(i for i in store.runs() if i.experiment == "language" and i.status == "finished")
    out = tmp_path / "tb"
    done = cli("export", run.id, "--format", "tensorboard", "--out", str(out))
    assert done.returncode == 0, done.stderr
    acc = EventAccumulator(str(out), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    history = store.history(run.id)
    logged = [(int(e), v) for e, v in zip(history["epoch"], history["val_ppl"]) if v == v]  # NaN: not logged
    assert [(p.step, p.value) for p in acc.Scalars("val_ppl")] == [(e, pytest.approx(v, rel=1e-6))
                                                                  for e, v in logged]
    assert "sample/text_summary" in acc.Tags()["tensors"]  # the generated samples, as text
    hparams = EventAccumulator(str(out)).Reload().PluginTagToContent("hparams")
    assert hparams  # the parameters and final metrics, for TensorBoard's HPARAMS tab
    # and back in, as a run of its own
    done = cli("import", str(out), "--experiment", "from-tb", "--json")
    assert done.returncode == 0, done.stderr
    (new,) = json.loads(done.stdout)["run_ids"]
    back = store.get(new, history=True)
    assert back.experiment == "from-tb" and back.status == "finished"
    assert [(int(e), v) for e, v in zip(back.history["epoch"], back.history["val_ppl"]) if v == v] == [
        (e, pytest.approx(v, rel=1e-6)) for e, v in logged]
    # a CSV file: its step column, its numeric columns
    table = tmp_path / "log.csv"
    table.write_text("step,loss,name\n0,1.5,a\n10,0.75,b\n")
    (from_csv,) = json.loads(cli("import", str(table), "--json", check=True).stdout)["run_ids"]
    assert store.get(from_csv, history=True).history == {"epoch": [0.0, 10.0], "loss": [1.5, 0.75]}
    assert cli("import", str(tmp_path / "nothing")).returncode == 2
    table.write_text("step,loss\nfirst,1.0\n")
    bad = cli("import", str(table))
    assert bad.returncode == 2 and bad.stderr.strip() == f"labdeck: {table}, row 2: step is 'first', not a number"
    assert cli("export", run.id, "--format", "tensorboard").returncode == 2
    assert ids


@pytest.mark.parametrize("step", ["inf", "1e30", str(2**63), "-1", "2.5", "nan"])
def test_an_import_with_a_bad_step_is_one_line_and_creates_nothing(home, tmp_path, step):
    table = tmp_path / "log.csv"
    table.write_text(f"step,loss\n0,1.0\n{step},0.5\n")
    done = cli("import", str(table))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "row 3: step is" in done.stderr
    assert Store().runs() == []


def test_bad_import_files_and_names_are_one_line_and_printed_safely(home, tmp_path):
    huge = tmp_path / "huge.csv"
    huge.write_text("step,loss\n0," + "1" * (200 * 1024) + "\n")
    done = cli("import", str(huge))
    assert done.returncode == 2 and "not a table of metrics" in done.stderr and Store().runs() == []
    table = tmp_path / "log.csv"
    table.write_text('step,epoch,train_seconds,"a\x1b[31mb",loss\n0,1,2.0,3,4\n')
    done = cli("import", str(table), "--experiment", "bad\x1b[2Jname")
    assert done.returncode == 2 and "\x1b" not in done.stderr and Store().runs() == []
    (run_id,) = json.loads(cli("import", str(table), "--json", check=True).stdout)["run_ids"]
    # the axes' names and control characters are renamed as the logging API renames them
    assert list(Store().series_keys(run_id)) == ["epoch_", "train_seconds_", "a_[31mb", "loss"]


def test_a_second_tensorboard_export_replaces_the_first_and_a_bad_place_is_one_line(home, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import labdeck

    with labdeck.init("tb-twice", system=False) as run:
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1)})
    out = tmp_path / "tb"
    for _ in range(2):
        cli("export", run.id, "--format", "tensorboard", "--out", str(out), check=True)
    acc = EventAccumulator(str(out), size_guidance={"scalars": 0})
    acc.Reload()
    assert [p.step for p in acc.Scalars("loss")] == [0, 1, 2, 3, 4]  # once each, not twice
    a_file = tmp_path / "file"
    a_file.write_text("x")
    done = cli("export", run.id, "--format", "tensorboard", "--out", str(a_file))
    assert done.returncode == 2 and "is a file" in done.stderr and len(done.stderr.splitlines()) == 1
    # a folder on a read-only mount (a user and mount namespace: root writes anywhere else)
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], check=False).returncode != 0:
        pytest.skip("this machine cannot make a user and mount namespace (unshare -rm)")
    locked = tmp_path / "locked"
    locked.mkdir()
    done = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount --bind {locked} {locked} && mount -o remount,bind,ro "
                           f'{locked} && exec "$0" -m labdeck.engine export {run.id} --format tensorboard --out '
                           f"{locked}/tb", sys.executable], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "cannot write" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_report_of_no_run_is_one_line_and_makes_no_folder(home, tmp_path):
    """A host's serve writes reports under its home's reports/TARGET: a target that is no run or sweep (a typo, or
    '../..' from a viewer elsewhere) is refused before any folder is made."""
    Store(home)
    for target in ("nope", "../../escaped"):
        out = tmp_path / "reports" / target
        done = cli("report", target, "--out", str(out))
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and not out.exists()
    assert not (tmp_path / "escaped").exists()
