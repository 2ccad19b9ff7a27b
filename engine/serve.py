"""``labdeck serve --stdio``: a home's feed and its controls over standard input and output, for a viewer on
another machine that reached this one through its own ``ssh``.

Nothing listens on a port: the process lives as long as its standard input (the ssh session) and leaves nothing
behind but the runs it was asked to start. Every request comes as a JSON line (``wire``), never as a shell word:
run names and parameters are data here, whatever the ssh command line held.
"""

from __future__ import annotations

import base64
import contextlib
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from . import gpus, runs, sweep, wire
from .errors import DataError, LabdeckError, ParamError, RunNotFound, one_line
from .feed import Feed, ensure_watchdog
from .store import HOST, Store
from .version import version

POLL_SECONDS = 0.1  # a followed run's event reaches the link within this (plus the link's own time)
TICK_SECONDS = 1.0  # a line at least this often: the viewer tells a quiet host from a stalled link
REPORT_BYTES = 64 << 20  # the most a report copied back may hold
IMAGE_BYTES = 32 << 20  # the largest image a viewer may send to be classified
PART_SECONDS = 0.1  # a generated text travels in parts this far apart (the viewer's prompt streams it)
CLI_COMMANDS = ("runs", "show", "alerts", "params", "export")  # what a viewer may ask the CLI of this host for


class _Out:
    """The protocol's stream, written whole line by line from any thread."""

    def __init__(self, stream: IO[bytes]):
        self.stream, self.lock, self.last = stream, threading.Lock(), 0.0

    def send(self, message: dict[str, Any]) -> None:
        data = wire.dumps(message).encode()
        with self.lock:
            self.stream.write(data)
            self.stream.flush()
            self.last = time.monotonic()


def serve(home: Path | None, stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """Serve ``home`` until ``stdin`` ends; returns the exit status."""
    out = _Out(stdout)
    store = Store(home)  # a host that never ran labdeck gets its home: runs can be started there
    out.send({"t": "hello", "protocol": wire.PROTOCOL, "version": version(), "home": str(store.home),
              "host": HOST})
    requests: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def read() -> None:
        for line in stdin:
            try:
                requests.put(wire.loads(line))
            except wire.WireError as exc:
                out.send({"t": "error", "error": str(exc)})
        requests.put(None)  # the link closed

    threading.Thread(target=read, name="labdeck-serve-stdin", daemon=True).start()
    calls = ThreadPoolExecutor(2, thread_name_prefix="labdeck-serve-call")
    stops: dict[Any, threading.Event] = {}  # the calls under way, by id: what a cancel sets
    feed: Feed | None = None
    try:
        while True:
            try:
                request = requests.get(timeout=POLL_SECONDS)
            except queue.Empty:
                request = {"t": "look"}
            list_now = False
            while request is not None:
                kind = request["t"]
                if kind == "hello":
                    if request.get("protocol") != wire.PROTOCOL:
                        out.send({"t": "error", "error": f"this host speaks protocol {wire.PROTOCOL} "
                                                         f"(labdeck {version()})"})
                        return 2
                    feed = Feed(store, ensure_watchdog(store.home), alerts_after=request.get("alerts_after"))
                elif kind == "follow" and feed is not None:
                    counts = request.get("counts")
                    try:
                        feed.follow(str(request["run"]), int(request.get("cursor") or 0),
                                    {str(k): int(v) for k, v in counts.items()} if isinstance(counts, dict) else None)
                    except (KeyError, TypeError, ValueError) as exc:
                        out.send({"t": "error", "error": f"a follow that does not parse: {exc}"})
                elif kind == "call":
                    stops[request.get("id")] = threading.Event()
                    calls.submit(_answer, store.home, out, request, requests, stops[request.get("id")])
                elif kind == "cancel" and (stop := stops.get(request.get("id"))) is not None:
                    stop.set()  # a long call (a text being generated) ends at its next step
                elif kind == "answered":
                    stops.pop(request.get("id"), None)
                    list_now = True  # a control's effect is listed now, not at the next second's look
                try:
                    request = requests.get_nowait()
                except queue.Empty:
                    break
            if request is None:
                return 0
            if feed is not None:
                for update in feed.poll(list_runs=list_now):
                    out.send(wire.update_out(update))
            if time.monotonic() - out.last >= TICK_SECONDS:
                out.send({"t": "tick", "time": time.time()})
    except (BrokenPipeError, ConnectionResetError, ValueError):  # the link went away mid-write
        return 0
    finally:
        calls.shutdown(wait=False, cancel_futures=True)
        store.close()


def _answer(home: Path, out: _Out, request: dict[str, Any], requests: queue.Queue[dict[str, Any] | None],
            stop: threading.Event) -> None:
    reply: dict[str, Any] = {"t": "reply", "id": request.get("id")}

    def part(text: str) -> None:  # what a long call has so far (a generated text), before its reply
        out.send({"t": "part", "id": request.get("id"), "text": text})

    try:
        reply["value"] = _call(home, str(request.get("op")), dict(request.get("args") or {}), part, stop)
        reply["ok"] = True
    except LabdeckError as exc:  # bad input (a run that is not there, a wrong value) is said as such: exit 2
        reply.update(ok=False, error=str(exc), bad_input=isinstance(exc, (ParamError, RunNotFound, DataError)))
    except Exception as exc:  # a host's bug is one line on the viewer's side, not a dead link
        reply.update(ok=False, error=f"{type(exc).__name__}: {one_line(exc)}")
    requests.put({"t": "answered", "id": request.get("id")})
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, ValueError):
        out.send(reply)


