"""Runs on another machine, through a real OpenSSH server on 127.0.0.1 whose "remote" labdeck serves a second
home: listing, following live, controls, reconnects without gap or duplicate, and each failure as a status."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psutil
import pytest

from labdeck.engine import Store, hosts, remote, runs, wire
from labdeck.engine.events import EpochMetrics, EpochTable, MetricSeries, RunEnded
from labdeck.engine.feed import AlertsUpdate, EventsUpdate, RunsUpdate
from labdeck.engine.status import ACTIVE, Status

from . import sshd
from .conftest import cli, kill_processes_of, tiny, wait_for

# Not an xdist group: each test worker starts its own server (module scope), and the tests spread over both.
pytestmark = pytest.mark.skipif(not sshd.available(), reason="OpenSSH's server is not installed (.ci/run installs "
                                                             "openssh-server)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One sshd for the module; its logins see this test session's labdeck folders and thread count."""
    env = {k: os.environ[k] for k in ("LABDECK_CONFIG", "LABDECK_STATE", "LABDECK_DATA", "XDG_CACHE_HOME",
                                      "OMP_NUM_THREADS", "LABDECK_WATCHDOG") if k in os.environ}
    env["LABDECK_CACHE_BUSY_PROBES"] = "1"
    srv = sshd.start(tmp_path_factory.mktemp("sshd"), env)
    yield srv
    srv.stop()


@pytest.fixture
def far(server, tmp_path, monkeypatch):
    """The "remote" host's home, reached as the host ``box`` through the server."""
    monkeypatch.setenv("LABDECK_SSH", server.ssh)
    home = tmp_path / "far"
    yield hosts.host("labdeck-test", "box", sshd.LABDECK, str(home))
    kill_processes_of(home)


class Viewer:
    """What a viewer gets from a link, kept in order, thread-safe."""

    def __init__(self, host: hosts.Host):
        self.lock = threading.Lock()
        self.updates: list[object] = []
        self.statuses: list[remote.HostStatus] = []
        self.link = remote.Link(host, self._update, self.statuses.append)

    def _update(self, update: object) -> None:
        with self.lock:
            self.updates.append(update)

    def runs(self) -> dict[str, object]:
        with self.lock:
            out: dict[str, object] = {}
            for u in self.updates:
                if isinstance(u, RunsUpdate):
                    if u.full:
                        out = {}
                    out.update({i.id: i for i in u.changed})
                    for r in u.removed:
                        out.pop(r, None)
            return out

    def events(self, run_id: str) -> list[EventsUpdate]:
        with self.lock:
            return [u for u in self.updates if isinstance(u, EventsUpdate) and u.run_id == run_id]


def start_run(link: remote.Link, **over) -> str:
    return link.call("start", experiment="sequence", values=tiny(**over))["run_id"]


def test_a_hosts_runs_are_listed_followed_live_and_controlled(far):
    viewer = Viewer(far)
    link = viewer.link.start()
    try:
        assert link.wait_live(30).state == remote.State.LIVE, link.status
        done = start_run(link)
        wait_for(lambda: f"box:{done}" in viewer.runs(), 30, what="the started run listed as box:RUN")
        info = viewer.runs()[f"box:{done}"]
        assert info.where == "box" and not info.local and info.experiment == "sequence"
        link.follow(done)
        wait_for(lambda: any(isinstance(e, RunEnded) for u in viewer.events(f"box:{done}") for e in u.events), 120,
                 what="the run's end, followed live")
        got = [e for u in viewer.events(f"box:{done}") for e in u.events]
        assert all(e.run_id == f"box:{done}" for e in got)
        epochs = [e.epoch for e in got if isinstance(e, EpochMetrics)]
        assert epochs == [1, 2] or isinstance(got[0], EpochTable)
        assert Store(far.home).get(done).status == Status.FINISHED

        slow = start_run(link, epochs=100_000)  # trains until stopped below, however slow the machine
        wait_for(lambda: Store(far.home).get(slow).status == Status.RUNNING, 60, what="the slow run training")
        assert link.call("pause", run=slow) == slow
        wait_for(lambda: viewer.runs()[f"box:{slow}"].status == Status.PAUSED, 30, what="paused, as listed")
        link.call("resume", run=slow)
        wait_for(lambda: viewer.runs()[f"box:{slow}"].status == Status.RUNNING, 60, what="running again")
        link.call("stop", run=slow)
        wait_for(lambda: viewer.runs()[f"box:{slow}"].status == Status.STOPPED, 60, what="stopped, as listed")
        with pytest.raises(remote.LabdeckError, match=r"box: .*nope"):
            link.call("pause", run="nope")
        shown = link.call("cli", argv=["show", done])
        assert shown["code"] == 0 and done in shown["stdout"]
    finally:
        viewer.link.close()
    assert viewer.statuses[-1].state == remote.State.CLOSED


