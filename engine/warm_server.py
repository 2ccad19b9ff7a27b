"""The warm process (see ``warm``): ``python -m labdeck.engine.warm_server SOCKET``."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from .warm import REPLY_SECONDS, idle_seconds, read_line


def preload() -> None:
    """Import what every run imports, touching no GPU."""
    import gc

    import torch
    import torch._dynamo  # noqa: F401  (every optimizer imports it on its first use)

    from . import registry, worker  # noqa: F401

    try:
        import setproctitle  # noqa: F401  (each worker names itself with it)
    except ImportError:
        pass

    from .experiment import Experiment

    for spec in registry.specs():
        Experiment.of(spec)
    # what was imported lives as long as any worker: their collectors need not walk it (and so copy its pages)
    gc.freeze()


def serve(path: Path) -> None:
    """Import what runs need, then fork a worker for each request until none comes for ``idle_seconds()``."""
    import fcntl

    lock = open(path.with_suffix(".lock"), "a")  # noqa: SIM115 (held while this process serves)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another serves this key
    preload()
    path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o600)
    server.listen(64)
    server.settimeout(idle_seconds() or None)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are not waited for: the kernel reaps them
    bound = path.stat().st_ino
    try:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                return
            with conn:
                conn.settimeout(REPLY_SECONDS)
                try:
                    request = json.loads(read_line(conn))
                except (OSError, ValueError):
                    continue
                if request.get("exit"):
                    conn.sendall(b'{"exit": true}\n')
                    return
                pid = os.fork()
                if pid == 0:
                    server.close()
                    lock.close()  # the lock is this process's: a worker that outlives it must not hold it
                    _worker(request, conn)
                try:
                    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                except OSError:
                    pass
    finally:
        try:
            if path.stat().st_ino == bound:
                path.unlink()
        except OSError:
            pass


def _worker(request: dict[str, Any], conn: socket.socket) -> None:
    """In the forked child: become the run's worker process, as ``runs.spawn`` would have started it."""
    code = 1
    try:
        conn.close()
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        out = os.open(request["log"], os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.close(null)
        args = [str(a) for a in request["args"]]
        sys.argv = ["labdeck-worker", *args]
        try:  # before the environment changes: setproctitle finds the room for the title beside it
            import setproctitle

            setproctitle.setproctitle(" ".join([sys.executable, "-m", "labdeck.engine.worker", *args]))
        except ImportError:
            pass
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        from .worker import main

        code = main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m labdeck.engine.warm_server SOCKET", file=sys.stderr)
        return 2
    if os.fork():  # the caller waits for nothing: this process's child serves, adopted by init
        return 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(Path(args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
