"""A link to another machine's labdeck through the user's own OpenSSH client: ``ssh -T HOST labdeck serve --stdio``.

The user's ``~/.ssh/config``, keys, agent, ProxyJump and ControlMaster apply as they do to any ssh; ``BatchMode``
keeps a password prompt from ever being asked. A link that drops or stalls is opened again with backoff and
follows each run from its cursor: the viewer gets what it missed, nothing twice. What goes wrong is a status
(``HostStatus``) with one line saying what to do, never an exception in the viewer.
"""

from __future__ import annotations

import base64
import itertools
import os
import queue
import shlex
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from . import wire
from .errors import LabdeckError, one_line
from .feed import AlertsUpdate, EventsUpdate, Update
from .hosts import Host, HostError
from .version import version

CONNECT_SECONDS = 20.0  # from starting ssh to the host's hello
STALL_SECONDS = 6.0  # a host says something each second: this long without a line, the link is stalled
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)  # seconds before each try after a failure, the last repeated
SSH_OPTIONS = ("-T", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2",
               "-o", "ConnectTimeout=10")


class State(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    UNREACHABLE = "unreachable"
    REFUSED = "login refused"
    MISSING = "labdeck missing"
    VERSION = "other version"
    STALLED = "stalled"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True)
class HostStatus:
    name: str
    state: State
    detail: str = ""  # what is wrong and what to do, one line ("" while live)
    seen: float = 0.0  # when the host last said something (Unix time; 0: never)
    version: str = ""  # the host's labdeck


class HostUnavailable(LabdeckError):
    """A call to a host that is not linked now (its status says why)."""


class Refused(HostError):
    """A host refused a call as bad input (no such run, a wrong value): the CLI exits 2, as it would there."""


def ssh_argv(host: Host) -> list[str]:
    """The ssh command: ``LABDECK_SSH`` (like ``GIT_SSH_COMMAND``: ``ssh -F my_config``) or ``ssh``, the options
    that keep it quiet and prompt-free, the destination, and the one command line the host runs."""
    base = shlex.split(os.environ.get("LABDECK_SSH", "ssh"))
    return [*base, *SSH_OPTIONS, "--", host.destination, host.remote_line()]


