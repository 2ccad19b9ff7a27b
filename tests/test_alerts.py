"""The watchdog: its rules on synthetic curves, and real runs that diverge, finish, fail, pause on a rule."""

from __future__ import annotations

import math
import random
import time

import pytest

from labdeck.engine import runs
from labdeck.engine.alerts import DIVERGED, FAILED, FINISHED, NON_FINITE, PAUSE, STOP, Watch, parse_rule
from labdeck.engine.errors import ParamError
from labdeck.engine.store import Store

from .conftest import tiny, wait_for


def test_rules_parse_as_written_and_bad_ones_are_one_line():
    rule = parse_rule("val_loss > 1.5 @ 20m : stop")
    assert (rule.key, rule.above, rule.value, rule.from_seconds, rule.from_step, rule.action) == \
        ("val_loss", True, 1.5, 1200.0, None, STOP)
    assert parse_rule("acc<0.2@5000:pause").from_step == 5000 and parse_rule("acc<0.2@5000:pause").action == PAUSE
    for bad, said in [("loss", "write KEY>VALUE"), ("loss>x", "not a number"), ("loss>inf", "finite"),
                      ("loss>1:explode", "action"), ("loss>1@2.5", "whole step")]:
        with pytest.raises(ParamError, match=said):
            parse_rule(bad)


