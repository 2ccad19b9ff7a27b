"""Dashboard benchmark: the real ``labdeck`` process in a pseudo-terminal.

Run: ``python bench/ui.py``. Measures, in one run on this machine:
- first paint: launch to the first frame that shows the tab bar, beside the same for a bare Textual app with the
  same frame (``bench/minimal_app.py``: what Python and Textual alone cost here); then launch to the first tab's
  form on screen, and to its run view (the "Curves" tab beside the form), which are mounted after the first paint;
- key-press to screen update while a run trains and its curves redraw (p50/p99, help screen opened and closed),
  beside arrow keys in a bare Textual table app with no run training;
- the dashboard's RSS, and that it never loads torch;
- throughput of the same training run headless vs watched by the dashboard, two ways: separate runs, alternated
  (medians), and one long run with the dashboard alternately frozen (SIGSTOP: no CPU, as if closed) and watching, in
  windows of a few seconds (the VM's speed drifts by tens of percent between identical runs; adjacent windows cancel
  that drift out).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

import psutil

from labdeck.engine import registry
from labdeck.engine.params import BUDGET

RUN = ["--set", "epochs=25", "--set", "seed=1"]
SEQUENCE_KEY = b"2"  # tabs: 1 Vision, 2 Sequence, 3 Language, 4 Runs, 5 Sweeps


class Terminal:
    """A child process on a pty, with everything it writes recorded with arrival times."""

    def __init__(self, argv: list[str], cols: int = 120, rows: int = 36, env: dict | None = None):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.t_start = time.perf_counter()
        # a dashboard starts on the tab it was last left on: each benchmark's starts where a first launch does
        state = {"LABDECK_STATE": tempfile.mkdtemp(prefix="labdeck-bench-state-")}
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                     env={**os.environ, "TERM": "xterm-256color", **state, **(env or {})})
        os.close(slave)
        self.master = master
        self.chunks: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while not self._stop:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    return
                with self.lock:
                    self.chunks.append((time.perf_counter(), data))

    def wait_for(self, marker: bytes, since: int = 0, timeout: float = 20.0) -> tuple[float, int]:
        """Arrival time of the chunk that completes ``marker`` in the output after chunk ``since``."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                chunks = list(self.chunks[since:])
            buf = b""
            for i, (t, data) in enumerate(chunks):
                buf += data
                if marker in buf:
                    return t, since + i + 1
            time.sleep(0.002)
        raise TimeoutError(f"{marker!r} never appeared")

    def mark(self) -> int:
        with self.lock:
            return len(self.chunks)

    def send(self, keys: bytes) -> float:
        t = time.perf_counter()
        os.write(self.master, keys)
        return t

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._stop:
            return
        self._stop = True
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        os.close(self.master)


def dashboard(home: str) -> Terminal:
    # As a user's shell runs it: bytecode caches are written and reused.
    return Terminal([sys.executable, "-m", "labdeck.tui.launcher", "--home", home], env={"PYTHONDONTWRITEBYTECODE": ""})


MINIMAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "minimal_app.py")


