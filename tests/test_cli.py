"""The CLI contract, run as a real subprocess: bad input, JSON output, detach, control, kill -9 and resume."""

import json
import os
import signal
import time

import pytest

from labdeck.engine import ParamError, Store

from .conftest import cli, set_args, show, tiny, wait_for


@pytest.mark.parametrize("args,fragment", [
    (["run", "sequence", "--set", "lr=-1"], "lr: must be a number from"),
    (["run", "sequence", "--set", "hidden=0"], "hidden: must be an integer from 1"),
    (["run", "sequence", "--set", "window=5000"], "window: 5000 is not shorter"),
    (["run", "sequence", "--set", "colour=red"], "colour: unknown parameter"),
    (["run", "sequence", "--set", "source=csv:/no/such.csv"], "cannot read /no/such.csv"),
    (["run", "sequence", "--budget", "-3"], "budget: must be"),
    (["run", "sequence", "--train-budget", "0"], "budget: must be"),
    (["run", "sequence", "--budget", "5", "--train-budget", "5"], "give one"),
    (["run", "nosuch"], "unknown 'nosuch'"),
    (["show", "nosuchrun"], "no run 'nosuchrun'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(home, args, fragment):
    Store(home)  # the home exists (a missing one is a test of its own)
    proc = cli(*args)
    assert proc.returncode == 2
    assert fragment in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert json.loads(cli("runs", "--json").stdout) == []  # no run created


def test_a_wall_budget_holds_from_the_command_to_its_result(home):
    start = time.monotonic()
    proc = cli("run", "sequence", *set_args(tiny(length=2000, window=40, hidden=32)), "--budget", "6", "--json",
               process=True, check=True)
    took = time.monotonic() - start  # Python's start, torch's import, training, evaluations, the result
    result = json.loads(proc.stdout)
    # how many epochs fit depends on what else holds the two cores (the other test worker): at least one trained
    assert result["status"] == "finished" and result["epochs"] >= 1 and took <= 6 + 0.5
    assert "budget: 6 s for the whole run: about " in proc.stderr
    assert "evaluating" not in proc.stderr  # a log gets epochs, not each evaluation's progress
    assert "budget 6s (whole run)" in cli("show", result["run_id"], check=True).stdout


def test_a_command_that_reads_never_makes_a_home(home, tmp_path):
    typo = tmp_path / "typo-dir"
    listed = cli("runs", "--home", str(typo))
    assert listed.returncode == 0 and f"no labdeck store at {typo}" in listed.stdout
    assert json.loads(cli("runs", "--home", str(typo), "--json").stdout) == []
    shown = cli("show", "x", "--home", str(typo))
    assert shown.returncode == 2 and shown.stderr.count("\n") == 1 and "no labdeck store" in shown.stderr
    assert not typo.exists()


def test_run_json_contract_and_show(home):
    proc = cli("run", "sequence", *set_args(tiny()), "--json", check=True)
    assert "Traceback" not in proc.stderr and "\r" not in proc.stderr  # plain lines when not a terminal
    # standard output is exactly one JSON document (`labdeck run ... --json | jq .metrics`); progress on stderr
    result = json.loads(proc.stdout)
    assert any(line.startswith("epoch 1/2") for line in proc.stderr.splitlines())
    assert set(result) >= {"run_id", "experiment", "status", "params", "metrics", "train_seconds", "epochs"}
    assert result["status"] == "finished" and result["epochs"] == 2 and result["params"]["hidden"] == 8
    assert {"test_mse", "test_mae", "forecast_rmse"} <= set(result["metrics"])
    info = show(result["run_id"])
    assert info["status"] == "finished" and info["pid"] is None
    assert info["history"]["epoch"] == [1.0, 2.0]
    listing = cli("runs", check=True).stdout
    assert result["run_id"] in listing and "finished" in listing
    human = cli("show", result["run_id"], check=True).stdout
    assert "params:" in human and "test_mse" in human


def test_home_before_or_after_the_command(home, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    before = cli("--home", str(elsewhere), "run", "sequence", *set_args(tiny(epochs=1)), "--json", check=True)
    run_id = json.loads(before.stdout.splitlines()[-1])["run_id"]
    assert json.loads(cli("runs", "--json").stdout) == []  # not in $LABDECK_HOME
    assert cli("show", run_id, "--home", str(elsewhere), check=True).returncode == 0
    assert [r["run_id"] for r in json.loads(cli("--home", str(elsewhere), "runs", "--json").stdout)] == [run_id]


def test_params_lists_the_declaration(home):
    out = cli("params", "sequence", check=True).stdout
    assert "hidden" in out and "an integer from 1 to 4096" in out
    declared = json.loads(cli("params", "sequence", "--json", check=True).stdout)
    assert {"name": "cell", "type": "str", "default": "lstm"}.items() <= declared[[d["name"] for d in declared]
                                                                                   .index("cell")].items()


@pytest.mark.slow
def test_predict_from_values_and_csv(home, tmp_path, capsys):
    run_id = json.loads(cli("run", "sequence", *set_args(tiny()), "--json", check=True).stdout.splitlines()[-1])[
        "run_id"]
    values = ",".join(f"{v / 10:.2f}" for v in range(12))
    out = json.loads(cli("predict", run_id, values, "--steps", "4", "--json", check=True).stdout)
    assert len(out["forecast"]) == 4
    csv = tmp_path / "s.csv"
    csv.write_text("x\n" + "\n".join(str(v / 7) for v in range(30)) + "\n")
    text = cli("predict", run_id, "--csv", f"{csv}:x", "--steps", "3", check=True).stdout
    assert len(text.strip().splitlines()) == 3
    bad = cli("predict", run_id, "1", "2")
    assert bad.returncode == 2 and "need at least window=10" in bad.stderr
    from labdeck.engine.cli import main  # in-process: one line and exit 2, never a traceback

    for value in ("nan", "inf", "1e309"):
        assert main(["predict", run_id, *([values] * 2), value]) == 2
        err = capsys.readouterr().err
        assert "not a finite number" in err and err.count("\n") == 1, err


def test_detach_pause_resume_stop(home):
    proc = cli("run", "sequence", *set_args(tiny(epochs=100000, length=2000, window=40, hidden=32)), "--detach",
               check=True)
    run_id = proc.stdout.strip()
    wait_for(lambda: show(run_id)["history"]["epoch"], what="first epoch")
    assert show(run_id)["status"] == "running" and show(run_id)["pid"]
    cli("pause", run_id, check=True)
    wait_for(lambda: show(run_id)["status"] == "paused", what="paused")
    frozen = len(show(run_id)["history"]["epoch"])
    again = cli("pause", run_id)
    assert again.returncode == 1 and "only a running run can be paused" in again.stderr
    cli("resume", run_id, check=True)
    wait_for(lambda: show(run_id)["status"] == "running", what="running again")
    wait_for(lambda: len(show(run_id)["history"]["epoch"]) > frozen, what="epochs after resume")
    cli("stop", run_id, check=True)
    info = wait_for(lambda: (i := show(run_id))["status"] == "stopped" and i, what="stopped")
    assert info["pid"] is None and info["epochs"] >= 1


@pytest.mark.slow
def test_kill_9_then_resume_gives_an_unbroken_history(home):
    run_id = cli("run", "sequence", *set_args(tiny(epochs=8, length=2000, window=40, hidden=32)), "--detach",
                 check=True).stdout.strip()
    wait_for(lambda: len(show(run_id)["history"]["epoch"]) >= 3, what="three epochs")
    pid = show(run_id)["pid"]
    os.kill(pid, signal.SIGKILL)
    info = wait_for(lambda: (i := show(run_id))["status"] == "interrupted" and i, what="interrupted")
    logged = info["history"]["epoch"]
    assert len(logged) >= 3  # every metric committed before the kill is still there
    assert "interrupted" in cli("runs", check=True).stdout
    cli("resume", run_id, check=True)
    done = wait_for(lambda: (i := show(run_id))["status"] == "finished" and i, timeout=120, what="finished")
    assert done["history"]["epoch"] == [float(e) for e in range(1, 9)]
    assert done["epochs"] == 8 and all(len(v) == 8 for v in done["history"].values())


def test_json_from_every_command_that_changes_something(home, capsys):
    """pause/resume/stop/delete/report print one JSON object with --json; watch --json streams JSON lines."""
    from labdeck.engine.cli import main
    from labdeck.engine.events import EpochMetrics, RunEnded

    store = Store(home)
    run_id = store.create_run("sequence", {})
    store.log_epoch(run_id, 1, {"test_mse": 0.5}, EpochMetrics(run_id, 1, 1, {"test_mse": 0.5}, 0.1, 1.0, 1.0))
    store.emit(RunEnded(run_id, "finished", {"test_mse": 0.5}, 1.0, 1))
    store.finish(run_id, "finished", {"test_mse": 0.5}, 1.0, 1)
    capsys.readouterr()
    assert main(["watch", run_id, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["kind"] for line in lines] == ["EpochMetrics", "RunEnded", "result"]
    assert lines[0]["metrics"] == {"test_mse": 0.5} and lines[-1]["status"] == "finished"
    assert main(["report", run_id, "--out", str(home / "r"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"].endswith("report.md")
    assert main(["delete", run_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"action": "delete", "run_id": run_id}


def test_version_and_the_exit_status_of_watch(home, capsys):
    """--version; `watch` says how the run ended in its exit status (1 for a failed run), as `run` does."""
    from labdeck.engine.cli import main
    from labdeck.engine.events import RunEnded

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("labdeck ")
    store = Store(home)
    failed, finished = store.create_run("sequence", {}), store.create_run("sequence", {})
    for run_id, status in ((failed, "failed"), (finished, "finished")):
        store.emit(RunEnded(run_id, status, {}, 1.0, 1, "boom" if status == "failed" else ""))
        store.finish(run_id, status, {}, 1.0, 1, "boom" if status == "failed" else "")
    assert main(["watch", failed]) == 1 and main(["watch", finished]) == 0
    assert "is failed" in capsys.readouterr().out


def test_presets_are_toml_a_broken_file_is_named_and_kept(home, capsys):
    from labdeck.engine import presets
    from labdeck.engine.cli import main

    file = presets.save("sequence", "tiny", {"hidden": 8, "length": 300, "window": 10, "horizon": 20, "epochs": 1})
    assert file.suffix == ".toml" and "hidden = 8" in file.read_text()
    presets.save("sequence", "other", {"cell": "gru"})
    assert set(presets.named("sequence")) == {"tiny", "other"}

    assert main(["run", "sequence", "--preset", "tiny", "--set", "hidden=4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["params"]["hidden"] == 4 and result["params"]["length"] == 300  # --set wins over the preset
    presets.save("sequence", "budgeted", {"hidden": 4, "length": 300, "window": 10, "horizon": 20, "budget": 0.5})
    assert main(["run", "sequence", "--preset", "budgeted", "--detach", "--json"]) == 0  # its budget row too
    assert Store(home).get(json.loads(capsys.readouterr().out)["run_id"]).budget == 0.5
    assert main(["run", "sequence", "--preset", "nosuch"]) == 2
    assert "no sequence preset 'nosuch'" in capsys.readouterr().err
    broken = file.read_text() + "\n[half\nhidden = \n"
    file.write_text(broken)
    assert main(["run", "sequence", "--preset", "tiny"]) == 2
    err = capsys.readouterr().err
    assert str(file) in err and "line" in err and err.count("\n") == 1
    with pytest.raises(ParamError, match="not valid TOML"):
        presets.save("sequence", "third", {"hidden": 2})
    assert file.read_text() == broken  # never overwritten or emptied


def completions(monkeypatch, line: str) -> list[str]:
    """What a shell's Tab offers after ``line`` (argcomplete's protocol, in-process)."""
    import io

    import argcomplete.finders
    import argcomplete.io

    from labdeck.engine.cli import complete

    # argcomplete's debug stream takes file descriptor 9, which is pytest's own here (its docstring says to override)
    monkeypatch.setattr(argcomplete.finders.CompletionFinder, "_init_debug_stream",
                        lambda self: setattr(argcomplete.io, "debug_stream", io.StringIO()))
    monkeypatch.setenv("_ARGCOMPLETE", "1")
    monkeypatch.setenv("_ARGCOMPLETE_IFS", "\n")
    monkeypatch.setenv("COMP_LINE", line)
    monkeypatch.setenv("COMP_POINT", str(len(line)))
    out = io.StringIO()

    def stop(code=0):
        raise SystemExit(code)

    with pytest.raises(SystemExit):
        complete(output_stream=out, exit_method=stop)
    return [c.strip() for c in out.getvalue().split("\n") if c.strip()]


def test_shell_completion_of_commands_experiments_parameters_and_run_ids(home, monkeypatch, capsys):
    from labdeck.engine.cli import main

    assert main(["completion", "fish"]) == 0 and "labdeck" in capsys.readouterr().out
    store = Store(home)
    run_id = store.create_run("sequence", {})
    assert "sweep" in completions(monkeypatch, "labdeck sw")
    assert completions(monkeypatch, "labdeck run seq") == ["sequence"]
    assert "hidden=" in completions(monkeypatch, "labdeck run sequence --set hid")
    assert set(completions(monkeypatch, "labdeck run sequence --set cell=")) == {"cell=rnn", "cell=lstm", "cell=gru"}
    assert completions(monkeypatch, f"labdeck show {run_id[:8]}") == [run_id]
