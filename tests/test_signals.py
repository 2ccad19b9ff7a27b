"""Ctrl+C and SIGTERM end `run`, `sweep` and `watch` cleanly and say so in the exit status (130 and 143), so that
`labdeck run ... && next` does not go on after the user aborted. Each test sends the real signal to a real process
started with default signal handling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from labdeck.engine import Store

from .conftest import cli, set_args, tiny, wait_for

EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
LONG = tiny(epochs=100_000, length=2000, hidden=16)  # trains until it is stopped


# A process inherits ignored signals (a test worker may ignore SIGINT): the child sets Python's defaults itself.
DEFAULTS = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "signal.signal(signal.SIGTERM, signal.SIG_DFL); sys.argv[0] = 'labdeck'; "
            "runpy.run_module('labdeck.engine', run_name='__main__')")


def labdeck(*args: str) -> subprocess.Popen:
    """``labdeck ARGS`` in a process of its own, with Python's default handling of both signals."""
    return subprocess.Popen([sys.executable, "-c", DEFAULTS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_foreground_run_stops_with_its_checkpoint_and_exits_128_plus_the_signal(home, sig):
    proc = labdeck("run", "sequence", *set_args(LONG))
    store = Store(home)
    run_id = wait_for(lambda: (r := store.runs()) and r[0].epochs >= 1 and r[0].id, what="training", timeout=90)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT[sig], err
    info = store.get(run_id)
    assert info.status == "stopped" and store.checkpoint_path(run_id).exists()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_foreground_sweep_stops_its_trials_and_exits_128_plus_the_signal(home, sig):
    proc = labdeck("sweep", "sequence", "--grid", "hidden=8,16", *set_args(LONG))
    store = Store(home)
    wait_for(lambda: any(r.status == "running" and r.epochs >= 1 for r in store.runs()), what="a trial training",
             timeout=90)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == EXIT[sig], err
    assert "stopped" in err
    wait_for(lambda: all(r.status not in ("queued", "running", "paused") for r in store.runs()),
             what="every trial ended", timeout=60)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_watch_exits_128_plus_the_signal(home, sig):
    from labdeck.engine.events import LogLine

    store = Store(home)
    run_id = store.create_run("my-loop", {})
    store.claim(run_id, os.getpid(), None)  # this test's process: a run that stays active while watched
    store.emit(LogLine(run_id, "a line to watch"))
    proc = labdeck("watch", run_id)
    assert proc.stdout.readline().strip() == "a line to watch"  # it is in its loop, its handlers installed
    os.kill(proc.pid, sig)
    proc.communicate(timeout=30)
    assert proc.returncode == EXIT[sig]
    cli("runs", check=True)