def diagnose(host: Host, code: int | None, stderr: str) -> tuple[State, str]:
    """Why a link ended before (or without) a host's hello, from ssh's exit status and what it wrote."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else f"ssh exited with status {code}"
    low = stderr.lower()
    program = " ".join(host.command)
    if "invalid choice: 'serve'" in low or "invalid choice: serve" in low:
        return State.VERSION, (f"{host.name} has a labdeck without 'serve' (an older one): install labdeck "
                               f"{version()} there")
    if code == 255:
        if "host key verification failed" in low or "remote host identification has changed" in low:
            return State.REFUSED, (f"{host.name}: ssh does not know its host key ({last}); ssh {host.destination} "
                                   f"once in a terminal to check it")
        if "permission denied" in low or "too many authentication failures" in low:
            return State.REFUSED, (f"{host.name}: ssh login refused ({last}); labdeck never asks for a password: "
                                   f"load a key into ssh-agent or name one in ~/.ssh/config")
        return State.UNREACHABLE, f"{host.name}: {last}"
    if code == 127 or "command not found" in low or "no such file or directory" in low:
        return State.MISSING, (f"{host.name}: {program!r} is not there ({last}); install labdeck on it, or set "
                               f"command = \"/path/to/venv/bin/labdeck\" under [hosts.{host.name}]")
    return State.FAILED, f"{host.name}: {last}"


def unpack_report(files: dict[str, str], folder: Path) -> Path:
    """Write a report a host sent (``{relative name: base64}``) into ``folder``; returns its report.md. A name
    that would land outside ``folder`` is refused."""
    folder = folder.expanduser()
    for name, data in files.items():
        path = folder / name
        if folder.resolve() not in path.resolve().parents:
            raise LabdeckError(f"a report file outside its folder was refused: {name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
    return folder / "report.md"


class Link:
    """One host's feed and calls. ``on_update`` gets the host's updates (run ids as ``NAME:RUN``) and
    ``on_status`` each change of its state, both from the link's thread."""

    def __init__(self, host: Host, on_update: Callable[[Update], None],
                 on_status: Callable[[HostStatus], None] = lambda status: None):
        self.host, self.on_update, self.on_status = host, on_update, on_status
        self.status = HostStatus(host.name, State.CONNECTING)
        self._lock = threading.Lock()
        self._followed: dict[str, tuple[int, dict[str, int]]] = {}  # bare run id -> (cursor, counts)
        self._alerts_after: int | None = None
        self._stdin: IO[bytes] | None = None  # the live session's, None between sessions
        self._proc: subprocess.Popen[bytes] | None = None
        # call id -> (answered, the answer, what takes its parts)
        self._pending: dict[int, tuple[threading.Event, list[dict[str, Any]], Callable[[str], object] | None]] = {}
        self._ids = itertools.count(1)
        self._closing = threading.Event()
        self.thread: threading.Thread | None = None
        self.sessions = 0  # links opened (a test reads how many reconnects there were)

    # -- what the viewer asks -------------------------------------------------------------------------------
    def start(self) -> Link:
        self.thread = threading.Thread(target=self._run, name=f"labdeck-link-{self.host.name}", daemon=True)
        self.thread.start()
        return self

    def follow(self, run_id: str) -> None:
        """Follow the host's run ``run_id`` (its bare id) from its start."""
        with self._lock:
            if run_id in self._followed:
                return
            self._followed[run_id] = (0, {})
        self._send({"t": "follow", "run": run_id, "cursor": 0})

    def call(self, op: str, timeout: float = 60.0, on_part: Callable[[str], object] | None = None, **args: Any
             ) -> Any:
        """Ask the host to do ``op`` (pause, resume, stop, delete, start, report, gpus, cli, generate,
        classify); its answer, or a ``LabdeckError`` with its one line. ``on_part``: takes what a long call sends
        before its answer (a generated text's parts), from the link's thread; returning False ends the call there."""
        done, answer = threading.Event(), list[dict[str, Any]]()
        call_id = next(self._ids)
        with self._lock:
            self._pending[call_id] = (done, answer, on_part)
        if not self._send({"t": "call", "id": call_id, "op": op, "args": args}):
            with self._lock:
                self._pending.pop(call_id, None)
            raise HostUnavailable(self.status.detail or f"{self.host.name} is {self.status.state}")
        if not done.wait(timeout):
            with self._lock:
                self._pending.pop(call_id, None)
            raise HostUnavailable(f"{self.host.name} did not answer {op} within {timeout:g} s")
        reply = answer[0]
        if not reply.get("ok"):
            error = Refused if reply.get("bad_input") else LabdeckError
            raise error(f"{self.host.name}: {reply.get('error') or 'the call failed'}")
        return reply.get("value")

    def wait_live(self, timeout: float) -> HostStatus:
        """The host's status once it is live or has failed its first try (a CLI command waits for it)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.status.state == State.CONNECTING and not self._closing.is_set():
            time.sleep(0.02)
        return self.status

    def close(self, wait: bool = True) -> None:
        """End the link: the host's serve sees its input end and exits; the runs there go on. ``wait``: for the
        ssh process to end (else only its input is closed)."""
        self._closing.set()
        with self._lock:
            stdin, proc = self._stdin, self._proc
            self._stdin = None
        if stdin is not None:
            try:
                stdin.close()
            except OSError:
                pass
        if not wait:
            return
        if proc is not None:
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(5)

    def kill_transport(self) -> None:
        """Kill the ssh process as a dropped network would (the link reconnects)."""
        with self._lock:
            proc = self._proc
        if proc is not None:
            proc.kill()

    # -- the link's thread --------------------------------------------------------------------------------------
    def _set(self, state: State, detail: str = "", **changes: Any) -> None:
        old = self.status
        self.status = HostStatus(self.host.name, state, detail, changes.get("seen", old.seen),
                                 changes.get("version", old.version))
        if (old.state, old.detail) != (state, detail):
            self.on_status(self.status)

    def _send(self, message: dict[str, Any]) -> bool:
        with self._lock:
            stdin = self._stdin
            if stdin is None:
                return False
            try:
                stdin.write(wire.dumps(message).encode())
                stdin.flush()
            except (OSError, ValueError):
                return False
        return True

    def _run(self) -> None:
        failures = 0
        while not self._closing.is_set():
            live = self._session()
            if self._closing.is_set():
                break
            failures = 0 if live else failures + 1
            wait = BACKOFF[min(failures, len(BACKOFF) - 1)]
            if self._closing.wait(wait):
                break
        self._set(State.CLOSED, "")

    def _session(self) -> bool:
        """One ssh process, from its start to its end; whether it reached the host's labdeck."""
        self.sessions += 1
        try:
            proc = subprocess.Popen(ssh_argv(self.host), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            self._set(State.FAILED, f"{self.host.name}: ssh could not start ({exc}); install OpenSSH's client")
            return False
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        lines: queue.Queue[bytes | None] = queue.Queue()
        errors: deque[str] = deque(maxlen=40)

        def read_out(stream: IO[bytes]) -> None:
            for line in stream:
                lines.put(line)
            lines.put(None)

        def read_err(stream: IO[bytes]) -> None:
            for line in stream:
                errors.append(line.decode(errors="replace"))

        threading.Thread(target=read_out, args=(proc.stdout,), daemon=True).start()
        err_reader = threading.Thread(target=read_err, args=(proc.stderr,), daemon=True)
        err_reader.start()
        with self._lock:
            self._proc = proc
        hello = False
        try:
            hello = self._converse(proc, lines)
        finally:
            with self._lock:
                self._stdin, self._proc = None, None
                pending, self._pending = self._pending, {}
            for done, answer, _ in pending.values():
                answer.append({"ok": False, "error": f"the link to {self.host.name} dropped before it answered"})
                done.set()
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                code = proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        if self._closing.is_set():
            return hello
        if self.status.state == State.VERSION or self.status.state == State.STALLED:
            return hello
        if hello:
            self._set(State.UNREACHABLE, f"{self.host.name}: the link dropped; reconnecting")
        else:
            err_reader.join(1)  # ssh has exited: its last words are read to the end
            self._set(*diagnose(self.host, code, "".join(errors)))
        return hello

    def _converse(self, proc: subprocess.Popen[bytes], lines: queue.Queue[bytes | None]) -> bool:
        """Read the host's lines until the link ends; whether the host said hello."""
        assert proc.stdin is not None
        try:
            first = lines.get(timeout=CONNECT_SECONDS)
        except queue.Empty:
            self._set(State.UNREACHABLE, f"{self.host.name}: no answer within {CONNECT_SECONDS:g} s")
            proc.kill()
            return False
        if first is None:
            return False
        try:
            hello = wire.loads(first)
        except wire.WireError:
            self._set(State.FAILED, f"{self.host.name}: {' '.join(self.host.command)} serve printed "
                                    f"{first[:60].decode(errors='replace').strip()!r}, not labdeck's hello")
            return False
        if hello.get("t") != "hello" or hello.get("protocol") != wire.PROTOCOL:
            self._set(State.VERSION, f"{self.host.name} has labdeck {hello.get('version', '?')} (protocol "
                                     f"{hello.get('protocol', '?')}); this is {version()} (protocol "
                                     f"{wire.PROTOCOL}): install the same version on both",
                      version=str(hello.get("version", "")))
            return False
        try:
            proc.stdin.write(wire.dumps({"t": "hello", "protocol": wire.PROTOCOL, "version": version(),
                                         "alerts_after": self._alerts_after}).encode())
            proc.stdin.flush()
        except OSError:
            return True
        with self._lock:  # from here a follow is sent by whoever asks for it, and those before by this thread
            self._stdin = proc.stdin
            follows = dict(self._followed)
        for run_id, (cursor, counts) in follows.items():
            self._send({"t": "follow", "run": run_id, "cursor": cursor, "counts": counts or None})
        self._set(State.LIVE, "", seen=time.time(), version=str(hello.get("version", "")))
        while not self._closing.is_set():
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                line = b""
            if line is None:
                return True
            now = time.time()
            if not line:
                if now - self.status.seen > STALL_SECONDS:
                    self._set(State.STALLED, f"{self.host.name}: nothing for {now - self.status.seen:.0f} s; "
                                             f"reconnecting")
                    proc.kill()
                    return True
                continue
            self.status = HostStatus(self.host.name, self.status.state, self.status.detail, now,
                                     self.status.version)
            try:
                self._handle(wire.loads(line))
            except wire.WireError as exc:
                self._set(State.FAILED, f"{self.host.name}: {exc}")
        return True

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["t"]
        if kind == "reply":
            with self._lock:
                waiter = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
            if waiter is not None:
                waiter[1].append(message)
                waiter[0].set()
            return
        if kind == "part":
            with self._lock:
                waiter = self._pending.get(message.get("id"))  # type: ignore[arg-type]
            if waiter is not None and waiter[2] is not None:
                try:
                    wanted = waiter[2](str(message.get("text") or ""))
                except Exception as exc:  # the viewer's own bug: said as this host's status, the link goes on
                    self._set(State.FAILED, f"{self.host.name}: taking a call's part failed: {one_line(exc)}")
                    wanted = False
                if wanted is False:  # the viewer wants no more of it: the host ends the call
                    self._send({"t": "cancel", "id": message.get("id")})
            return
        if kind in ("tick", "hello"):
            return
        if kind == "error":
            self._set(State.FAILED, f"{self.host.name}: {message.get('error')}")
            return
        update = wire.update_in(message, self.host.name)
        if isinstance(update, EventsUpdate):
            with self._lock:
                if message["run"] in self._followed:
                    self._followed[message["run"]] = (update.cursor, dict(update.counts))
        elif isinstance(update, AlertsUpdate) and update.alerts:
            self._alerts_after = max(int(a["id"]) for a in message["alerts"])
        try:
            self.on_update(update)
        except Exception as exc:  # the viewer's own bug: said as this host's status, the link goes on
            self._set(State.FAILED, f"{self.host.name}: showing its update failed: {type(exc).__name__}: {exc}")
