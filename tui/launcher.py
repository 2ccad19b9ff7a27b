"""The ``labdeck`` command: no arguments opens the dashboard; anything else is the engine's CLI."""
# PYTHON_ARGCOMPLETE_OK  (argcomplete's marker: this entry point answers shell completion requests)

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labdeck.engine.hosts import Host

NO_TERMINAL = ("labdeck: the dashboard needs a terminal (is this a pipe, cron, or 'ssh host' without -t?); "
               "the CLI works anywhere: 'labdeck runs', 'labdeck --help'")


def dashboard_args(args: list[str]) -> tuple[bool, str | None, str | None]:
    """Whether ``args`` ask for the dashboard, the home they name and the run to open on: none, ``ui [RUN]``, or
    ``RUN`` alone (a word that is no command), each with ``--home DIR`` anywhere."""
    words: list[str] = []
    home = None
    rest = iter(args)
    for arg in rest:
        if arg == "--home":
            home = next(rest, None)
            if home is None:
                return False, None, None  # the CLI says what is missing
        elif arg.startswith("--home="):
            home = arg.partition("=")[2]
        else:
            words.append(arg)
    if any(w.startswith("-") for w in words):
        return False, None, None
    if not words:
        return True, home, None
    if words[0] == "ui" and len(words) <= 2:
        return True, home, (words[1] if len(words) == 2 else None)
    if len(words) == 1:
        from labdeck.engine.cli import COMMANDS

        if words[0] not in COMMANDS:
            return True, home, words[0]
    return False, None, None


def take_hosts(args: list[str]) -> tuple[list[str], list[str]]:
    """``args`` without their ``--host NAME`` pairs, and those names (the dashboard over other machines too)."""
    rest: list[str] = []
    asked: list[str] = []
    words = iter(args)
    for arg in words:
        if arg == "--host" and (name := next(words, None)) is not None:
            asked.append(name)
        elif arg.startswith("--host="):
            asked.append(arg.partition("=")[2])
        else:
            rest.append(arg)
    return rest, asked


def hosts_for(asked: list[str]) -> list[Host] | str:
    """The hosts the dashboard shows: those asked for, else every one of the settings' [hosts]; or one line
    saying what is wrong."""
    from labdeck.engine import hosts, paths, settings

    configured = settings.load(paths.settings()).hosts
    try:
        return hosts.chosen(asked, configured) if asked else list(configured.values())
    except hosts.HostError as exc:
        return f"labdeck: {exc}"


def open_on(home: str | None, run: str) -> tuple[str, str] | str:
    """The run ``run`` names in ``home`` and the tab it opens in, or one line saying why there is none."""
    from labdeck.engine import LabdeckError, Store

    try:
        info = Store.for_reading(home, must_exist=True).get(run)
    except LabdeckError as exc:
        return f"labdeck: {exc}"
    from .keys import tab_of

    return info.id, tab_of(info.experiment)


# Workers that change something: on quit, these are waited for (each is short); the others only read
WRITERS = frozenset({"control", "report", "launch", "save-plot", "delete", "control-sweep", "launch-sweep",
                     "settings"})
WRITERS_WAIT_SECONDS = 10.0


def run_dashboard(home: str | None = None, open_run: tuple[str, str] | None = None,
                  hosts: list[Host] | None = None) -> int:
    """Run the dashboard in this process, then leave at once: Textual has given the terminal back, and a thread
    still reading (the store reader in a long replay, a figure being built: seconds on a busy machine, with a blank
    screen) must not hold the prompt up. Workers that write are waited for."""
    import time

    from .app import LabdeckApp

    app = LabdeckApp(home, freeze_gc=True, open_run=open_run, hosts=hosts)
    app.run()
    app.links.close()  # each host's serve ends with its link
    deadline = time.monotonic() + WRITERS_WAIT_SECONDS
    while time.monotonic() < deadline and any(w.group in WRITERS and not w.is_finished for w in app.workers):
        time.sleep(0.05)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(app.return_code or 0)


def main(argv: list[str] | None = None) -> int:
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (labdeck completion SHELL set it up)
        from labdeck.engine.cli import complete

        complete()  # prints the candidates and exits
    args = sys.argv[1:] if argv is None else argv
    rest, asked = take_hosts(args)
    dashboard, home, run = dashboard_args(rest)
    if dashboard:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            print(NO_TERMINAL, file=sys.stderr)
            return 2
        from labdeck.engine.hosts import split

        where = split(run)[0] if run else ""
        # a host's run (labdeck gpu1:RUN) opens once its host has listed it: its host is linked whatever --host says
        opened = (run, "runs") if run and where else open_on(home, run) if run else None
        if isinstance(opened, str):
            print(opened, file=sys.stderr)
            return 2
        chosen = hosts_for(asked)
        if where and not isinstance(chosen, str) and where not in {h.name for h in chosen}:
            extra = hosts_for([where])
            chosen = extra if isinstance(extra, str) else chosen + extra
        if isinstance(chosen, str):
            print(chosen, file=sys.stderr)
            return 2
        return run_dashboard(home=home, open_run=opened, hosts=chosen)
    from labdeck.engine.cli import exit_process
    from labdeck.engine.cli import main as cli_main
    from labdeck.engine.procs import process_start_time

    if argv is not None:
        return cli_main(args)
    # this process is the command: a foreground run's wall budget counts from its start, and it ends at once
    exit_process(cli_main(args, process_start_time(os.getpid())))


if __name__ == "__main__":
    raise SystemExit(main())
