"""The ``labdeck`` command: no arguments opens the dashboard; anything else is the engine's CLI."""
# PYTHON_ARGCOMPLETE_OK  (argcomplete's marker: this entry point answers shell completion requests)

from __future__ import annotations

import os
import sys

NO_TERMINAL = ("labdeck: the dashboard needs a terminal (is this a pipe, cron, or 'ssh host' without -t?); "
               "the CLI works anywhere: 'labdeck runs', 'labdeck --help'")


def dashboard_home(args: list[str]) -> tuple[bool, str | None]:
    """Whether ``args`` ask for the dashboard (none, or only ``--home DIR``), and the home they name."""
    if not args:
        return True, None
    if args[0] == "--home" and len(args) == 2:
        return True, args[1]
    if len(args) == 1 and args[0].startswith("--home="):
        return True, args[0].partition("=")[2]
    return False, None


def main(argv: list[str] | None = None) -> int:
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (labdeck completion SHELL set it up)
        from labdeck.engine.cli import complete

        complete()  # prints the candidates and exits
    args = sys.argv[1:] if argv is None else argv
    dashboard, home = dashboard_home(args)
    if dashboard:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            print(NO_TERMINAL, file=sys.stderr)
            return 2
        from .app import run_dashboard

        return run_dashboard(home=home)
    from labdeck.engine.cli import exit_process
    from labdeck.engine.cli import main as cli_main
    from labdeck.engine.procs import process_start_time

    if argv is not None:
        return cli_main(args)
    # this process is the command: a foreground run's wall budget counts from its start, and it ends at once
    exit_process(cli_main(args, process_start_time(os.getpid())))


if __name__ == "__main__":
    raise SystemExit(main())