def _serves(home: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        words = proc.info["cmdline"] or []
        if "serve" in words and str(home) in words:
            found.append(proc)
    return found


def test_nothing_of_labdeck_runs_on_the_host_after_the_link_closes(far):
    link = remote.Link(far, lambda u: None).start()
    assert link.wait_live(30).state == remote.State.LIVE
    assert len(_serves(Path(far.home))) == 1
    link.close()
    wait_for(lambda: not _serves(Path(far.home)), 10, what="the host's serve process gone")


SCRIPT = textwrap.dedent("""
    import time, labdeck
    run = labdeck.init(name="wave")
    for step in range(1500):
        labdeck.log({"loss": 1.0 / (step + 1), "acc": step / 1500}, step=step)
        time.sleep(0.003)
    labdeck.finish()
""")


def test_a_dropped_link_reconnects_with_no_gap_and_no_duplicate(far, tmp_path):
    viewer = Viewer(far)
    link = viewer.link.start()
    try:
        assert link.wait_live(30).state == remote.State.LIVE
        lab = start_run(link, epochs=20)
        env = dict(os.environ, LABDECK_HOME=far.home)
        script = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env)
        store = Store(far.home)
        wait_for(lambda: len(store.runs()) == 2, 60, what="the script's run")
        wave = next(i.id for i in store.runs() if i.id != lab)
        link.follow(lab)
        link.follow(wave)
        kills = 0
        while kills < 3:  # the transport dies mid-stream, as a dropped network would end it
            before = len(viewer.updates)
            wait_for(lambda before=before: len(viewer.updates) > before + 2
                     and link.status.state == remote.State.LIVE, 60, what="updates flowing on the link")
            link.kill_transport()
            kills += 1
        assert script.wait(120) == 0
        wait_for(lambda: store.get(lab).status not in ACTIVE, 120, what="the lab run's end")
        wait_for(lambda: any(isinstance(e, RunEnded) for u in viewer.events(f"box:{lab}") for e in u.events), 30,
                 what="the lab run's end, through the link")
        wait_for(lambda: (updates := viewer.events(f"box:{wave}")) and
                 sum(updates[-1].counts.values()) == store.points_counts([wave])[wave], 30,
                 what="the script's last points, through the link")
    finally:
        link.close()
    assert link.sessions >= 4  # three reconnects

    # the lab run: after its history, exactly the store's events, in order
    updates = viewer.events(f"box:{lab}")
    assert updates[0].reset and not any(u.reset for u in updates[1:])
    after = [e for u in updates[1:] for e in u.events]
    stored = [e for _, e in store.events(lab, after=updates[0].cursor)]
    assert [(type(e).__name__, e.__dict__ | {"run_id": ""}) for e in after] == \
           [(type(e).__name__, e.__dict__ | {"run_id": ""}) for e in stored]
    assert sum(isinstance(e, EpochMetrics) for e in after) >= 5

    # the script's run: after its first (decimated) series, every point once
    series = [e for u in viewer.events(f"box:{wave}") for e in u.events if isinstance(e, MetricSeries)]
    assert not series[0].append and all(s.append for s in series[1:])
    for key in ("loss", "acc"):
        steps = [x for s in series[1:] for x in s.series.get(key, ((), ()))[0]]
        skipped = series[0].counts.get(key, 0)
        want, _ = store.points(wave, key, after=skipped)
        assert steps == [float(x) for x in want], key
        assert skipped + len(steps) == 1500


