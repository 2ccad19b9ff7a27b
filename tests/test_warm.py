"""Warm starts: run workers forked from a process that has imported torch (engine.warm)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psutil

from labdeck.engine import runs, warm
from labdeck.engine.store import Store

from .conftest import tiny, wait_for


def serving() -> bool:
    """Whether the warm process of this test's key answers (one is started if none serves)."""
    if (proc := warm.launch()) is not None:
        proc.wait(timeout=30)
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(warm.socket_path()))
        return True
    except OSError:
        return False


def test_a_forked_run_trains_with_its_callers_environment_and_shows_its_own_command(home, tmp_path, monkeypatch):
    wait_for(serving, timeout=60, what="the warm process")
    store = Store(home)
    run_id = runs.create(store, "sequence", tiny(epochs=100000, length=2000, window=40, hidden=32))
    pid = runs.spawn(store, run_id)
    assert runs.process(pid) is None and psutil.Process(pid).ppid() != os.getpid()  # the warm process forked it
    # ps shows the worker (as soon as the fork has named itself), not the warm process
    wait_for(lambda: str(home) in " ".join(psutil.Process(pid).cmdline()).split(), what="the worker's command")
    wait_for(lambda: store.get(run_id).epochs >= 2, what="two epochs")
    runs.stop(store, run_id)  # its SIGTERM handler is the worker's own
    info = wait_for(lambda: (i := store.get(run_id)).status == "stopped" and i, what="the run stopped")
    assert info.epochs >= 2 and store.checkpoint_path(run_id).exists()
    assert "stopped" in (store.run_dir(run_id) / "output.log").read_text().splitlines()[-1]
    # the environment is the caller's at the spawn, not the warm process's at its start
    monkeypatch.setenv("LABDECK_DATA", str(tmp_path / "data-of-this-call"))
    offline = runs.create(store, "language", {"corpus": "tinyshakespeare", "epochs": 1})
    runs.spawn(store, offline)
    failed = wait_for(lambda: (i := store.get(offline)).status == "failed" and i, what="the offline run failed")
    assert str(tmp_path / "data-of-this-call" / "tinyshakespeare") in failed.message


def test_what_the_warm_process_imports_touches_no_gpu():
    # a process that has initialised CUDA cannot fork a worker that uses it
    code = """
import torch
calls = []
torch._C._cuda_getDeviceCount = lambda *a: calls.append("device count") or 0
torch._C._cuda_init = lambda *a: calls.append("init")
from labdeck.engine import warm_server
warm_server.preload()
print(calls, torch.cuda.is_initialized())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[] False", out.stderr[-2000:]


def test_without_a_warm_process_a_run_starts_afresh(home, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")  # a key of its own (read as OpenMP loads)
    path = warm.socket_path()
    path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX) as stale:  # a socket file no process listens on
        stale.bind(str(path))
        assert warm.start(["--home", str(home), "nothing"], dict(os.environ), tmp_path / "log") is None
    path.unlink()
    monkeypatch.setenv("LABDECK_WARM_SECONDS", "0")  # warm starts off: none is started, runs start afresh
    assert warm.launch() is None
    store = Store(home)
    run_id = runs.create(store, "sequence", tiny(epochs=1))
    proc = runs.process(runs.spawn(store, run_id))
    assert isinstance(proc, subprocess.Popen)
    assert proc.wait(timeout=120) == 0 and store.get(run_id).status == "finished"


def test_an_idle_warm_process_exits_and_takes_its_socket_with_it(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")  # a key of its own
    monkeypatch.setenv("LABDECK_WARM_SECONDS", "1")
    path = warm.socket_path()
    wait_for(serving, timeout=60, what="the warm process")
    server = next(p for p in psutil.process_iter(["cmdline"]) if str(path) in (p.info["cmdline"] or []))
    wait_for(lambda: not path.exists(), timeout=30, what="the idle warm process to exit")
    server.wait(timeout=10)
    assert warm.shutdown() is False  # none answers now


def test_the_key_follows_what_torch_reads_at_import_not_what_libraries_set_later(monkeypatch):
    before = warm.key()
    import sklearn.metrics  # noqa: F401 (it sets KMP_* variables for Intel's OpenMP as it loads)

    monkeypatch.setenv("KMP_DUPLICATE_LIB_OK", "True")
    monkeypatch.setenv("LABDECK_FAULT", "after-epoch")  # read at each fault point, not at import
    assert warm.key() == before
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert warm.key() != before
