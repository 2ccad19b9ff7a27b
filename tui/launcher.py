"""The ``labdeck`` command: no arguments opens the dashboard; anything else is the engine's CLI."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or (args[0] == "--home" and len(args) == 2):
        from .app import run_dashboard

        return run_dashboard(home=args[1] if args else None)
    from engine.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
