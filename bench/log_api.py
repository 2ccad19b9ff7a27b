"""A million steps from a script: labdeck's logging API beside Trackio and TensorBoard's SummaryWriter, same run.

    python bench/log_api.py [--steps 1000000] [--peers-venv bench/out/peers]

Each logger runs in a fresh process of its own, the same loop: 5 metrics a step (a decaying loss with noise, one
NaN, one spike), each call timed. Measured for each:
- per call, in the loop's thread: median and p99 (a step's 5 metrics: one ``log`` call; 5 ``add_scalar`` calls);
- the process's memory above its start: the highest RSS sampled during the loop, and after finish;
- finish: until the data is durable (labdeck ``finish``, Trackio ``finish``, SummaryWriter ``close``);
- first view: what each one's own viewer reads to open the run (labdeck: the dashboard's replay, decimated
  series; Trackio: its server's ``get_logs(max_points=3000)``; TensorBoard: an EventAccumulator's Reload with its
  default sampling), in a fresh process after finish;
- bytes on disk per point.
Goals (issue: a million steps): labdeck's log <= 10 us median, <= 100 us p99, at least as cheap as the cheaper peer;
finish <= 1 s; memory within 50 MB of the start; <= 40 bytes a point; from the loop's end to the run on screen
(finish + first view) faster than both peers. SummaryWriter writes during the loop (its per-call cost), so its close
alone is near 0: both parts are printed.

Trackio pins pillow < 13, which labdeck's own range excludes: it gets a virtual environment of its own
(``--peers-venv``, made with ``pip install trackio`` on first use). TensorBoard runs in this environment (the
``tensorboard`` extra; ``torch.utils.tensorboard``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from array import array

TRACKIO = "trackio==0.43.0"
NAMES = ("loss", "acc", "lr", "grad_norm", "tokens_per_s")


def metrics(step: int, n: int) -> dict[str, float]:
    loss = 1.0 / (1.0 + step * 1e-4) + ((step * 7919) % 1000) * 1e-5
    if step == n // 3:
        loss = float("nan")
    elif step == n // 2:
        loss = 50.0
    return {"loss": loss, "acc": 1.0 - loss / 2, "lr": 3e-4, "grad_norm": 1.0 + (step % 17) * 0.1,
            "tokens_per_s": 51234.0 + step % 100}


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def loop(log, n: int) -> tuple[array, int]:
    costs = array("d")
    peak = rss()
    clock = time.perf_counter_ns
    for step in range(n):
        m = metrics(step, n)
        t0 = clock()
        log(m, step)
        costs.append(clock() - t0)
        if not step % 50_000:
            peak = max(peak, rss())
    return costs, peak


def one(kind: str, n: int, where: str) -> dict:
    """Log ``n`` steps with one logger in this process; returns its figures."""
    os.makedirs(where, exist_ok=True)
    if kind == "labdeck":
        import labdeck

        base = rss()
        run = labdeck.init("bench", {"steps": n}, home=where, system=False)

        def log(m, step):
            run.log(m, step=step)

        close, ident = run.finish, run.id
    elif kind == "trackio":
        os.environ["TRACKIO_DIR"] = where
        import trackio

        base = rss()
        trackio.init(project="bench", name="bench", config={"steps": n})

        def log(m, step):
            trackio.log(m, step=step)

        close, ident = trackio.finish, "bench"
    else:
        from torch.utils.tensorboard import SummaryWriter

        base = rss()
        writer = SummaryWriter(log_dir=where)

        def log(m, step):
            for key, value in m.items():
                writer.add_scalar(key, value, step)

        close, ident = writer.close, where
    t0 = time.perf_counter()
    costs, peak = loop(log, n)
    looped = time.perf_counter() - t0
    t0 = time.perf_counter()
    close()
    finished = time.perf_counter() - t0
    after = rss()
    costs = sorted(costs)
    return {"kind": kind, "median_us": costs[len(costs) // 2] / 1000, "p99_us": costs[int(len(costs) * 0.99)] / 1000,
            "loop_s": looped, "finish_s": finished, "peak_mb": (peak - base) / 2**20,
            "after_mb": (after - base) / 2**20,
            "ident": ident}


def first_view(kind: str, where: str, ident: str) -> dict:
    """Open the run as its own viewer does, in this fresh process."""
    t0 = time.perf_counter()
    if kind == "labdeck":
        from labdeck.engine import Store

        store = Store(where, read_only=True)
        _, events = store.replay(ident, series=True)
        points = sum(len(xs) for xs, _ in events[-1].series.values())
    elif kind == "trackio":
        os.environ["TRACKIO_DIR"] = where
        from trackio.sqlite_storage import SQLiteStorage

        points = len(SQLiteStorage.get_logs("bench", "bench", max_points=3000))
    else:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(where)
        acc.Reload()
        points = sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])
    return {"view_s": time.perf_counter() - t0, "view_points": points}


def size(where: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(where) for f in files)


def peers_python(venv: str) -> str | None:
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print(f"making {venv} for Trackio ({TRACKIO}) ...", file=sys.stderr, flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", TRACKIO], check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"Trackio not measured: {exc}", file=sys.stderr)
            return None
    return python


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--peers-venv", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "peers"))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--view", help=argparse.SUPPRESS)
    ap.add_argument("--where", help=argparse.SUPPRESS)
    ap.add_argument("--ident", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.steps, a.where)))
        return 0
    if a.view:
        print(json.dumps(first_view(a.view, a.where, a.ident)))
        return 0
    here = os.path.abspath(__file__)
    pythons = {"labdeck": sys.executable, "trackio": peers_python(a.peers_venv), "tensorboard": sys.executable}
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {a.steps:,} steps x {len(NAMES)} metrics, each logger in a process of its own")
    results = {}
    with tempfile.TemporaryDirectory() as top:
        for kind, python in pythons.items():
            if python is None:
                continue
            where = os.path.join(top, kind)
            done = subprocess.run([python, here, "--one", kind, "--steps", str(a.steps), "--where", where],
                                  capture_output=True, text=True)
            if done.returncode:
                print(f"{kind}: failed\n{done.stderr[-2000:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            view = subprocess.run([python, here, "--view", kind, "--where", where, "--ident", r["ident"]],
                                  capture_output=True, text=True)
            r.update(json.loads(view.stdout.strip().splitlines()[-1]) if view.returncode == 0 else
                     {"view_s": float("nan"), "view_points": 0})
            r["bytes_per_point"] = size(where) / (a.steps * len(NAMES))
            results[kind] = r
            print(f"{kind:12s} log median {r['median_us']:6.2f} us  p99 {r['p99_us']:7.2f} us  "
                  f"loop {r['loop_s']:6.1f} s  finish {r['finish_s']:7.2f} s  first view {r['view_s']:6.2f} s "
                  f"({r['view_points']:,} points)  "
                  f"memory +{r['peak_mb']:.0f} MB peak, +{r['after_mb']:.0f} MB after  "
                  f"{r['bytes_per_point']:.1f} bytes/point", flush=True)
    me = results.get("labdeck")
    if me is None:
        return 1
    peers = [r for k, r in results.items() if k != "labdeck"]
    goals = {
        "log <= 10 us median, <= 100 us p99": me["median_us"] <= 10 and me["p99_us"] <= 100,
        "log at least as cheap as the cheaper peer": all(me["median_us"] <= min(p["median_us"] for p in peers)
                                                         for _ in [0] if peers),
        "finish <= 1 s": me["finish_s"] <= 1,
        "memory within 50 MB of the start": max(me["peak_mb"], me["after_mb"]) <= 50,
        "<= 40 bytes a point": me["bytes_per_point"] <= 40,
        "finish + first view (loop's end to the run on screen) faster than both peers":
            all(me["finish_s"] + me["view_s"] < p["finish_s"] + p["view_s"] for p in peers),
        "first view faster than both peers": all(me["view_s"] < p["view_s"] for p in peers),
    }
    for goal, met in goals.items():
        print(f"  {goal}: {'met' if met else 'NOT met'}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