@pytest.mark.parametrize("case", ["unreachable", "refused", "missing", "older", "newer"])
def test_each_failure_is_a_status_with_what_to_do(server, monkeypatch, tmp_path, case):
    monkeypatch.setenv("LABDECK_SSH", server.ssh)
    fake = tmp_path / "fake-labdeck"
    if case == "older":  # a labdeck from before serve existed
        fake.write_text("#!/bin/sh\necho \"labdeck: argument command: invalid choice: 'serve'\" >&2\nexit 2\n")
    else:  # a labdeck speaking another protocol
        fake.write_text("#!/bin/sh\necho '{\"t\":\"hello\",\"protocol\":99,\"version\":\"9.0\"}'\nsleep 5\n")
    fake.chmod(0o755)
    host = {"unreachable": hosts.host("labdeck-nowhere"), "refused": hosts.host("labdeck-nokey"),
            "missing": hosts.host("labdeck-test", "box", "/nowhere/bin/labdeck"),
            "older": hosts.host("labdeck-test", "box", str(fake)),
            "newer": hosts.host("labdeck-test", "box", str(fake))}[case]
    link = remote.Link(host, lambda u: None).start()
    try:
        status = link.wait_live(30)
    finally:
        link.close()
    state, words = {"unreachable": (remote.State.UNREACHABLE, "Connection refused"),
                    "refused": (remote.State.REFUSED, "never asks for a password"),
                    "missing": (remote.State.MISSING, "install labdeck on it"),
                    "older": (remote.State.VERSION, "without 'serve'"),
                    "newer": (remote.State.VERSION, "labdeck 9.0 (protocol 99)")}[case]
    assert status.state == state and words in status.detail, status
    assert "\n" not in status.detail
    with pytest.raises(remote.HostUnavailable):
        link.call("gpus", timeout=1)


def test_a_key_restricted_to_the_serve_command_works(tmp_path, monkeypatch):
    """An authorized key with command=: the host runs its own fixed serve line whatever the client asks."""
    home = tmp_path / "far"
    env = {k: os.environ[k] for k in ("LABDECK_CONFIG", "LABDECK_STATE", "XDG_CACHE_HOME", "LABDECK_WATCHDOG")
           if k in os.environ}
    srv = sshd.start(tmp_path / "sshd", env, forced_command=f"{sshd.LABDECK} serve --stdio --home {home}")
    try:
        monkeypatch.setenv("LABDECK_SSH", srv.ssh)
        Store(home).create_run("sequence", {"epochs": 1})
        viewer = Viewer(hosts.host("labdeck-test", "box", "whatever-the-client-says"))
        viewer.link.start()
        try:
            assert viewer.link.wait_live(30).state == remote.State.LIVE
            wait_for(lambda: len(viewer.runs()) == 1, 10, what="the host's run listed")
        finally:
            viewer.link.close()
    finally:
        srv.stop()
        kill_processes_of(home)