def _call(home: Path, op: str, args: dict[str, Any], part: Callable[[str], None], stop: threading.Event) -> Any:
    store = Store(home)
    try:
        if op in ("resume", "stop") and sweep.is_sweep(str(args["run"])):  # its trials, its runner
            getattr(sweep, op)(store, str(args["run"]))
            return str(args["run"])
        if op in ("pause", "resume", "stop", "delete"):
            return getattr(runs, op)(store, str(args["run"]))
        if op == "sweep":
            return list(sweep.start(store, args))
        if op == "start":
            run_id = runs.create(store, str(args["experiment"]), dict(args.get("values") or {}),
                                 args.get("budget"), budget_kind=str(args.get("budget_kind") or "wall"),
                                 alerts=list(args.get("alerts") or []))
            runs.spawn(store, run_id)
            return {"run_id": run_id, "params": store.get(run_id).params}
        if op == "report":
            return _report(store, str(args["target"]), bool(args.get("copy")))
        if op == "gpus":
            found = gpus.read()
            return {"gpus": [vars(g) | {"pids": list(g.pids)} for g in found],
                    "runs": {str(k): v for k, v in gpus.runs_on(found, store.runs()).items()}}
        if op == "cli":
            return _cli(home, [str(a) for a in args.get("argv") or []])
        if op == "generate":
            return _generate(store, args, part, stop)
        if op == "classify":
            return _classify(store, args)
        raise LabdeckError(f"this host does not know the call {op!r} (labdeck {version()})")
    finally:
        store.close()


def _report(store: Store, target: str, copy: bool) -> dict[str, Any]:
    from .report import write_report

    path = write_report(store, target, store.home / "reports" / target)
    files: dict[str, str] = {}
    if copy:
        total = 0
        for file in sorted(p for p in path.parent.rglob("*") if p.is_file()):
            total += file.stat().st_size
            if total > REPORT_BYTES:
                raise LabdeckError(f"the report in {path.parent} is over {REPORT_BYTES >> 20} MB: copy it with scp")
            files[file.relative_to(path.parent).as_posix()] = base64.b64encode(file.read_bytes()).decode()
    return {"path": str(path), "files": files}


def _generate(store: Store, args: dict[str, Any], part: Callable[[str], None], stop: threading.Event
              ) -> dict[str, Any]:
    """A language run's text from its latest checkpoint, sent in parts as it is made; the reply holds the rest.
    ``stop``: the viewer no longer wants it (a new prompt replaced it): the text ends there."""
    from .predict import barely_trained, generator, text_in_parts

    info = store.get(str(args["run"]))
    try:
        options = (int(args["tokens"]), float(args["temperature"]), int(args["top_k"]), float(args["top_p"]),
                   int(args["seed"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ParamError(f"generate: tokens, temperature, top_k, top_p and seed are numbers ({exc})") from None
    gen = generator(store, info)
    made = text_in_parts(gen.stream(str(args.get("prompt") or ""), *options), PART_SECONDS, part, stop.is_set)
    return {"text": made.rest, "tokens": made.tokens, "rate": made.rate, "epoch": gen.epoch,
            "note": barely_trained(info)}


def _classify(store: Store, args: dict[str, Any]) -> dict[str, Any]:
    """A vision run's classes for an image the viewer sent (its bytes, written to a private folder for the call)."""
    import tempfile

    from .predict import predict

    info = store.get(str(args["run"]))
    name = Path(str(args.get("name") or "")).name  # a file name only, never a path on this host
    name = name if name not in ("", ".", "..") else "image"
    try:
        data = base64.b64decode(str(args["data"]), validate=True)
    except (KeyError, ValueError) as exc:
        raise ParamError(f"classify: the image's bytes do not decode ({exc})") from None
    if len(data) > IMAGE_BYTES:
        raise ParamError(f"classify: {name} is over {IMAGE_BYTES >> 20} MB")
    with tempfile.TemporaryDirectory(prefix="labdeck-classify-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        result = predict(store, info, [str(path)])
    for image in result["images"]:
        image["image"] = name
    return result


def _cli(home: Path, argv: list[str]) -> dict[str, Any]:
    """A read-only command of this host's CLI, in a process of its own (``labdeck show gpu1:RUN`` on the viewer):
    its arguments a list, never a shell line."""
    if not argv or argv[0] not in CLI_COMMANDS:
        raise LabdeckError(f"only {', '.join(CLI_COMMANDS)} run on a host this way")
    done = subprocess.run([sys.executable, "-m", "labdeck.engine", *argv, "--home", str(home)],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    return {"code": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def main(home: str | None) -> int:
    """The ``serve --stdio`` command: the protocol owns standard output; anything else printed goes to stderr."""
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr
    return serve(Path(home).expanduser() if home else None, sys.stdin.buffer, stdout)