def curve(n: int, seed: int = 0, noise: float = 0.3) -> list[float]:
    """A healthy loss: decays from 2.3 towards 0.05 with multiplicative noise and a few spikes."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        value = 0.05 + 2.25 * math.exp(-i / 300) * (1 + noise * rnd.gauss(0, 1))
        out.append(abs(value) * (4 if rnd.random() < 0.01 else 1))
    return out


def test_a_noisy_but_healthy_loss_raises_nothing():
    for seed in range(5):
        watch = Watch()
        values = curve(5000, seed)
        assert watch.values("train_loss", range(len(values)), values, 10.0) == []


def test_a_loss_that_climbs_back_above_its_start_diverges_once():
    watch = Watch()
    healthy = curve(600)
    climbing = [healthy[-1] * 1.02 ** i for i in range(400)]
    fired = watch.values("loss", range(1000), healthy + climbing, 5.0)
    assert [f.rule for f in fired] == [DIVERGED]
    assert watch.values("loss", range(1000, 1100), [1e6] * 100, 6.0) == []  # once per run


def test_a_nan_loss_is_told_once_and_other_metrics_may_be_nan():
    watch = Watch()
    assert watch.values("acc", [0, 1], [math.nan, 0.5], 1.0) == []  # not a loss
    fired = watch.values("loss", [0, 1, 2], [1.0, math.nan, math.inf], 1.0)
    assert [f.rule for f in fired] == [NON_FINITE] and "nan" in fired[0].message


def test_a_user_rule_fires_only_once_armed_and_once():
    watch = Watch([parse_rule("loss>2@100:stop"), parse_rule("acc<0.5@30s")])
    assert watch.values("loss", [10, 50], [5.0, 5.0], 1.0) == []  # before step 100: not yet
    fired = watch.values("loss", [100, 101], [3.0, 4.0], 1.0)
    assert [(f.rule, f.action) for f in fired] == [("loss>2@100:stop", STOP)]
    assert watch.values("acc", [1], [0.1], 29.0) == []
    assert [f.rule for f in watch.values("acc", [2], [0.1], 31.0)] == ["acc<0.5@30s"]


@pytest.mark.slow
def test_a_finished_run_is_told_once_and_a_diverged_one_as_its_cause(home):
    store = Store(home)
    good = runs.create(store, "sequence", tiny(epochs=1))
    assert runs.run_here(store, good).status == "finished"
    told = store.alerts(run_id=good)
    assert [a.rule for a in told] == [FINISHED] and "test_mse" in told[0].message
    bad = runs.create(store, "sequence", tiny(epochs=2, lr=100, optimizer="sgd", clip=0))
    assert runs.run_here(store, bad).status == "failed"
    told = store.alerts(run_id=bad)
    assert [a.rule for a in told] == [NON_FINITE] and "diverged" in told[0].message  # not also "failed"
    assert runs.run_here(store, bad, resume=True).status == "failed"
    assert len(store.alerts(run_id=bad)) == 1  # a second attempt repeats nothing


@pytest.mark.slow
def test_a_rule_with_pause_pauses_the_run_and_says_so_in_its_log(home):
    store = Store(home)
    run_id = runs.create(store, "sequence", tiny(epochs=50, length=3000), alerts=["train_loss<1000:pause"])
    assert store.get(run_id).meta["alerts"] == ["train_loss<1000:pause"]
    runs.spawn(store, run_id)
    wait_for(lambda: store.get(run_id).status == "paused", timeout=60, what="the run paused by its rule")
    [alert] = store.alerts(run_id=run_id)
    assert alert.rule == "train_loss<1000:pause" and alert.action == PAUSE
    assert any("alert train_loss<1000:pause" in e.text for _, e in store.events(run_id) if hasattr(e, "text"))
    runs.stop(store, run_id)
    wait_for(lambda: store.get(run_id).status == "stopped", timeout=60, what="stopped")


def test_a_bad_rule_creates_no_run(home):
    store = Store(home)
    with pytest.raises(ParamError, match="alert 'loss>>1'"):
        runs.create(store, "sequence", tiny(), alerts=["loss>>1"])
    assert store.runs() == []


def test_a_failure_without_a_cause_is_told_as_failed(home):
    store = Store(home)
    run_id = runs.create(store, "sequence", tiny())
    from labdeck.engine.alerts import RunAlerts

    said: list[str] = []
    watcher = RunAlerts(store, run_id, [], said.append)
    watcher.ended("failed", "ValueError: boom")
    watcher.ended("failed", "ValueError: boom")
    assert [(a.rule, a.message) for a in store.alerts()] == [(FAILED, "ValueError: boom")] and said == []


def test_a_scripts_nan_loss_and_its_rule_are_told_from_the_writer_thread_and_the_rule_stops_it(home):
    import warnings

    import labdeck

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the NaN's own warning
        run = labdeck.init("mine", home=home, alerts=["acc>0.9:stop", "bad rule"], system=False)
    step, deadline = 0, time.monotonic() + 60
    while not run.should_stop():  # a loop that heeds a stop, as the dashboard's does
        run.log({"loss": math.nan if step == 150 else 1.0 / (step + 1), "acc": min(step / 200, 1.0)})
        step += 1
        assert time.monotonic() < deadline, "the rule's stop never reached the loop"
    run.finish()
    store = Store(home)
    told = {a.rule: a for a in store.alerts(run_id=run.id)}
    assert set(told) == {NON_FINITE, "acc>0.9:stop"} and store.get(run.id).status == "stopped"
    assert "step 150" in told[NON_FINITE].message and "acc = 0.905 at step 181" in told["acc>0.9:stop"].message


def test_a_script_that_raises_is_told_once_as_failed(home, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "boom.py"
    script.write_text("import labdeck\nrun = labdeck.init('boom', system=False)\n"
                      "for i in range(10):\n    run.log({'loss': 1.0})\nraise ValueError('boom')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "ValueError: boom" in done.stderr
    [alert] = Store(home).alerts()
    assert (alert.rule, alert.message) == (FAILED, "ValueError: boom")


# -- the watchdog process: deaths, stalls, delivery ---------------------------------------------------------------

class Receiver:
    """A local HTTP endpoint standing in for a phone's push service: apprise's json:// posts each alert to it."""

    def __init__(self):
        import http.server
        import json
        import threading

        self.got: list[dict] = []
        got = self.got

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def watched(home, monkeypatch):
    """A home whose watchdog stalls at 1.5 s and delivers to a local receiver; yields (store, receiver)."""
    from labdeck.engine import paths

    receiver = Receiver()
    paths.settings().parent.mkdir(parents=True, exist_ok=True)
    paths.settings().write_text(f'[alerts]\nstall_seconds = 1.5\nnotify = ["{receiver.url}"]\n')
    monkeypatch.setenv("LABDECK_WATCHDOG", "1")
    store = Store(home)
    yield store, receiver
    receiver.close()