def test_events_runs_and_alerts_travel_whole(home):
    store = Store(home)
    run_id = store.create_run("sequence", {"epochs": 1})
    store.add_alert(run_id, "nan", "loss is nan")
    info = store.get(run_id)
    nan = float("nan")
    events = [EpochMetrics(run_id, 1, 2, {"loss": nan, "mse": float("inf")}, 0.1, 1.0, 0.5, 10),
              EpochTable(run_id, (1, 2), (5.0, 10.0), {"loss": (1.0, nan)}),
              MetricSeries(run_id, {"loss": ((1.0, 2.0), (0.5, 0.25))}, {"loss": 2}, append=True)]
    back = wire.update_in(wire.loads(wire.dumps(wire.update_out(EventsUpdate(run_id, events, 7)))), "gpu1")
    assert back.run_id == f"gpu1:{run_id}" and back.cursor == 7
    assert back.events[0].metrics["mse"] == float("inf") and back.events[0].metrics["loss"] != 0
    assert back.events[1].epochs == (1, 2)
    assert back.events[2] == MetricSeries(f"gpu1:{run_id}", events[2].series, events[2].counts, True)
    runs = wire.update_in(wire.loads(wire.dumps(wire.update_out(RunsUpdate([info], ["x"], True)))), "gpu1")
    assert runs.changed[0].id == f"gpu1:{run_id}" and runs.changed[0].where == "gpu1" and runs.removed == ["gpu1:x"]
    alerts = wire.update_in(wire.loads(wire.dumps(wire.update_out(AlertsUpdate(store.alerts(), True)))), "gpu1")
    assert alerts.alerts[0].run_id == f"gpu1:{run_id}" and alerts.alerts[0].rule == "nan"
    with pytest.raises(wire.WireError):
        wire.loads("{not json")


def test_hosts_come_from_the_settings_and_the_command_line():
    configured, wrong = hosts.from_settings({
        "gpu1": {"ssh": "me@gpu1.lab", "command": "~/venv/bin/labdeck", "home": "/scratch/me"},
        "gpu2": {}, "bad": "x", "odd": {"port": 22}, "-x": {}})
    assert configured["gpu1"] == hosts.Host("gpu1", "me@gpu1.lab", ("~/venv/bin/labdeck",), "/scratch/me")
    assert configured["gpu2"].destination == "gpu2" and configured["gpu2"].command == ("labdeck",)
    assert len(wrong) == 3 and any("unknown key 'port'" in w for w in wrong)
    picked = hosts.chosen(["gpu1", "me@gpu3", "ssh://me@gpu4:2222"], configured)
    assert [h.name for h in picked] == ["gpu1", "gpu3", "gpu4"]
    assert configured["gpu1"].remote_command() == ["~/venv/bin/labdeck", "serve", "--stdio", "--home", "/scratch/me"]
    with pytest.raises(hosts.HostError):
        hosts.host("-oProxyCommand=evil")
    with pytest.raises(hosts.HostError):
        hosts.host("gpu 1")
    assert hosts.split("gpu1:260101-120000-ab12") == ("gpu1", "260101-120000-ab12")
    assert hosts.split("260101-120000-ab12") == ("", "260101-120000-ab12")
    argv = remote.ssh_argv(configured["gpu1"])
    assert argv[-2:] == ["me@gpu1.lab", "~/venv/bin/labdeck serve --stdio --home /scratch/me"]
    spaced = hosts.host("gpu1", command=["~/my venv/bin/labdeck"], home="/data/my runs")
    assert remote.ssh_argv(spaced)[-1] == "~/'my venv/bin/labdeck' serve --stdio --home '/data/my runs'"
    assert "BatchMode=yes" in argv and argv[-3] == "--"


