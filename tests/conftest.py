"""Shared fixtures: an isolated labdeck home, tiny experiment settings, and a CLI runner."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

# One intra-op thread in each test process and each run it starts: two xdist workers already keep both cores busy,
# and a run that measured two threads faster while the machine was quiet spun them against the other worker's
# tests, taking 15-20 s of CPU for a run of 3 (choose_threads itself is tested with its core count set).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("LABDECK_WATCHDOG", "0")  # none per test home: tests/test_alerts.py starts its own
# Each test process builds and drops some forty Textual apps of hundreds of widgets: at the default thresholds the
# cyclic collector walks what they and torch left behind again and again (test_keys and test_snapshots took 48.5
# core-s against 40.7 with these, their peak memory 1.18 GB against 1.24 GB).
gc.set_threshold(10_000, 50, 1_000)

# A sequence run that trains in well under a second per epoch.
TINY_SEQ = {"length": "300", "hidden": "8", "window": "10", "horizon": "20", "batch_size": "32", "epochs": "2"}


@pytest.fixture(scope="session", autouse=True)
def own_folders(tmp_path_factory):
    """No test reads or writes the user's own labdeck folders: one that forgets ``home`` gets empty ones of its own
    (a store left at a newer schema by a development build once failed such a test)."""
    root = tmp_path_factory.mktemp("own")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("LABDECK_HOME", "LABDECK_DATA", "LABDECK_CONFIG", "LABDECK_STATE", "XDG_CACHE_HOME"):
            mp.setenv(name, str(root / name.lower()))
        yield


@pytest.fixture(scope="session", autouse=True)
def warm_process(own_folders):
    """The warm process (engine.warm) forks this session's runs from its first (it starts while tests are collected
    and run) and exits with the session."""
    from labdeck.engine import warm

    starter = warm.launch()  # None where one serves or is starting (the other test worker's)
    yield
    warm.shutdown()
    if starter is not None:
        starter.wait(timeout=30)  # it exited once its child served


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One precision/threads cache for the whole test session (per xdist worker): each run measures its model's
    speed once per session, not once per test (seconds each)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def home(tmp_path, monkeypatch, shared_cache):
    h = tmp_path / "home"
    monkeypatch.setenv("LABDECK_HOME", str(h))
    monkeypatch.setenv("LABDECK_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    monkeypatch.setenv("LABDECK_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("LABDECK_STATE", str(tmp_path / "state"))
    # the two test workers keep both cores busy: a speed probe taken beside the other would never be cached, and
    # every run would measure again (test_device.py tests what a busy machine does)
    monkeypatch.setenv("LABDECK_CACHE_BUSY_PROBES", "1")
    yield h
    kill_processes_of(h)  # a failed test must not leave a detached run training for ever


def kill_processes_of(h: Path) -> None:
    """Kill run workers and sweep runners that a test started for the store at ``h``."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        try:
            # a worker forked by the warm process shows its command line as one string (setproctitle)
            words = " ".join(proc.info["cmdline"] or []).split()
            if str(h) in words and proc.pid != os.getpid():
                proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass


def fake_gpus(monkeypatch, tmp_path: Path, count: int = 2) -> None:
    """As on a server with an NVIDIA driver and ``count`` GPUs, whatever this machine has."""
    from labdeck.engine import accelerators

    (tmp_path / "nvidiactl").write_text("")
    monkeypatch.setattr(accelerators, "_GPU_DRIVER_FILES", (str(tmp_path / "nvidiactl"),))
    monkeypatch.setattr("labdeck.engine.gpus.visible", lambda: [str(i) for i in range(count)])


def tiny(**over) -> dict[str, str]:
    out = dict(TINY_SEQ)
    out.update({k: str(v) for k, v in over.items()})
    return out


def set_args(params: dict[str, str]) -> list[str]:
    args = []
    for k, v in params.items():
        args += ["--set", f"{k}={v}"]
    return args


def cli(*args: str, check: bool = False, timeout: float = 120, process: bool = False) -> subprocess.CompletedProcess:
    """``labdeck ARGS``: in this process through ``engine.cli.main`` (no Python and torch start-up per call), or with
    ``process`` in a process of its own (what signals, exit on Ctrl+C or a real terminal need)."""
    if process:
        proc = subprocess.run([sys.executable, "-m", "labdeck.engine", *args], capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ))
    else:
        import contextlib
        import io

        from labdeck.engine.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # --help, --version
                code = exc.code if isinstance(exc.code, int) else 0
        proc = subprocess.CompletedProcess(["labdeck", *args], code, out.getvalue(), err.getvalue())
    if check and proc.returncode != 0:
        raise AssertionError(f"labdeck {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def show(run_id: str) -> dict:
    return json.loads(cli("show", run_id, "--json", check=True).stdout)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value (polling a real process, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def fake_nvml(monkeypatch, processes: dict[int, list[int]]) -> None:
    """NVML (the pynvml module) as on a server with one H100 per key of ``processes``, running those pids."""
    import types

    from labdeck.engine import gpus

    class NVMLError(Exception):
        pass

    def handle(i):
        return i

    nvml = types.ModuleType("pynvml")
    nvml.NVMLError = NVMLError
    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetCount = lambda: len(processes)
    nvml.nvmlDeviceGetHandleByIndex = handle
    nvml.nvmlDeviceGetName = lambda h: b"NVIDIA H100 80GB HBM3"
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=40 + h, memory=10)
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=(h + 1) * 2**30, total=80 * 2**30)
    nvml.nvmlDeviceGetComputeRunningProcesses = lambda h: [types.SimpleNamespace(pid=p, usedGpuMemory=2**30)
                                                           for p in processes[h]]
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setattr(gpus, "_nvml", None)
