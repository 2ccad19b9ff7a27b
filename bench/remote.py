"""Remote-hosts benchmark: the dashboard over loopback SSH (a real OpenSSH server on 127.0.0.1, as the tests start it),
each figure beside the same thing on this machine's own store in the same run.

Run: ``python bench/remote.py [--events 40] [--seconds 20] [--steps 1000000]`` (needs ``openssh-server``; ``.ci/run``
installs it). Measures:
- event on the host -> pixel: the real ``labdeck`` process on a pty (120x40) with a host's run open in its tab; a
  ``Phase`` event written into the host's store, timed until its text arrives on the terminal (p50/p95); the same
  with the run in the local store;
- CPU: the dashboard process (and its ssh clients) over ``--seconds`` with 3 hosts x 5 live runs (each writing a
  batch point every 0.5 s and an epoch every 5 s), on the Runs tab and then following one run; the same 15 runs in
  the local store;
- a 1,000,000-step script run (5 metrics) opened through the link: follow -> its history received (and its size on
  the wire), and the real app (headless, 120x40) from start to the run's metrics view drawn; the same locally.
The remote figures are over loopback, and again over a slow link (``--rate`` bytes/s each way, ``--delay`` s one
way: ssh's ProxyCommand through this script's ``--proxy``) for the latency and the million steps.
Goals (issue 33): event -> pixel p95 <= 300 ms; dashboard < 5% of a core with 3 x 5 live runs; 1 M steps open
in <= 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.huge_run import fill_script
from bench.ui import Terminal
from labdeck.engine import Store, hosts, registry, remote, wire
from labdeck.engine.events import BatchMetrics, EpochMetrics, Phase, RunStarted
from labdeck.engine.feed import EventsUpdate, Feed
from tests import sshd

LABDECK = f"{sys.executable} -m labdeck"


def writer(home: str, count: int, seconds: float) -> None:
    """``count`` live runs in ``home``, claimed by this process: a batch point each every 0.5 s, an epoch every 5."""
    store = Store(home)
    params = registry.get("sequence").resolve({})
    ids = [store.create_run("sequence", params) for _ in range(count)]
    for run_id in ids:
        store.claim(run_id, os.getpid(), psutil.Process().create_time(), "cpu (synthetic)")
        store.emit(RunStarted(run_id, "sequence", params, "cpu (synthetic)", "fp32"))
    step, epoch, end = 0, 0, time.monotonic() + seconds
    while time.monotonic() < end:
        step += 1
        for run_id in ids:
            store.emit(BatchMetrics(run_id, epoch + 1, step, 1.0 / step, 5000.0, step / 1e6, step * 0.5))
        if step % 10 == 0:
            epoch += 1
            for run_id in ids:
                store.log_epoch(run_id, epoch, {"train_loss": 1.0 / epoch, "test_loss": 1.1 / epoch},
                                EpochMetrics(run_id, epoch, 0, {"train_loss": 1.0 / epoch, "test_loss": 1.1 / epoch},
                                             0.01, epoch * 5.0, step / 1e6, step))
        time.sleep(0.5)


def proxy(host: str, port: int, rate: float, delay: float) -> None:
    """ssh's ProxyCommand for a slow link: bytes both ways at ``rate`` bytes/s, each ``delay`` s late."""
    import queue
    import socket
    import threading

    sock = socket.create_connection((host, port))

    def carry(read: Any, write: Any, end: Any) -> threading.Thread:
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def reader() -> None:
            while data := read():
                chunks.put((time.monotonic(), data))
            chunks.put((time.monotonic(), b""))

        def writer() -> None:
            while True:
                sent, data = chunks.get()
                time.sleep(max(0.0, sent + delay - time.monotonic()))
                if not data:
                    end()
                    return
                write(data)
                time.sleep(len(data) / rate)  # the link's bandwidth

        threading.Thread(target=reader, daemon=True).start()
        done = threading.Thread(target=writer, daemon=True)
        done.start()
        return done

    carry(lambda: os.read(0, 16384), sock.sendall, lambda: sock.shutdown(socket.SHUT_WR))
    down = carry(lambda: sock.recv(16384), lambda data: os.write(1, data), lambda: None)
    down.join()
    os._exit(0)


def slow_link(server: sshd.SshServer, rate: float, delay: float) -> str:
    """An ssh host name for the server through a slow link (``proxy``), added to its client config."""
    text = server.config.read_text()
    block = text.split("Host labdeck-nowhere")[0].replace("Host labdeck-test", "Host labdeck-slow")
    server.config.write_text(text + block + f"  ProxyCommand {sys.executable} {Path(__file__).resolve()} --proxy "
                             f"127.0.0.1 {server.port} {rate:g} {delay:g}\n")
    return "labdeck-slow"