def test_the_cli_lists_shows_watches_and_controls_a_hosts_runs(far, home, tmp_path):
    config = Path(os.environ["LABDECK_CONFIG"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(f'[hosts.box]\nssh = "labdeck-test"\ncommand = "{sshd.LABDECK}"\n'
                                        f'home = "{far.home}"\n')
    store = Store(far.home)
    done = runs.create(store, "sequence", tiny())
    listed = cli("runs", "--host", "box")
    assert listed.returncode == 0 and f"box:{done}" in listed.stdout, listed
    as_json = json.loads(cli("runs", "--host", "box", "--json").stdout)
    assert [(r["run_id"], r["host"]) for r in as_json] == [(f"box:{done}", "box")]
    assert cli("show", f"box:{done}").stdout.startswith(f"run {done}")
    assert cli("pause", f"box:{done}").returncode == 1  # queued, never started: the host's one line
    slow = runs.create(store, "sequence", tiny(epochs=100_000))  # trains until stopped below
    runs.spawn(store, slow)
    wait_for(lambda: store.get(slow).status == Status.RUNNING, 60, what="the host's run training")
    assert cli("stop", f"box:{slow}", check=True).stdout.strip() == f"stop: box:{slow}"
    watched = cli("watch", f"box:{slow}")
    assert watched.stdout.strip().endswith(f"run box:{slow} is stopped"), watched
    assert cli("report", f"box:{slow}", "--out", str(tmp_path / "rep"), check=True)
    assert "## " in (tmp_path / "rep" / "report.md").read_text()
    down = cli("runs", "--host", "labdeck-nowhere")
    assert down.returncode == 1 and "Connection refused" in down.stderr and down.stderr.count("\n") == 1
    assert cli("runs", "--host", "-oProxyCommand=x").returncode == 2
    missing = cli("stop", "box:nope")  # as it would be there: bad input, one line, exit 2
    assert missing.returncode == 2 and missing.stderr == "labdeck: box: no run 'nope' in " + str(far.home) + "\n"


async def test_the_dashboard_shows_and_controls_a_hosts_runs_beside_its_own(far, home):
    from labdeck.tui.app import LabdeckApp
    from labdeck.tui.widgets.param_form import ParamForm
    from labdeck.tui.widgets.status_bar import StatusBar
    from labdeck.tui.widgets.virtual_table import VirtualTable

    from .test_tui import RUNS_KEY, SEQUENCE_KEY, until

    store = Store(far.home)
    # trains until x stops it (300 tiny epochs took 7 s here, and a loaded machine's reconnects outlasted them), at
    # a few epochs a second: a tiny run's 40 a second flood the link and the app with events on a loaded machine
    slow = runs.create(store, "sequence", tiny(epochs=100_000, length=3000))
    runs.spawn(store, slow)
    mine = runs.create(Store(home), "sequence", tiny())
    nowhere = hosts.host("labdeck-nowhere")
    app = LabdeckApp(home, system_stats=False, hosts=[far, nowhere])
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.mounted and f"box:{slow}" in app.model.infos, 60, what="the host's run listed")
        await until(pilot, lambda: "unreachable" in app.query_one(StatusBar).shown, 30, what="the bad host's line")
        await pilot.press(RUNS_KEY)
        table = app.query_one("#runs-table", VirtualTable)
        await until(pilot, lambda: table.row_count == 2, what="both machines' runs in the table")
        assert set(table.keys) == {f"box:{slow}", mine}
        assert [str(c) for c in table.cells_of(f"box:{slow}")[1:3]] == [slow, "box"]
        assert [str(c) for c in table.cells_of(mine)[1:3]] == [mine, "·"]
        await until(pilot, lambda: store.get(slow).status == Status.RUNNING, 60, what="the host's run training")
        table.move_to(f"box:{slow}")
        await pilot.press("p")
        await until(pilot, lambda: store.get(slow).status == Status.PAUSED, 30, what="paused on the host by p")
        await until(pilot, lambda: app.model.infos[f"box:{slow}"].status == Status.PAUSED, 30, what="listed paused")
        await pilot.press("r")
        await until(pilot, lambda: store.get(slow).status == Status.RUNNING, 60, what="resumed by r")
        await pilot.press("enter")  # opens in its tab, followed through the link
        await until(pilot, lambda: (s := app.model.states.get(f"box:{slow}")) and s.epochs, 60,
                    what="the host's run's epochs in its tab")
        state = app.model.states[f"box:{slow}"]
        for _ in range(2):  # the link dies under the open tab: the curves go on, no epoch lost or twice
            before, sessions = state.latest_epoch, app.links["box"].link.sessions
            app.links["box"].link.kill_transport()
            try:
                await until(pilot, lambda before=before, sessions=sessions: app.links["box"].link.sessions > sessions
                            and state.latest_epoch > before + 1, 60, what="epochs arriving after a reconnect")
            except AssertionError as exc:  # what the link, the host's store and the tab held then
                link = app.links["box"].link
                raise AssertionError(f"{exc}: sessions {sessions} -> {link.sessions}, {link.status}, tab at epoch "
                                     f"{state.latest_epoch} (from {before}), host's run {store.get(slow).status} "
                                     f"at epoch {store.get(slow).epochs}") from None
        await pilot.press("x")
        await until(pilot, lambda: store.get(slow).status == Status.STOPPED, 60, what="stopped by x")
        await until(pilot, lambda: state.ended is not None, 30, what="the end through the link")
        assert list(state.epochs) == [int(e) for e in store.history(slow)["epoch"]]
        await pilot.press("R")  # written on the host, copied back under reports/HOST/RUN
        copied = home / "reports" / "box" / slow / "report.md"
        await until(pilot, copied.exists, 60, what="the host's report copied back")
        assert (Path(far.home) / "reports" / slow / "report.md").exists() and "## " in copied.read_text()
        await until(pilot, lambda: type(app.screen).__name__ == "ReportDone", what="the report shown")
        await pilot.press("escape")

        await pilot.press(SEQUENCE_KEY)
        form = app.query_one("#form-sequence", ParamForm)
        for key, value in tiny().items():
            form.set_value(key, value)
        form.set_value("host", "box")
        await pilot.press("s")
        await until(pilot, lambda: len(store.runs()) == 2, 30, what="a run started on the host from the form")
        new = next(i.id for i in store.runs() if i.id != slow)
        await until(pilot, lambda: f"box:{new}" in app.model.infos, 30, what="the new run listed")
        assert not Store(home).get(mine).where and len(Store(home).runs()) == 1

        await pilot.press("escape")
        app.action_new_sweep()  # on the host the form names: its trials train there
        grid = await until(pilot, lambda: type(app.screen).__name__ == "NewSweep" and app.screen.query("#sweep-cancel")
                           and app.focused is app.screen.query_one("#sweep-grid") and app.focused, what="dialog")
        grid.value = "cell=rnn,gru"
        await pilot.press("enter")
        await until(pilot, lambda: len({i.sweep for i in store.runs() if i.sweep}) == 1, 30,
                    what="a sweep created on the host")
        swept = next(i.sweep for i in store.runs() if i.sweep)
        await until(pilot, lambda: f"box:{swept}" in app.model.sweeps, 30, what="the host's sweep listed")
        await until(pilot, lambda: app.screen is app.screen_stack[0], what="the dialog closed")
        app.query_one("#pane-sweeps").action_control("stop")
        await until(pilot, lambda: all(i.status not in ACTIVE for i in store.runs() if i.sweep), 60,
                    what="the host's sweep stopped")
        assert len(Store(home).runs()) == 1

        await pilot.press("g")  # the GPU view: this machine's and the host's (neither has one here)
        from textual.widgets import DataTable

        gpu_table = await until(pilot, lambda: type(app.screen).__name__ == "GpuView"
                                and (t := app.screen.query_one(DataTable)).row_count and t, 30, what="GPU rows")
        await until(pilot, lambda: "box" in [str(gpu_table.get_row_at(i)[0]) for i in range(gpu_table.row_count)],
                    30, what="the host's row in the GPU view")
        await pilot.press("escape")
        await pilot.press("H")  # the Hosts view: each link's state, its labdeck, when last heard, what to do
        hosts_table = await until(pilot, lambda: type(app.screen).__name__ == "HostsView"
                                  and (t := app.screen.query_one(DataTable)).row_count == 2 and t, what="hosts")
        rows = {str(hosts_table.get_row(n)[0]): [str(c) for c in hosts_table.get_row(n)] for n in ("box", nowhere.name)}
        assert rows["box"][1:4] == ["live", "0.1.0", "now"] and rows["box"][4] == "4"  # slow, new and two trials
        assert rows[nowhere.name][1] == "unreachable" and "Connection refused" in rows[nowhere.name][5]
        await pilot.press("escape")
    app.links.close()
    wait_for(lambda: not _serves(Path(far.home)), 10, what="no serve left on the host after the dashboard quit")


async def test_labdeck_host_run_opens_the_dashboard_on_a_hosts_run(far, home):
    from labdeck.tui.app import LabdeckApp
    from labdeck.tui.experiment_pane import ExperimentPane

    from .test_tui import until

    run_id = runs.create(Store(far.home), "sequence", tiny(hidden="12"))
    app = LabdeckApp(home, system_stats=False, hosts=[far], open_run=(f"box:{run_id}", "runs"))  # as the launcher
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.active_tab() == "sequence", 60, what="the host's run's tab")
        pane = app.query_one("#pane-sequence", ExperimentPane)
        await until(pilot, lambda: pane.run_id == f"box:{run_id}", 30, what="the host's run followed there")
        assert pane.form.raw["hidden"] == "12" and pane.form.raw["host"] == "box"  # its values, and where it is
    app.links.close()


