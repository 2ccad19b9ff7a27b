"""Sweeps on Ray Tune (``--backend ray``) against a local Ray instance: ASHA, the store, stop and resume."""

from __future__ import annotations

import json
import sys

import pytest

from engine import sweep
from engine.store import Store

from .conftest import cli, set_args, wait_for

# one worker runs them all: two local Ray instances at once would share this machine's 2 cores
pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]

# trials long enough (about 0.4 s an epoch) for ASHA's decisions to arrive while they train
SLOW = {"length": "2000", "batch_size": "8", "window": "10", "horizon": "20", "device": "cpu"}


def test_without_ray_the_backend_is_one_line_and_creates_nothing(home, monkeypatch, capsys):
    from engine.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    assert main(["sweep", "sequence", "--grid", "hidden=4,8", "--backend", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "labdeck: backend: ray needs Ray Tune, an optional extra: pip install 'labdeck[ray]'"
    assert Store().runs() == []


def test_ray_sweep_with_asha_lands_in_the_store(home):
    pytest.importorskip("ray.tune")
    # the good nets come first, so ASHA has their early epochs to stop the poor ones against
    proc = cli("sweep", "sequence", "--grid", "hidden=32,16,2,1", *set_args(dict(SLOW, epochs="12")),
               "--backend", "ray", "--asha", "--parallel", "2", "--json", timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    infos = {i.id: i for i in sweep.trials(Store(), result["sweep_id"])}
    assert len(infos) == 4 and all(i.status == "finished" for i in infos.values())
    early = [i for i in infos.values() if "stopped early by ASHA" in i.message]
    assert early, "ASHA stopped no trial"
    assert all(i.epochs < 12 and "test_mse" in i.metrics for i in early)
    assert any(i.params["hidden"] in (1, 2) for i in early)
    best = min(infos.values(), key=lambda i: i.metrics["test_mse"])
    assert result["best"] == best.id
    # the dashboard and reports read these trials like local ones: their epochs are in the store
    assert len(Store().history(best.id)["test_mse"]) == best.epochs


def test_ray_sweep_stop_and_resume(home):
    pytest.importorskip("ray.tune")
    proc = cli("sweep", "sequence", "--grid", "hidden=8,16", *set_args(dict(SLOW, epochs="15")),
               "--backend", "ray", "--parallel", "2", "--detach", check=True)
    sweep_id = proc.stdout.strip()
    store = Store()
    wait_for(lambda: any(i.status == "running" and store.history(i.id).get("train_loss")
                         for i in sweep.trials(store, sweep_id)),
             timeout=120, what="a Ray trial training")
    assert cli("stop", sweep_id, check=True).returncode == 0
    stopped = sweep.trials(store, sweep_id)
    # stopped cleanly (checkpointed, not killed with the Ray worker), and nothing left running
    assert {i.status for i in stopped} <= {"stopped", "finished"}, [(i.status, i.message) for i in stopped]
    assert sweep.runner_alive(store, sweep_id) is None
    assert cli("resume", sweep_id, check=True).returncode == 0
    done = wait_for(lambda: (t := sweep.trials(store, sweep_id)) and all(i.status == "finished" for i in t) and t,
                    timeout=180, what="the resumed Ray sweep to finish")
    assert all(i.epochs == 15 for i in done)


def test_an_unreachable_ray_address_is_one_line_in_seconds(home):
    pytest.importorskip("ray.tune")
    proc = cli("sweep", "sequence", "--grid", "hidden=4,8", "--backend", "ray", "--address", "127.0.0.1:1",
               timeout=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("labdeck: address: cannot reach a Ray cluster at 127.0.0.1:1 (")
    assert Store().runs() == []
