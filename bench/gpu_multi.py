"""Issue 17's checks on a real GPU machine (bench/gpu_check.sh runs it): two runs at once on cuda:0, the GPU view's
reading of them (NVML or nvidia-smi), each run's peak GPU memory, and a run that runs out of GPU memory failing with
what to lower. Prints one line per check and exits 1 if one fails.

    python bench/gpu_multi.py HOME
"""

from __future__ import annotations

import sys
import time

from labdeck.engine import Store, gpus, runs

SEQ = {"device": "cuda:0", "length": "20000", "hidden": "256", "epochs": "4", "batch_size": "256"}


def main() -> int:
    store = Store(sys.argv[1])
    ok = True
    two = [runs.create(store, "sequence", SEQ) for _ in range(2)]
    for run_id in two:
        runs.spawn(store, run_id)
    seen: set[str] = set()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and any(store.get(r).status in ("queued", "running") for r in two):
        on = gpus.runs_on(gpus.read(), store.runs())
        seen |= {r for ids in on.values() for r in ids}
        time.sleep(0.5)
    ended = [store.get(r) for r in two]
    both = all(i.status == "finished" for i in ended)
    ok &= both
    print(f"two runs at once on cuda:0: {[i.status for i in ended]} {'ok' if both else 'FAILED'}")
    print(f"devices: {[i.device for i in ended]}")
    peaks = [i.metrics.get("gpu_peak_mb") for i in ended]
    ok &= all(p for p in peaks)
    print(f"peak GPU memory recorded: {peaks} MB {'ok' if all(peaks) else 'FAILED'}")
    print(f"GPU view saw the runs on their GPU: {sorted(seen)} {'ok' if seen == set(two) else 'NOT all'}")
    ok &= seen == set(two)
    # the first block's output alone is 65,536 x 1,024 x 31 x 31 bf16 values (~129 GB): more than an H200 holds;
    # 100,000 shapes give 70,000 training images, so the batch really is that large
    oom = runs.create(store, "vision", {"device": "cuda:0", "dataset": "shapes", "shapes_count": "100000",
                                        "width": "1024", "batch_size": "65536", "epochs": "1"})
    ended = runs.run_here(store, oom)
    said = ended.status == "failed" and ended.message.startswith("GPU out of memory")
    ok &= said
    print(f"out of memory: {ended.status}: {ended.message} {'ok' if said else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