def test_a_link_that_stalls_is_said_and_opened_again(far, monkeypatch):
    """The host's serve stops answering (SIGSTOP: a hung machine, a dead route that TCP has not noticed): after
    STALL_SECONDS without a line the link says so, and a new one takes over."""
    import signal

    monkeypatch.setattr(remote, "STALL_SECONDS", 2.0)
    statuses: list[remote.HostStatus] = []
    link = remote.Link(far, lambda u: None, statuses.append).start()
    try:
        assert link.wait_live(30).state == remote.State.LIVE
        (serve,) = _serves(Path(far.home))
        serve.send_signal(signal.SIGSTOP)
        wait_for(lambda: any(s.state == remote.State.STALLED for s in statuses), 15, what="the stall said")
        stalled = next(s for s in statuses if s.state == remote.State.STALLED)
        assert "nothing for" in stalled.detail and "reconnecting" in stalled.detail
        wait_for(lambda: link.status.state == remote.State.LIVE and link.sessions >= 2, 30, what="a new link live")
        serve.send_signal(signal.SIGCONT)
    finally:
        link.close()
    wait_for(lambda: not _serves(Path(far.home)), 10, what="the stalled serve gone too")


def test_a_down_hosts_rows_say_how_old_they_are():
    from labdeck.tui.runs_pane import host_cell

    statuses = {"gpu1": remote.HostStatus("gpu1", remote.State.LIVE, "", 100.0),
                "gpu2": remote.HostStatus("gpu2", remote.State.UNREACHABLE, "gpu2: the link dropped", 100.0),
                "gpu3": remote.HostStatus("gpu3", remote.State.REFUSED, "gpu3: ssh login refused")}
    assert [str(host_cell(h, statuses, now=112.4)) for h in ("", "gpu1", "gpu2", "gpu3")] == [
        "·", "gpu1", "gpu2 12s", "gpu3 ?"]
    assert str(host_cell("gpu2", statuses, now=100.0 + 7200)) == "gpu2 2h"


