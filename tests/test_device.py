"""Measured CPU decisions: bf16 only when clearly faster, more threads only when clearly faster; both cached."""

import pytest
import torch

from engine import device


@pytest.fixture(autouse=True)
def fresh_cache(home, tmp_path, monkeypatch):
    """These tests write and break the cache: their own, not the session's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "own-cache"))


def test_bf16_needs_a_clear_win_and_is_cached(home):
    cpu = torch.device("cpu")
    times = {"fp32": 0.010, "bf16": 0.004}
    plan = device.choose_precision(cpu, "auto", "m1", probe=lambda prec: times[prec])
    assert plan.precision == "bf16" and plan.reason.startswith("measured:")
    again = device.choose_precision(cpu, "auto", "m1", probe=lambda prec: 1 / 0)  # cached: the probe is not run
    assert again.precision == "bf16" and again.reason.startswith("measured earlier")
    close = {"fp32": 0.010, "bf16": 0.0095}
    assert device.choose_precision(cpu, "auto", "m2", probe=lambda prec: close[prec]).precision == "fp32"


def test_bf16_unsupported_falls_back_to_fp32(home):
    def probe(prec):
        if prec == "bf16":
            raise RuntimeError("could not create a primitive descriptor\nmore")
        return 0.01

    plan = device.choose_precision(torch.device("cpu"), "auto", "m3", probe=probe)
    assert plan.precision == "fp32" and "unsupported" in plan.reason


def test_requested_precision_is_kept():
    assert device.choose_precision(torch.device("cpu"), "bf16", "m4").precision == "bf16"


def test_threads_only_when_clearly_faster(home, monkeypatch):
    monkeypatch.setattr(device, "DEFAULT_THREADS", 2)
    before = torch.get_num_threads()
    try:
        fast = iter([0.010, 0.004])  # 1 thread, then 2 threads
        assert device.choose_threads("t1", lambda: next(fast))[0] == 2
        slight = iter([0.010, 0.009])
        assert device.choose_threads("t2", lambda: next(slight))[0] == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_decisions_are_keyed_by_the_cpus_features_not_its_name(home, monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "cpu_name", lambda: "AMD EPYC")
    flags = {"line": "flags\t: fpu avx2 avx512f avx512_bf16"}

    class CpuInfo:
        def __init__(self, path):
            pass

        def read_text(self):
            return "model name\t: AMD EPYC\n" + flags["line"] + "\n"

    monkeypatch.setattr(device, "Path", lambda p: CpuInfo(p) if p == "/proc/cpuinfo" else __import__("pathlib").Path(p))
    with_bf16 = device.cpu_key()
    assert device.choose_precision(cpu, "auto", "k", probe={"fp32": 0.01, "bf16": 0.004}.get).precision == "bf16"
    flags["line"] = "flags\t: fpu avx2"  # another node: same name, no bf16
    assert device.cpu_key() != with_bf16
    slow = {"fp32": 0.01, "bf16": 0.13}
    assert device.choose_precision(cpu, "auto", "k", probe=slow.get).precision == "fp32"  # measured, not reused


def test_a_malformed_cache_entry_is_measured_again(home):
    cpu = torch.device("cpu")
    device.choose_precision(cpu, "auto", "m5", probe={"fp32": 0.01, "bf16": 0.004}.get)
    cache = device._cache_file()
    import json

    known = json.loads(cache.read_text())
    for key in known:
        known[key] = {"precision": "fp64"}  # no such precision, no "why": a KeyError before
    cache.write_text(json.dumps(known))
    plan = device.choose_precision(cpu, "auto", "m5", probe={"fp32": 0.01, "bf16": 0.004}.get)
    assert plan.precision == "bf16" and plan.reason.startswith("measured:")
    cache.write_text("[1, 2")  # not even JSON
    assert device.choose_precision(cpu, "auto", "m5", probe={"fp32": 0.01, "bf16": 0.02}.get).precision == "fp32"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_a_run_trains_on_the_gpu_with_mixed_precision_by_itself(home):
    from engine import Store, runs
    from engine.events import RunStarted

    from .conftest import tiny

    store = Store(home)
    run_id = runs.create(store, "sequence", tiny())
    ended = runs.run_here(store, run_id)
    started = next(e for _, e in store.events(run_id) if isinstance(e, RunStarted))
    assert ended.status == "finished", ended.message
    assert started.device.startswith("cuda") and started.precision in ("bf16", "fp16")
