"""The ``labdeck`` command in-process: the dashboard needs a terminal, ``--help`` says how to open it, and a report
of a budgeted run says how many epochs it ran."""

from __future__ import annotations

import io

import pytest

from labdeck.engine import Store
from labdeck.engine.cli import main as cli_main
from labdeck.engine.report import write_report
from labdeck.tui import launcher


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_without_a_terminal_the_dashboard_says_so_in_one_line(monkeypatch, capsys, home):
    monkeypatch.setattr("sys.stdin", Pipe())
    monkeypatch.setattr("sys.stdout", Pipe())
    for args in ([], ["--home", str(home)], [f"--home={home}"]):
        assert launcher.main(args) == 2
        err = capsys.readouterr().err
        assert "needs a terminal" in err and "labdeck runs" in err and err.count("\n") == 1


def test_home_is_taken_in_both_spellings_and_a_run_opens_the_dashboard_on_it():
    assert launcher.dashboard_args(["--home=/x"]) == (True, "/x", None)
    assert launcher.dashboard_args(["--home", "/x"]) == (True, "/x", None)
    assert launcher.dashboard_args(["runs"]) == (False, None, None)
    assert launcher.dashboard_args(["ui", "--home", "/x", "abc"]) == (True, "/x", "abc")
    assert launcher.dashboard_args(["abc"]) == (True, None, "abc")
    assert launcher.dashboard_args(["ui"]) == (True, None, None)
    assert launcher.dashboard_args(["abc", "--json"]) == (False, None, None)
    assert launcher.dashboard_args(["--home"]) == (False, None, None)


def test_hosts_are_taken_from_the_command_line_else_from_the_settings(home, monkeypatch, capsys):
    assert launcher.take_hosts(["--host", "gpu1", "--home", "/x", "--host=me@gpu2"]) == (["--home", "/x"],
                                                                                         ["gpu1", "me@gpu2"])
    assert launcher.take_hosts(["runs", "--host", "gpu1"]) == (["runs"], ["gpu1"])  # the CLI gets the original
    assert launcher.hosts_for([]) == []
    config = home.parent / "config"
    config.mkdir()
    (config / "config.toml").write_text('[hosts.gpu1]\nssh = "me@gpu1.lab"\n\n[hosts.gpu2]\n')
    assert [h.name for h in launcher.hosts_for([])] == ["gpu1", "gpu2"]  # every configured host
    assert [(h.name, h.destination) for h in launcher.hosts_for(["gpu1", "me@gpu3"])] == [
        ("gpu1", "me@gpu1.lab"), ("gpu3", "me@gpu3")]
    assert launcher.hosts_for(["-oProxyCommand=x"]).startswith("labdeck: host '-oProxyCommand=x'")

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty())
    monkeypatch.setattr("sys.stdout", Tty())
    assert launcher.main(["--host", "gpu 1"]) == 2  # one line before any screen
    err = capsys.readouterr().err
    assert err.startswith("labdeck: host 'gpu 1'") and err.count("\n") == 1


def test_a_run_that_is_not_there_is_one_line_before_any_screen(monkeypatch, capsys, home):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    Store(home).create_run("sequence", {"epochs": 1})
    monkeypatch.setattr("sys.stdin", Tty())
    monkeypatch.setattr("sys.stdout", Tty())
    assert launcher.main(["nosuchrun"]) == 2
    err = capsys.readouterr().err
    assert "nosuchrun" in err and err.count("\n") == 1
    assert launcher.main(["ui", "--home", str(home / "typo"), "x"]) == 2
    assert "typo" in capsys.readouterr().err and not (home / "typo").exists()


def test_help_says_plain_labdeck_opens_the_dashboard(capsys):
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    out = capsys.readouterr().out
    assert "Plain 'labdeck' (no command) opens the dashboard" in out and "examples:" in out


def test_a_report_of_a_budgeted_run_says_how_many_epochs_ran(home):
    store = Store(home)
    run_id = store.create_run("sequence", {"epochs": 40, "hidden": 8}, budget=20.0)
    store.finish(run_id, "finished", {"test_mse": 0.1}, 20.0, 102)
    text = write_report(store, run_id, home / "out").read_text()
    assert "| epochs | 102 run (a 20 s budget decided; the parameter was 40) |" in text
    assert "| budget | 20 s |" in text


def test_quit_returns_the_prompt_at_once_while_a_reader_is_still_busy(home, tmp_path):
    """On a busy machine a store reader in the middle of a long read held the prompt for 5-30 s after q: the
    dashboard leaves once the terminal is back, waiting only for workers that write."""
    import os
    import subprocess
    import sys
    import time

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
    from ui import Terminal

    stuck = tmp_path / "stuck.py"
    stuck.write_text("import time, sys\n"
                     "from labdeck.tui import watcher\n"
                     "def run(self):\n"
                     "    time.sleep(60)  # a read that takes a minute\n"
                     "watcher.StoreWatcher.run = run\n"
                     "from labdeck.tui.launcher import main\n"
                     "raise SystemExit(main(sys.argv[1:]))\n")
    with Terminal([sys.executable, str(stuck), "--home", str(home)], cols=100, rows=30) as term:
        term.wait_for(b"Vision", timeout=60)
        term.wait_for(b"no run yet", timeout=60)  # the first form and its run view: the reader has started
        time.sleep(0.5)
        sent = term.send(b"q")
        term.proc.wait(timeout=30)
        assert term.proc.returncode == 0 and time.perf_counter() - sent < 5
    subprocess.run(["true"], check=True)
