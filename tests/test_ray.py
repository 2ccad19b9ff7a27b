"""Sweeps on Ray Tune (``--backend ray``) against a local Ray instance: ASHA, the store, stop and resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labdeck.engine import sweep
from labdeck.engine.status import ACTIVE
from labdeck.engine.store import Store

from .conftest import cli, kill_processes_of, set_args, wait_for

# one worker runs them all: two local Ray instances at once would share this machine's 2 cores
pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]

# trials long enough (about 0.4 s an epoch) for ASHA's decisions to arrive while they train
SLOW = {"length": "2000", "batch_size": "8", "window": "10", "horizon": "20", "device": "cpu"}


def test_without_ray_the_backend_is_one_line_and_creates_nothing(home, monkeypatch, capsys):
    from labdeck.engine.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    assert main(["sweep", "sequence", "--grid", "hidden=4,8", "--backend", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "labdeck: backend: ray needs Ray Tune, an optional extra: pip install 'labdeck[ray]'"
    assert Store().runs() == []


def test_a_trial_asha_stopped_is_recorded_as_such_though_its_local_run_has_exited(home):
    pytest.importorskip("ray.tune")
    import types

    from labdeck.engine import ray_backend
    from labdeck.engine.events import EpochMetrics

    store = Store()
    run_id = store.create_run("sequence", {"epochs": 12})
    store.claim(run_id, 2**22 + 12345, 1.0)  # this host, a process that has exited: it reads as interrupted
    for epoch in (1, 2):
        m = {"train_loss": 1.0 / epoch, "test_mse": 0.5 / epoch}
        store.log_epoch(run_id, epoch, m, EpochMetrics(run_id, epoch, 12, m, 0.1, 0.0, epoch / 12))
    assert store.get(run_id).status == "interrupted"
    relay = types.SimpleNamespace(drain=lambda: None, close_run=lambda run_id: None)
    ray_backend._recorder(store, relay, None).on_trial_complete(0, [], types.SimpleNamespace(config={"run_id": run_id}))
    info = store.get(run_id)
    assert (info.status, info.message, info.epochs) == ("finished", "stopped early by ASHA after 2 epochs", 2)
    assert info.metrics["test_mse"] == 0.25


def test_an_unreachable_ray_address_is_one_line_in_seconds(home):
    pytest.importorskip("ray.tune")
    proc = cli("sweep", "sequence", "--grid", "hidden=4,8", "--backend", "ray", "--address", "127.0.0.1:1",
               timeout=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("labdeck: address: cannot reach a Ray cluster at 127.0.0.1:1 (")
    assert Store().runs() == []


RAY = [sys.executable, "-m", "ray.scripts.scripts"]  # the ray command of this Python, on PATH or not


class TwoNodes:
    """A Ray cluster of two nodes on this machine. The worker node runs in a mount namespace where the head's
    labdeck home is an empty file system, with a home and temporary space of its own: a trial there can reach the
    sweep's store only through Ray, as on a cluster without a shared file system."""

    def __init__(self, tmp: Path, head_home: Path):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.worker_home, self.worker_tmp = tmp / "worker-home", tmp / "worker-tmp"
        self.worker_tmp.mkdir()
        head_home.mkdir(exist_ok=True)
        env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
        self.head = subprocess.Popen(
            [*RAY, "start", "--head", "--block", f"--port={self.port}", "--num-cpus=1", "--include-dashboard=false",
             "--disable-usage-stats"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.home = head_home
        # each `ray status` costs about a second of CPU, which the other test worker needs: poll at a gentle pace
        wait_for(lambda: subprocess.run([*RAY, "status", f"--address={self.address}"], env=env,
                                        capture_output=True).returncode == 0, timeout=60, interval=1.0,
                 what="the head node")
        self.start_worker()

    def start_worker(self) -> None:
        env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0",
                   LABDECK_HOME=str(self.worker_home), TMPDIR=str(self.worker_tmp))
        # its own address, as another machine's: drivers on this machine attach to the head node
        hide = (f"mount -t tmpfs tmpfs {self.home} && exec {' '.join(RAY)} start --block --address={self.address} "
                "--num-cpus=1 --node-ip-address=127.0.0.2")
        self.worker = subprocess.Popen(["unshare", "-m", "sh", "-c", hide], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self._alive_nodes() >= 2, timeout=60, interval=1.0, what="the worker node to join")

    def _alive_nodes(self) -> int:
        status = self._status()
        return status.split("Active:", 1)[-1].split("Pending:", 1)[0].count("node_")

    def _status(self) -> str:
        env = dict(os.environ, RAY_AUTH_MODE="disabled")
        return subprocess.run([*RAY, "status", f"--address={self.address}"], env=env, capture_output=True,
                              text=True).stdout

    def staged(self) -> list[str]:
        """Runs training on the worker node right now (their staging copies)."""
        return [p.name for p in self.worker_tmp.glob("labdeck-*/staging/*/runs/*")]

    def kill_worker(self) -> None:
        """The worker node dies at once, as a machine that loses power: its processes are killed, runs and all."""
        import psutil

        node = psutil.Process(self.worker.pid)
        for proc in [*node.children(recursive=True), node]:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        self.worker.wait(timeout=60)

    def close(self) -> None:
        for proc in (self.worker, self.head):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One two-node cluster for this module's tests (starting one takes about 15 s)."""
    pytest.importorskip("ray.tune")
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs mount namespaces (unshare -m) to hide the head's files from the worker node")
    tmp = tmp_path_factory.mktemp("two-nodes")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_AUTH_MODE", "disabled")
        nodes = TwoNodes(tmp, tmp / "home")
        yield nodes
        nodes.close()


@pytest.fixture
def two_nodes(cluster, home, monkeypatch):
    """The cluster, its worker node alive (a test may have killed it), and the head's store as this test's."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("LABDECK_HOME", str(cluster.home))  # the home the worker node cannot see
    if cluster.worker.poll() is not None:
        cluster.start_worker()
    yield cluster
    kill_processes_of(cluster.home)


def _epochs_complete(store: Store, info) -> bool:
    """Every epoch the run's record counts is in the store's history and its events, once."""
    history = store.history(info.id)
    events = [e for _, e in store.events(info.id) if type(e).__name__ == "EpochMetrics"]
    return len(history.get("train_loss", [])) == info.epochs == len({e.epoch for e in events}) == len(events)


def test_ray_sweep_with_asha_lands_in_the_store(two_nodes, home):
    # on the cluster (a local instance would cost a start of its own); one trial at a time, the good net first: the
    # poor one's first epoch meets the good one's at ASHA's first rung
    proc = cli("sweep", "sequence", "--grid", "hidden=32,1", *set_args(dict(SLOW, epochs="12")),
               "--backend", "ray", "--address", two_nodes.address, "--asha", "--parallel", "1", "--json", timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    infos = {i.id: i for i in sweep.trials(Store(), result["sweep_id"])}
    assert len(infos) == 2 and all(i.status == "finished" for i in infos.values())
    early = [i for i in infos.values() if "stopped early by ASHA" in i.message]
    assert [i.params["hidden"] for i in early] == [1], [(i.params, i.message) for i in infos.values()]
    assert all(i.epochs < 12 and "test_mse" in i.metrics for i in early)
    best = min(infos.values(), key=lambda i: i.metrics["test_mse"])
    assert result["best"] == best.id
    # a trial that ran all its epochs forwarded its final evaluation before Tune ended it
    complete = [i for i in infos.values() if i.epochs == 12]
    assert complete and all(i.message == "" and "forecast_rmse" in i.metrics for i in complete)
    # the dashboard and reports read these trials like local ones: their epochs are in the store
    assert len(Store().history(best.id)["test_mse"]) == best.epochs


async def test_a_sweep_over_two_nodes_is_live_in_the_dashboard_writes_only_the_heads_store_and_resumes(
        two_nodes, home):
    from textual.widgets import DataTable

    from labdeck.tui.app import LabdeckApp

    from .test_tui import SWEEPS_KEY, ready, until

    # one CPU a node and two trials at once: one trains on each node for all its epochs. No ASHA here: it may stop
    # the worker node's trial at its first epoch, before the dashboard looks (ASHA has its own test)
    epochs = 14  # enough to stop a trial mid-run from the dashboard
    proc = cli("sweep", "sequence", "--grid", "hidden=16,8", *set_args(dict(SLOW, epochs=str(epochs))),
               "--backend", "ray", "--parallel", "2", "--address", two_nodes.address, "--detach", check=True)
    sweep_id = proc.stdout.strip()
    store = Store()

    def training_remotely() -> list[str]:
        return [i.id for i in sweep.trials(store, sweep_id) if i.id in two_nodes.staged()
                and i.status == "running" and store.history(i.id).get("train_loss")]

    app = LabdeckApp(two_nodes.home, system_stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press(SWEEPS_KEY)
        trials = await until(pilot, lambda: (q := app.query("#trials-table")) and q.first(DataTable),
                             what="the trials table")

        def shown_running() -> str | None:  # a trial on the worker node, its epochs in the head's store, live
            rows = {trials.coordinate_to_cell_key((r, 0)).row_key.value: r for r in range(trials.row_count)}
            return next((r for r in training_remotely() if r in rows
                         and str(trials.get_cell_at((rows[r], 2))) == "running"), None)

        try:
            remote = await until(pilot, shown_running, timeout=120, what="a trial on the worker node shown running")
        except AssertionError as exc:  # what the store, the worker node and the table held then
            rows = [trials.get_row_at(r)[1:3] for r in range(trials.row_count)]
            raise AssertionError(f"{exc}: trials {[(i.id, i.status, i.epochs) for i in sweep.trials(store, sweep_id)]},"
                                 f" staged {two_nodes.staged()}, rows {rows}") from None
        await pilot.press("k")  # stop the sweep from the dashboard
        await until(pilot, lambda: all(i.status not in ACTIVE for i in sweep.trials(store, sweep_id)),
                    timeout=120, what="the sweep stopped")
        stopped = sweep.trials(store, sweep_id)
        assert {i.status for i in stopped} <= {"stopped", "finished"}, [(i.status, i.message) for i in stopped]
        # each stopped trial's checkpoint is on this host, the worker node's shipped back
        assert all(store.checkpoint_path(i.id).exists() for i in stopped if i.status == "stopped" and i.epochs)
        assert store.get(remote).status == "stopped" and 1 <= store.get(remote).epochs < epochs
        await until(pilot, lambda: sweep.runner_alive(store, sweep_id) is None, timeout=60, what="the driver gone")
        await pilot.press("u")
        await until(pilot, lambda: sweep.runner_alive(store, sweep_id), timeout=60, what="the sweep resumed")
    done = wait_for(lambda: (t := sweep.trials(store, sweep_id)) and all(i.status == "finished" for i in t) and t,
                    timeout=240, what="the resumed sweep to finish")
    assert all(_epochs_complete(store, i) and i.epochs == epochs for i in done), [(i.epochs, i.message) for i in done]
    # the worker node never had the sweep's store: nothing was written in its own home
    assert not (two_nodes.worker_home / "labdeck.db").exists()
    assert store.check() == ""


def test_a_worker_node_lost_mid_sweep_fails_its_trial_with_a_reason_and_the_other_finishes(two_nodes, home):
    epochs = 12  # enough to kill the worker node mid-run
    proc = cli("sweep", "sequence", "--grid", "hidden=16,8", *set_args(dict(SLOW, epochs=str(epochs))),
               "--backend", "ray", "--parallel", "2", "--address", two_nodes.address, "--detach", check=True)
    sweep_id = proc.stdout.strip()
    store = Store()
    remote = wait_for(lambda: [i for i in sweep.trials(store, sweep_id) if i.id in two_nodes.staged()
                               and store.history(i.id).get("train_loss")], timeout=120,
                      what="a trial on the worker node with an epoch in the head's store")[0]
    two_nodes.kill_worker()
    done = wait_for(lambda: (t := sweep.trials(store, sweep_id)) and all(i.status in sweep.DONE for i in t) and t,
                    timeout=180, what="the sweep to end")
    lost = store.get(remote.id)
    assert lost.status == "failed" and lost.message.startswith("the Ray trial ended:"), lost.message
    assert lost.epochs >= 1 and _epochs_complete(store, lost)
    other = next(i for i in done if i.id != remote.id)
    assert other.status == "finished" and other.epochs == epochs and _epochs_complete(store, other), other.message
    assert store.check() == ""