def floors(keys: int) -> tuple[list[float], list[float]]:
    """First paints of a bare Textual app with labdeck's frame, and arrow-key latencies in a bare table app."""
    env = {"PYTHONDONTWRITEBYTECODE": ""}
    paints = []
    for _ in range(5):
        with Terminal([sys.executable, MINIMAL], env=env) as term:
            t, _ = term.wait_for(b"Runs")
            paints.append(t - term.t_start)
    arrows = []
    with Terminal([sys.executable, MINIMAL, "--table"], env=env) as term:
        term.wait_for(b"param00")
        time.sleep(1)
        row = 0
        for i in range(keys):
            step = 1 if (i // 26) % 2 == 0 else -1
            row += step
            since = term.mark()
            sent = term.send(b"\x1b[B" if step > 0 else b"\x1b[A")
            t, _ = term.wait_for(b"HELP%02dxx" % row, since)
            arrows.append((t - sent) * 1000)
            time.sleep(0.1)
    return paints, arrows


def train_seconds(home: str) -> float:
    out = subprocess.run([sys.executable, "-m", "labdeck.engine", "--home", home, "run", "sequence", *RUN, "--json"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["train_seconds"]


def start_long_run(home: str, cores: set[int] | None = None) -> str:
    """A run in the background; with ``cores``, its process (the CLI's detached worker inherits it) uses only those:
    the others stay idle, as when training runs on a GPU."""
    pin = (lambda: os.sched_setaffinity(0, cores)) if cores else None
    return subprocess.run([sys.executable, "-m", "labdeck.engine", "--home", home, "run", "sequence",
                           "--set", "epochs=100000", "--detach"], capture_output=True, text=True,
                          check=True, preexec_fn=pin).stdout.strip()


def pace_while_training(home: str, cores: set[int] | None) -> tuple[float, str]:
    """The redraw rate (Hz) the dashboard settles on while a run trains, as its help screen states it, and the
    run's device line (its threads)."""
    import re

    run_id = start_long_run(home, cores)
    try:
        with dashboard(home) as term:
            term.wait_for(b"Curves")
            term.send(SEQUENCE_KEY)
            time.sleep(12)  # the run streams epochs; the pace has adapted (it moves by 1.5x a tick)
            since = term.mark()
            term.send(b"?")
            term.wait_for(b"Hz", since)
            time.sleep(0.3)
            with term.lock:
                text = b"".join(data for _, data in term.chunks[since:]).decode(errors="replace")
            hertz = float(re.findall(r"redrawing at ([0-9.]+) Hz", text)[-1])
        show = subprocess.run([sys.executable, "-m", "labdeck.engine", "--home", home, "show", run_id, "--json"],
                              capture_output=True, text=True, check=True)
        return hertz, json.loads(show.stdout)["device"]
    finally:
        stop_run(home, run_id)


def stop_run(home: str, run_id: str) -> None:
    subprocess.run([sys.executable, "-m", "labdeck.engine", "--home", home, "stop", run_id], capture_output=True)
    for _ in range(100):  # let it write its last checkpoint before the folder goes
        show = subprocess.run([sys.executable, "-m", "labdeck.engine", "--home", home, "show", run_id, "--json"],
                              capture_output=True, text=True)
        if json.loads(show.stdout or "{}").get("status") not in ("queued", "running", "paused"):
            break
        time.sleep(0.2)


def interleaved(home: str, pairs: int, window: float = 4.0) -> tuple[list[float], list[float], list[float]]:
    """(watched / frozen training rate, dashboard CPU in cores, frozen / frozen rate) per adjacent pair of windows
    of one long run.

    The rate is what the run itself reports: the mean samples/s of its batch logs within a window (training steps
    only, as ``train_seconds`` counts them). The frozen / frozen pairs, taken the same way between the others, show
    how much two windows differ with nothing changed: this VM's own noise.
    """
    from labdeck.engine import Store
    from labdeck.engine.events import BatchMetrics

    run_id = start_long_run(home)
    store = Store(home)

    def rate() -> float:
        start = store.last_event_id()
        time.sleep(window)
        speeds = [e.samples_per_second for _, e in store.events(run_id, after=start) if isinstance(e, BatchMetrics)]
        return statistics.mean(speeds)

    ratios, cpu, control = [], [], []
    try:
        with dashboard(home) as term:
            term.wait_for(b"Curves")
            time.sleep(2)
            term.send(SEQUENCE_KEY)
            time.sleep(3)  # the run's history loaded and drawn
            proc = psutil.Process(term.proc.pid)
            os.kill(term.proc.pid, signal.SIGSTOP)
            time.sleep(0.5)
            try:
                for _ in range(pairs):
                    frozen = rate()
                    os.kill(term.proc.pid, signal.SIGCONT)
                    time.sleep(1.0)  # it catches up on the events it missed
                    cpu0, t0 = sum(proc.cpu_times()[:2]), time.perf_counter()
                    watched = rate()
                    cpu.append((sum(proc.cpu_times()[:2]) - cpu0) / (time.perf_counter() - t0))
                    ratios.append(watched / frozen)
                    os.kill(term.proc.pid, signal.SIGSTOP)
                    time.sleep(0.5)
                    first = rate()
                    time.sleep(1.0)  # the same gap as above, nothing else changed
                    control.append(rate() / first)
            finally:
                os.kill(term.proc.pid, signal.SIGCONT)
    finally:
        store.close()
        stop_run(home, run_id)
    return ratios, cpu, control


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3, help="headless/watched run pairs")
    ap.add_argument("--keys", type=int, default=60, help="key presses timed")
    ap.add_argument("--windows", type=int, default=15, help="frozen/watching window pairs of one long run")
    a = ap.parse_args()
    floor_paints, floor_arrows = floors(a.keys)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as home:
        subprocess.run([sys.executable, "-m", "labdeck.engine", "--home", home, "run", "sequence", "--set", "epochs=1"],
                       capture_output=True, check=True)  # warm caches (precision probe, page cache)

        # First paint, then the first form and its run view, five launches.
        form_marker = registry.specs()[0].summary[:24].encode()
        paints, forms, views = [], [], []
        for _ in range(5):
            with dashboard(home) as term:
                t, since = term.wait_for(b"Runs")
                paints.append(t - term.t_start)
                t, since = term.wait_for(form_marker, since)
                forms.append(t - term.t_start)
                t, _ = term.wait_for(b"Curves", since)
                views.append(t - term.t_start)

        # Throughput: the same run headless and watched by the dashboard, alternated against drift.
        headless, watched, dashboard_cpu = [], [], []
        for _ in range(a.pairs):
            headless.append(train_seconds(home))
            with dashboard(home) as term:
                term.wait_for(b"Curves")
                time.sleep(2)  # every tab mounted: what is measured is watching, not starting
                term.send(SEQUENCE_KEY)  # the tab that follows the newest sequence run: the one about to start
                proc = psutil.Process(term.proc.pid)
                cpu0, t0 = sum(proc.cpu_times()[:2]), time.perf_counter()
                watched.append(train_seconds(home))
                dashboard_cpu.append((sum(proc.cpu_times()[:2]) - cpu0) / (time.perf_counter() - t0))

        window_ratios, window_cpu, control = interleaved(home, a.windows)
        (pace_free, device_free), (pace_idle_core, device_pinned) = (pace_while_training(home, None),
                                                                     pace_while_training(home, {0}))

        # Key-press latency and memory while a run trains in the background.
        run_id = start_long_run(home)
        term = dashboard(home)
        try:
            term.wait_for(b"Runs")
            subprocess.run([sys.executable, "-m", "labdeck.engine", "--home", home, "show", run_id], check=True,
                           capture_output=True)
            time.sleep(6)  # the run process starts (imports torch) and streams epochs
            # the form's rows: the experiment's parameters, with the budget row after the epochs
            rows = [q for p in registry.get("sequence").params for q in ((p, BUDGET) if p.name == "epochs" else (p,))]
            helps = [p.help[:9].encode() for p in rows]
            since = term.mark()
            term.send(SEQUENCE_KEY)  # the Sequence tab, its form focused on the first parameter
            term.wait_for(helps[0], since)
            arrows, help_keys = [], []
            row = 0
            for i in range(a.keys):
                # Down/up through the form: the help line under it names each parameter's purpose.
                step = 1 if (i // (len(helps) - 1)) % 2 == 0 else -1
                row += step
                since = term.mark()
                sent = term.send(b"\x1b[B" if step > 0 else b"\x1b[A")
                t, _ = term.wait_for(helps[row], since)
                arrows.append((t - sent) * 1000)
                time.sleep(0.1)
            for i in range(20):
                # "?" opens the help screen (its title is written nowhere else) and closes it again (the dashboard,
                # live plots and all, is repainted in full: its buttons say "Pause").
                marker = b"labdeck keys" if i % 2 == 0 else b"Pause"
                since = term.mark()
                sent = term.send(b"?")
                t, _ = term.wait_for(marker, since)
                help_keys.append((t - sent) * 1000)
                time.sleep(0.15)
            proc = psutil.Process(term.proc.pid)
            rss = proc.memory_info().rss / 2**20
            torch_loaded = any("libtorch" in m.path for m in proc.memory_maps())
        finally:
            term.close()
            stop_run(home, run_id)

    def pct(values, q):
        values = sorted(values)
        return values[min(len(values) - 1, round(q * (len(values) - 1)))]

    print(f"first paint: median {statistics.median(paints) * 1000:.0f} ms (runs: "
          + ", ".join(f"{p * 1000:.0f}" for p in paints) + " ms; goal <= 500 ms); a bare Textual app with the same "
          f"frame: median {statistics.median(floor_paints) * 1000:.0f} ms; the first form on screen: median "
          f"{statistics.median(forms) * 1000:.0f} ms, its run view: median {statistics.median(views) * 1000:.0f} ms")
    print(f"key-press to screen update while a run trains: arrow keys in the form p50 {pct(arrows, .5):.1f} ms, "
          f"p99 {pct(arrows, .99):.1f} ms over {len(arrows)} presses (goal p99 <= 50 ms); opening/closing the help "
          f"screen p50 {pct(help_keys, .5):.1f} ms, p99 {pct(help_keys, .99):.1f} ms; a bare Textual table, "
          f"nothing training: p50 {pct(floor_arrows, .5):.1f} ms, p99 {pct(floor_arrows, .99):.1f} ms")
    print(f"dashboard RSS {rss:.0f} MB (goal <= 200 MB); torch loaded in the dashboard: {torch_loaded}")
    ratio = statistics.median(headless) / statistics.median(watched)
    print(f"training time of the same run: headless median {statistics.median(headless):.2f} s, watched median "
          f"{statistics.median(watched):.2f} s -> watched keeps {ratio:.1%} of headless throughput (goal >= 97%); "
          f"the dashboard used {statistics.median(dashboard_cpu):.0%} of a core meanwhile (median)")
    kept = statistics.median(window_ratios)
    print(f"one long run, the dashboard frozen vs watching in {len(window_ratios)} pairs of adjacent windows: watching "
          f"keeps {kept:.1%} of the frozen rate (median; quartiles {pct(window_ratios, .25):.1%}-"
          f"{pct(window_ratios, .75):.1%}; goal >= 97%), the dashboard using {statistics.median(window_cpu):.0%} of a "
          f"core while watching; with nothing changed (frozen vs frozen) two windows differ by quartiles "
          f"{pct(control, .25):.1%}-{pct(control, .75):.1%} (median {statistics.median(control):.1%})")
    print(f"redraw pace while a run trains: {pace_free:.1f} Hz with the run free to use every core ({device_free}), "
          f"{pace_idle_core:.1f} Hz with it pinned to one core, the other idle ({device_pinned}; goal >= 4 Hz)")
    ok = (pace_idle_core >= 4 and statistics.median(paints) <= 0.5 and pct(arrows, .99) <= 50 and rss <= 200
          and not torch_loaded
          and kept >= 0.97 and ratio >= 0.97)
    print("goals:", "met" if ok else "NOT all met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