def watching(home) -> bool:
    import fcntl

    with open(home / "watchdog.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


@pytest.mark.slow
def test_a_killed_run_is_told_within_two_seconds_once_and_delivered(watched, home):
    import os
    import signal

    from labdeck.engine.alerts import DIED

    store, receiver = watched
    run_id = runs.create(store, "sequence", tiny(epochs=200, length=3000))
    pid = runs.spawn(store, run_id)  # starts the home's watchdog
    wait_for(lambda: watching(home) and store.get(run_id).status == "running", timeout=60, what="watched, running")
    wait_for(lambda: store.progress_marks([run_id])[run_id][2] > 1, timeout=60, what="its first events")
    killed = time.time()
    os.kill(pid, signal.SIGKILL)
    [alert] = wait_for(lambda: store.alerts(run_id=run_id), timeout=30, what="the death told")
    assert alert.rule == DIED and f"pid {pid}" in alert.message
    assert alert.t - killed <= 2.0, f"told {alert.t - killed:.2f} s after the kill"
    print(f"death told {alert.t - killed:.2f} s after the kill")
    [sent] = wait_for(lambda: receiver.got, timeout=30, what="the alert delivered")
    assert DIED in sent["title"] and run_id in sent["title"] and f"pid {pid}" in sent["message"]
    assert wait_for(lambda: store.alerts(run_id=run_id)[0].delivered, what="its delivery recorded") == "sent"
    # another watchdog (as after a reboot or a second dashboard) tells nothing again
    from labdeck.engine.watchdog import Watchdog

    again = Watchdog(store, 1.5, ())
    again.look()
    again.look()
    assert len(store.alerts()) == 1
    # the other causes reach the phone the same way, each once: a run that diverges, one that finishes, a script
    # that raises
    diverged = runs.create(store, "sequence", tiny(epochs=2, lr=100, optimizer="sgd", clip=0))
    finished = runs.create(store, "sequence", tiny(epochs=1))
    assert runs.run_here(store, diverged).status == "failed" and runs.run_here(store, finished).status == "finished"
    script = home.parent / "boom.py"
    script.write_text("import labdeck\nrun = labdeck.init('boom', system=False)\nrun.log({'loss': 1.0})\n"
                      "raise ValueError('boom')\n")
    import subprocess
    import sys

    subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60)
    wait_for(lambda: len(receiver.got) == 4, timeout=30, what="every alert delivered")
    titles = sorted(sent["title"].split(":")[0] for sent in receiver.got)
    assert titles == ["labdeck died", "labdeck failed", "labdeck finished", "labdeck non-finite"]
    assert {a.delivered for a in store.alerts()} == {"sent"}


@pytest.mark.slow
def test_a_stopped_process_stalls_and_is_told_once(watched, home):
    import os
    import signal

    from labdeck.engine.alerts import STALLED

    store, receiver = watched
    run_id = runs.create(store, "sequence", tiny(epochs=200, length=3000))
    pid = runs.spawn(store, run_id)
    wait_for(lambda: watching(home) and store.progress_marks([run_id])[run_id][2] > 1, timeout=60,
             what="watched, training")
    os.kill(pid, signal.SIGSTOP)
    try:
        [alert] = wait_for(lambda: store.alerts(run_id=run_id), timeout=30, what="the stall told")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert alert.rule == STALLED and f"pid {pid}" in alert.message
    runs.stop(store, run_id)
    wait_for(lambda: store.get(run_id).status == "stopped", timeout=60, what="stopped")
    assert [a.rule for a in store.alerts(run_id=run_id)] == [STALLED]


