"""A detached run process: ``python -m labdeck.engine.worker --home DIR RUN_ID [--resume]`` (or forked from the warm
process with the same arguments)."""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

from .formatting import format_event
from .runs import run_here
from .status import Status
from .store import Store

if TYPE_CHECKING:
    from .events import Event


def _log(event: Event) -> None:
    """The run's own progress lines, into output.log in its folder."""
    line = format_event(event)
    if line:
        print(line, flush=True)


def stop_with_parent(pid: int) -> None:
    """Stop this run (cleanly: checkpoint, status stopped) once process ``pid`` is gone: a Ray trial's actor
    is killed when Tune stops the trial early, and must not leave its run training."""
    from .procs import process_alive, process_start_time

    start = process_start_time(pid)

    def watch() -> None:
        while process_alive(pid, start):
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="labdeck-worker")
    ap.add_argument("--home", required=True)
    ap.add_argument("run_id")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--stop-with-parent", type=int, metavar="PID", help="stop cleanly when process PID ends")
    args = ap.parse_args(argv)
    if args.stop_with_parent:
        stop_with_parent(args.stop_with_parent)
    # A detached run yields the CPU to interactive processes (the dashboard, a shell) for the moments they
    # need it; it takes everything else, so alone on a machine it runs as fast as in the foreground.
    try:
        os.nice(5)
    except OSError:
        pass
    # A stop (SIGTERM) that comes while torch is imported and the data loaded ends the run as stopped, not killed.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    ended = run_here(Store(args.home), args.run_id, resume=args.resume, on_event=_log, stop_requested=stop.is_set)
    print(f"{ended.status} {ended.message}".strip(), flush=True)
    return 0 if ended.status != Status.FAILED else 1


if __name__ == "__main__":
    raise SystemExit(main())