async def test_a_hosts_language_run_generates_there_and_streams_its_text_back(far, home, tmp_path):
    from textual.widgets import Input, Static, TextArea

    from labdeck.engine import generator
    from labdeck.tui.app import LabdeckApp

    from .test_language import TEXT
    from .test_language import tiny as tiny_language
    from .test_tui import until

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT)
    store = Store(far.home)
    run_id = runs.create(store, "language", tiny_language(corpus))
    assert runs.run_here(store, run_id).status == Status.FINISHED  # trained on the host, its checkpoint there only
    app = LabdeckApp(home, system_stats=False, hosts=[far])
    async with app.run_test(size=(120, 40)) as pilot:
        await open_results_of(pilot, "language", f"box:{run_id}")
        prompt = await until(pilot, lambda: (q := app.query("#lang-prompt")) and q.first(), what="results mounted")
        app.query_one("#lang-tokens", Input).value = "3000"
        options = app.query_one("LanguageResults").options()
        prompt.focus()
        await pilot.press(*"the ", "enter")
        output = app.query_one("#lang-output", TextArea)
        status = app.query_one("#lang-status", Static)
        await until(pilot, lambda: len(output.text) > len("the "), what="the first part")
        await until(pilot, lambda: "3000 tokens at" in str(status.render()), timeout=120, what="the text done")
        assert "on box" in str(status.render())
        here = generator(store, run_id).stream("the ", options["tokens"], options["temperature"], options["top_k"],
                                                options["top_p"], options["seed"])
        assert output.text == "the " + "".join(here)  # the host's model, the same seed: the same text, whole
        parts: list[str] = []
        done = await asyncio.to_thread(app.links["box"].call, "generate", on_part=parts.append, run=run_id,
                                       prompt="the ", **options)
        assert parts and "".join(parts) + done["text"] == output.text[len("the "):]  # it came in parts
        taken: list[str] = []

        def first_part_only(text: str) -> bool:  # as a prompt replaced by a new one: the host stops at once
            taken.append(text)
            return False

        many = {**options, "tokens": 10**6}  # about 5 minutes of text here
        done = await asyncio.to_thread(app.links["box"].call, "generate", timeout=30, on_part=first_part_only,
                                       run=run_id, prompt="the ", **many)
        # the parts already on their way when the cancel reaches the host still come; the text ends there
        assert taken and done["tokens"] < 10**5
        app.query_one("#lang-top_p", Input).value = "7"
        prompt.focus()
        await pilot.press("enter")
        await until(pilot, lambda: str(status.render()).startswith("box: ") and "top" in str(status.render()),
                    what="the host's one line for a bad option")
        assert app.is_running