def test_alerts_are_listed_and_followed_from_the_cli(home):
    import json
    import subprocess
    import sys

    from .conftest import cli

    store = Store(home)
    run_id = store.create_run("sequence", {})
    store.add_alert(run_id, "diverged", "train_loss diverged")
    listed = cli("alerts", "--json", check=True).stdout.splitlines()
    assert [json.loads(line)["rule"] for line in listed] == ["diverged"]
    assert "train_loss diverged" in cli("alerts", run_id, check=True).stdout
    assert cli("alerts", "nope").returncode == 2
    follow = subprocess.Popen([sys.executable, "-m", "labdeck", "alerts", "--follow"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert "diverged" in follow.stdout.readline()  # what was there
        store.add_alert(run_id, "finished", "test_mse 0.01")
        assert "finished" in follow.stdout.readline()  # and what comes
    finally:
        follow.kill()
        follow.wait()


def test_the_terminal_notification_cannot_be_ended_early_and_passes_through_tmux():
    from labdeck.engine.notify import terminal_notification

    plain = terminal_notification("labdeck died: run 1", "bad\x07text\x1b]0;x", tmux=False)
    assert plain.count("\x07") == 3 and plain.endswith("\a") and "\x1b]0" not in plain
    assert plain.startswith("\x1b]9;labdeck died: run 1: bad_text_]0,x\x07")
    wrapped = terminal_notification("t", "b", tmux=True)
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b]9;t: b\x07\x1b\\") and wrapped.endswith("\x1b\\\a")


async def test_the_dashboard_tells_new_alerts_marks_their_runs_and_lists_all(home):
    from labdeck.tui.app import LabdeckApp
    from labdeck.tui.screens.alerts import AlertsView
    from labdeck.tui.widgets.tabs import Tabs

    from .test_tui import until

    store = Store(home)
    old = store.create_run("sequence", {"hidden": 8})
    store.add_alert(old, FINISHED, "test_mse 0.01")  # from before the dashboard: listed, not told again
    app = LabdeckApp(home, system_stats=False)
    said: list[str] = []
    bells: list[int] = []
    notify = app.notify
    app.notify = lambda message, **kw: (said.append(str(message)), notify(message, **kw))[1]
    app.bell = lambda: bells.append(1)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.mounted and app.model.alerts, what="the old alert read")
        assert said == [] and bells == []
        new = store.create_run("sequence", {"hidden": 16})
        store.add_alert(new, "died", "its process (pid 4242) is gone")
        await until(pilot, lambda: any("died: run " + new in s for s in said), what="the new alert told")
        assert bells == [1]
        tabs = app.query_one(Tabs)
        assert tabs.marked == ["tab-sequence"] and str(tabs.get_tab("tab-sequence").label).endswith(" !")
        await pilot.press("2")  # seen: the mark goes
        await until(pilot, lambda: not tabs.marked, what="the tab's mark gone")
        assert str(tabs.get_tab("tab-sequence").label) == "2 Sequence"
        await pilot.press("4")  # the Runs tab marks the run

        def row(run_id: str) -> str:
            table = app.query_one("#runs-table")
            return next((t for t in (table.render_line(y).text for y in range(table.size.height)) if run_id in t), "")

        await until(pilot, lambda: "! queued" in row(new), what="the run's mark")
        assert "!" not in row(old)  # a finished run's alert is no trouble
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: isinstance(app.screen, AlertsView), what="the Alerts list")
        assert [a.rule for a in app.screen.alerts] == ["died", FINISHED]  # newest first
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AlertsView), what="closed")


@pytest.mark.slow
async def test_the_forms_alerts_row_on_keys_starts_a_run_with_its_rules(home):
    from labdeck.tui.app import LabdeckApp
    from labdeck.tui.experiment_pane import ExperimentPane
    from labdeck.tui.widgets.param_form import ParamForm

    from .test_keys import KEY, to_row
    from .test_tui import until

    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.mounted, what="mounted")
        await pilot.press(KEY["sequence"])
        form = app.query_one("#pane-sequence", ExperimentPane).query_one(ParamForm)
        await to_row(pilot, form, "alerts")
        await pilot.press("enter", *"loss>>1", "enter")  # a rule that does not parse: said under the field
        await pilot.press("s")
        pane = app.query_one("#pane-sequence")
        await until(pilot, lambda: "fix alerts" in str(pane.query_one(".form-error").render()), what="refused")
        assert "'>1' is not a number" in str(pane.query_one(".param-error").render())  # said under the field
        assert Store(home).runs() == []
        await to_row(pilot, form, "alerts")
        await pilot.press("enter", *["backspace"] * 7, *"train_loss<1000:pause, test_mse<0", "enter")
        await pilot.press("s")
        store = Store(home)
        [info] = await until(pilot, store.runs, what="the run")
        assert info.meta["alerts"] == ["train_loss<1000:pause", "test_mse<0"]
        # the run checks them (it may finish before its pause lands: test_a_rule_with_pause... tests the pause)
        await until(pilot, lambda: "train_loss<1000:pause" in {a.rule for a in store.alerts(run_id=info.id)},
                    what="its rule told")
        runs.stop(store, info.id)