def start_writer(home: str, count: int, seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--writer", home, str(count), str(seconds)])


def config(folder: Path, homes: dict[str, str], via: str = "labdeck-test") -> dict[str, str]:
    """A settings folder whose [hosts] are ``homes`` (name -> the host's home) over the test server."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text("".join(
        f'[hosts.{name}]\nssh = "{via}"\ncommand = "{LABDECK}"\nhome = "{home}"\n\n'
        for name, home in homes.items()))
    return {"LABDECK_CONFIG": str(folder)}


def dashboard(home: str, env: dict[str, str]) -> Terminal:
    return Terminal([sys.executable, "-m", "labdeck.tui.launcher", "--home", home], cols=120, rows=40, env=env)


def open_first_run(term: Terminal, run_id: str) -> None:
    """Runs tab, Enter on the one run: it opens in the Sequence tab."""
    term.wait_for(b"Runs", timeout=30)
    term.send(b"4")
    term.wait_for(run_id[-6:].encode(), timeout=30)
    time.sleep(1.0)
    term.send(b"\r")
    time.sleep(1.5)


def event_to_pixel(tmp: Path, env: dict[str, str], remote_home: bool, count: int, via: str = "labdeck-test"
                   ) -> list[float]:
    local = str(tmp / ("local-empty" if remote_home else "local-lat"))
    far = str(tmp / f"far-lat-{via}")
    home = far if remote_home else local
    sleeper = subprocess.Popen(["sleep", "3600"])
    store = Store(home)
    params = registry.get("sequence").resolve({})
    run_id = store.create_run("sequence", params)
    store.claim(run_id, sleeper.pid, psutil.Process(sleeper.pid).create_time(), "cpu (synthetic)")
    store.emit(RunStarted(run_id, "sequence", params, "cpu (synthetic)", "fp32"))
    Store(local).close()
    extra = config(tmp / f"config-lat-{via}", {"box": far}, via) if remote_home else config(tmp / "config-none", {})
    latencies = []
    gaps = random.Random(1)
    try:
        with dashboard(local, {**env, **extra}) as term:
            open_first_run(term, run_id)
            for i in range(count + 3):
                mark = term.mark()
                text = f"mark{i:04d}{'r' if remote_home else 'l'}"
                t0 = time.perf_counter()
                store.emit(Phase(run_id, text))
                t1, _ = term.wait_for(text.encode(), since=mark, timeout=10)
                if i >= 3:  # the first ones warm the view up
                    latencies.append(t1 - t0)
                time.sleep(gaps.uniform(0.2, 0.7))  # not in step with the redraw timer
    finally:
        sleeper.kill()
    return latencies


def cpu_of(proc: psutil.Process, seconds: float) -> tuple[float, float, int]:
    """Percent of a core used by ``proc`` and by its children (ssh) over ``seconds``, and how many children."""
    children = proc.children(recursive=True)

    def times() -> tuple[float, float]:
        own = proc.cpu_times()
        kids = 0.0
        for child in children:
            try:
                t = child.cpu_times()
                kids += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return own.user + own.system, kids

    a, t0 = times(), time.monotonic()
    time.sleep(seconds)
    b, t1 = times(), time.monotonic()
    return 100 * (b[0] - a[0]) / (t1 - t0), 100 * (b[1] - a[1]) / (t1 - t0), len(children)


def serves_cpu(homes: list[str], seconds: float) -> float:
    """The mean percent of a core of each host's ``serve`` process over ``seconds``."""
    procs = [p for p in psutil.process_iter(["cmdline"]) if "serve" in (p.info["cmdline"] or [])
             and any(h in (p.info["cmdline"] or []) for h in homes)]
    a = [sum(p.cpu_times()[:2]) for p in procs]
    t0 = time.monotonic()
    time.sleep(seconds)
    b = [sum(p.cpu_times()[:2]) for p in procs]
    return 100 * (sum(b) - sum(a)) / (time.monotonic() - t0) / max(1, len(procs))


def dashboard_cpu(tmp: Path, env: dict[str, str], remote_homes: bool, seconds: float) -> dict[str, tuple]:
    names = ("gpu1", "gpu2", "gpu3")
    local = str(tmp / ("local-cpu-empty" if remote_homes else "local-cpu"))
    homes = {n: str(tmp / f"far-cpu-{n}") for n in names}
    writers = [start_writer(h, 5, seconds * 2 + 60) for h in (homes.values() if remote_homes else [local] * 3)]
    Store(local).close()
    extra = config(tmp / ("config-cpu" if remote_homes else "config-cpu-none"), homes if remote_homes else {})
    try:
        time.sleep(3)  # the runs exist and write
        out = {}
        with dashboard(local, {**env, **extra}) as term:
            term.wait_for(b"Runs", timeout=30)
            term.send(b"4")
            time.sleep(8)  # every link up, every history read
            proc = psutil.Process(term.proc.pid)
            out["Runs tab, 15 live runs"] = cpu_of(proc, seconds)
            term.send(b"\r")
            time.sleep(3)
            out["a live run followed in its tab"] = cpu_of(proc, seconds)
            if remote_homes:
                out["each host's serve process"] = (serves_cpu(list(homes.values()), seconds), 0.0, 0)
        return out
    finally:
        for w in writers:
            w.kill()


def million_steps(tmp: Path, steps: int, slow: str) -> dict[str, float]:
    far = str(tmp / "far-huge")
    store = Store(far)
    run_id = store.create_run("my-loop", {"lr": 3e-4})
    fill_script(store, run_id, steps)
    store.close()
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    feed = Feed(Store(far, read_only=True))
    feed.follow(run_id)
    updates = [u for u in feed.poll() if isinstance(u, EventsUpdate)]
    out["history read, this machine (s)"] = time.perf_counter() - t0
    out["history on the wire (MB)"] = len(wire.dumps(wire.update_out(updates[0]))) / 1e6
    out["app: open, this machine's store (s)"] = asyncio.run(app_open(far, run_id, None))
    for via, label in (("labdeck-test", "loopback"), (slow, "slow link")):
        got: list[float] = []
        host = hosts.host(via, "box", LABDECK, far)
        link = remote.Link(host, lambda u, got=got: got.append(time.perf_counter())
                           if isinstance(u, EventsUpdate) else None)
        link.start()
        assert link.wait_live(60).state == remote.State.LIVE, link.status
        t0 = time.perf_counter()
        link.follow(run_id)
        while not got:
            time.sleep(0.001)
        out[f"history through the link, {label} (s)"] = got[0] - t0
        link.close()
        out[f"app: open through the link, {label} (s)"] = asyncio.run(
            app_open(str(tmp / f"local-huge-empty-{label}"), f"box:{run_id}", host))
    return out


async def app_open(home: str, run_id: str, host: hosts.Host | None) -> float:
    """The real app from its start to the script run's metrics view drawn (Enter on it in the Runs tab)."""
    from labdeck.tui.app import LabdeckApp
    from labdeck.tui.screens.run_metrics import RunMetricsView
    from labdeck.tui.widgets.line_plot import LinePlot
    from labdeck.tui.widgets.virtual_table import VirtualTable

    t0 = time.perf_counter()
    app = LabdeckApp(home, system_stats=False, hosts=[host] if host else None)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        while not app.mounted or not (table := app.query_one("#runs-table", VirtualTable)).row_count:
            await pilot.pause(0.01)
        table.focus()
        await pilot.press("enter")
        deadline = time.monotonic() + 120
        while True:
            view, state = app.screen, app.model.states.get(run_id)
            if (isinstance(view, RunMetricsView) and state and view._drawn is not None
                    and view._drawn[0] == state.version and state.latest_epoch
                    and all(p.drawn for p in view.query(LinePlot) if p.region.area)):
                break
            assert time.monotonic() < deadline, "never drawn"
            await pilot.pause(0.01)
        opened = time.perf_counter() - t0
    app.links.close()
    return opened


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--rate", type=float, default=1e6, help="the slow link's bytes a second, each way")
    ap.add_argument("--delay", type=float, default=0.05, help="the slow link's one-way delay, seconds")
    ap.add_argument("--writer", nargs=3, metavar=("HOME", "COUNT", "SECONDS"), help=argparse.SUPPRESS)
    ap.add_argument("--proxy", nargs=4, metavar=("HOST", "PORT", "RATE", "DELAY"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.proxy:
        proxy(a.proxy[0], int(a.proxy[1]), float(a.proxy[2]), float(a.proxy[3]))
        return 0
    if a.writer:
        writer(a.writer[0], int(a.writer[1]), float(a.writer[2]))
        return 0
    if not sshd.available():
        print("needs OpenSSH's server (apt-get install openssh-server)", file=sys.stderr)
        return 2
    from bench.common import cpu_features

    print(f"machine: {cpu_features()}")
    tmp = Path(tempfile.mkdtemp(prefix="labdeck-bench-remote-"))
    server = sshd.start(tmp / "sshd", {"OMP_NUM_THREADS": "1", "LABDECK_WATCHDOG": "0"})
    env = {"LABDECK_SSH": server.ssh, "LABDECK_WATCHDOG": "0"}
    os.environ.update(env)
    slow = slow_link(server, a.rate, a.delay)
    try:
        print(f"\nevent on the host -> pixel on the terminal, {a.events} Phase events, 120x40:")
        for label, far, via in (("this machine's store", False, ""), ("a host over loopback ssh", True, "labdeck-test"),
                                (f"slow link ({a.rate / 1e6:g} MB/s, {1000 * a.delay:g} ms)", True, slow)):
            lat = event_to_pixel(tmp, env, far, a.events, via or "labdeck-test")
            print(f"  {label:26s} p50 {1000 * statistics.median(lat):6.0f} ms  p95 {1000 * pct(lat, 0.95):6.0f} ms  "
                  f"max {1000 * max(lat):6.0f} ms")
        print(f"\ndashboard CPU over {a.seconds:g} s, % of one core (the dashboard process / its ssh clients):")
        for label, far in (("15 live runs here", False), ("3 hosts x 5 live runs", True)):
            for view, (own, kids, n) in dashboard_cpu(tmp, env, far, a.seconds).items():
                print(f"  {label:22s} {view:32s} {own:5.1f}%  / {kids:4.1f}% ({n} ssh)")
        print(f"\na script run of {a.steps:,} steps x 5 metrics:")
        for key, value in million_steps(tmp, a.steps, slow).items():
            print(f"  {key:44s} {value:7.3f}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