async def test_a_hosts_vision_run_classifies_an_image_from_this_machine(far, home, tmp_path):
    from PIL import Image
    from textual.widgets import Input, Static

    from labdeck.engine import predict_with
    from labdeck.engine.experiments.vision.shapes import generate
    from labdeck.tui.app import LabdeckApp

    from .test_tui import until
    from .test_vision import tiny as tiny_vision

    store = Store(far.home)
    run_id = runs.create(store, "vision", tiny_vision(epochs=1))
    assert runs.run_here(store, run_id).status == Status.FINISHED  # its checkpoint on the host only
    images, _ = generate(1, 32, seed=5)
    path = tmp_path / "mine.png"  # on this machine only
    Image.fromarray(images[0]).save(path)
    app = LabdeckApp(home, system_stats=False, hosts=[far])
    async with app.run_test(size=(120, 40)) as pilot:
        await open_results_of(pilot, "vision", f"box:{run_id}")
        box = await until(pilot, lambda: (q := app.query("#vision-path")) and q.first(Input), what="results mounted")
        said = app.query_one("#vision-predicted", Static)
        bad = tmp_path / "bad.jpg"
        bad.write_text("not an image")
        for asked, expected in ((str(path), f"{path} (on box): "), (str(tmp_path / "nope.png"), "nope.png: "),
                                (str(bad), "box: ")):
            box.value = asked
            box.focus()
            await pilot.press("enter")
            await until(pilot, lambda expected=expected: expected in str(said.render()), 60, what=expected)
        assert "not a readable image" in str(said.render()) and "\n" not in str(said.render())
        top = predict_with(store, run_id, [str(path)])["images"][0]["top"]  # the host's model on the same image
        box.value = str(path)
        await pilot.press("enter")
        shown = ", ".join(f"{t['class']} {t['probability']:.1%}" for t in top)
        await until(pilot, lambda: str(said.render()) == f"{path} (on box): {shown}", 60, what="the host's classes")


async def open_results_of(pilot, experiment: str, run_id: str):
    """The experiment's tab on a host's run (``box:RUN``), its Results view mounted: the tab's pane."""
    from labdeck.engine import registry
    from labdeck.tui.experiment_pane import ExperimentPane

    from .test_tui import until

    app = pilot.app
    await until(pilot, lambda: app.mounted and run_id in app.model.infos, 60, what="the host's run listed")
    await pilot.press(str(registry.names().index(experiment) + 1))
    pane = app.query_one(f"#pane-{experiment}", ExperimentPane)
    await until(pilot, lambda: pane.run_id == run_id, what="the host's run followed")
    pane.query_one("TabbedContent").active = f"results-{experiment}"
    return pane