def test_the_lightning_logger_takes_rules_and_a_stop_reaches_its_callback(home):
    pytest.importorskip("lightning")
    from labdeck.lightning import LabdeckLogger

    logger = LabdeckLogger("lit", home=str(home), alerts=["val_loss>1:stop"])
    logger.log_metrics({"val_loss": 0.5}, step=0)
    logger.log_metrics({"val_loss": 2.0}, step=1)
    deadline = time.monotonic() + 30
    while not logger.should_stop():  # the writer thread writes, the rule requests the stop, the run reads it
        assert time.monotonic() < deadline, "the rule's stop never reached the logger"
        logger.log_metrics({"val_loss": 2.0}, step=2)
    logger.finalize("success")
    [alert] = Store(home).alerts()  # and not "finished": the fit was stopped
    assert alert.rule == "val_loss>1:stop" and "at step 1" in alert.message
    assert Store(home).runs()[0].status == "stopped"


def test_an_evaluation_loss_rising_evaluation_after_evaluation_diverges_and_a_target_can_plateau():
    from labdeck.engine.alerts import PLATEAU

    watch = Watch(plateau=("test_accuracy", "max", 3))
    healthy = [2.0, 1.5, 1.2, 1.25, 1.1, 1.15, 1.0, 1.05, 1.1, 1.0]  # noisy, never rising for long: nothing
    assert [f for i, v in enumerate(healthy) for f in watch.evaluation("test_loss", i, v)] == []
    rising = [1.1, 1.2, 1.3, 1.45, 1.6]  # five rises in a row, 1.6x its best
    fired = [f for i, v in enumerate(rising) for f in watch.evaluation("test_loss", 10 + i, v)]
    assert [f.rule for f in fired] == [DIVERGED] and "rose at each of the last 5" in fired[0].message
    accuracy = [0.5, 0.7, 0.8, 0.8, 0.8002, 0.79]  # no better by 0.1% of 0.8 in 3 evaluations
    fired = [f for i, v in enumerate(accuracy) for f in watch.evaluation("test_accuracy", i, v)]
    assert [f.rule for f in fired] == [PLATEAU] and "not improved in 3 evaluations" in fired[0].message
    assert Watch().evaluation("test_accuracy", 1, 0.5) == []  # plateau: off by default


def test_the_settings_file_sets_the_plateau_and_refuses_a_bad_one(tmp_path):
    from labdeck.engine import settings

    path = tmp_path / "config.toml"
    path.write_text("[alerts]\nplateau = 10\n")
    assert settings.load(path).plateau == 10
    path.write_text("[alerts]\nplateau = 1\n")
    got = settings.load(path)
    assert got.plateau is None and "alerts.plateau must be a number of evaluations, 2 or more" in got.problem


@pytest.mark.slow
def test_a_run_that_learns_nothing_plateaus_when_the_settings_ask(home):
    from labdeck.engine import paths
    from labdeck.engine.alerts import PLATEAU

    paths.settings().parent.mkdir(parents=True, exist_ok=True)
    paths.settings().write_text("[alerts]\nplateau = 2\n")
    store = Store(home)
    run_id = runs.create(store, "sequence", tiny(epochs=6, lr=1e-6, optimizer="sgd"), alerts=["test_mse>0.01@14"])
    assert runs.run_here(store, run_id).status == "finished"
    told = store.alerts(run_id=run_id)  # a rule on an evaluation metric (from the second epoch, step 14) too
    assert [a.rule for a in told] == ["test_mse>0.01@14", PLATEAU, FINISHED] and "at step 14" in told[0].message


def test_a_watchdog_ends_when_what_is_left_is_a_run_that_never_got_a_process(home):
    """A run recorded but never started (its start failed) has no process to die or stall: the watchdog does not
    wait for it for ever. A sweep's trial waiting for its runner does keep it, as a runner may still die."""
    import json
    import os

    from labdeck.engine import sweep
    from labdeck.engine.procs import process_start_time
    from labdeck.engine.watchdog import Watchdog

    store = Store(home)
    orphan = runs.create(store, "sequence", tiny())
    dog = Watchdog(store, 60.0, ())
    assert store.get(orphan).status == "queued" and not dog.look()
    sweep_id = sweep.create(store, "sequence", [tiny(hidden=4)])
    (home / f"{sweep_id}.runner").write_text(json.dumps([os.getpid(), process_start_time(os.getpid())]))
    assert dog.look()  # its trial waits for a live runner
