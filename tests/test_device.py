"""Measured CPU decisions: bf16 only when clearly faster, more threads only when clearly faster; both cached."""

import pytest
import torch

from labdeck.engine import device


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
    from labdeck.engine import Store, runs
    from labdeck.engine.events import RunStarted

    from .conftest import tiny

    store = Store(home)
    run_id = runs.create(store, "sequence", tiny())
    ended = runs.run_here(store, run_id)
    started = next(e for _, e in store.events(run_id) if isinstance(e, RunStarted))
    assert ended.status == "finished", ended.message
    assert started.device.startswith("cuda") and started.precision in ("bf16", "fp16")


def test_cuda_n_is_a_device_and_an_index_past_the_gpus_is_one_line(home, monkeypatch, tmp_path):
    from labdeck.engine import registry

    from .conftest import cli, fake_gpus

    device_param = registry.get("sequence").params["device"]
    assert device_param.coerce("cuda:1") == "cuda:1"
    assert "cuda:N" in device_param.allowed()
    assert cli("run", "sequence", "--set", "device=cuda:x").returncode == 2
    fake_gpus(monkeypatch, tmp_path, 2)
    assert device_param.options()[-2:] == ("cuda:0", "cuda:1")  # the form's picker offers this machine's GPUs
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    proc = cli("run", "sequence", "--set", "device=cuda:2")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("labdeck: device: runs here may use 2 GPUs (CUDA_VISIBLE_DEVICES=2,3): "
                                   "cuda:0, cuda:1 (got 'cuda:2')")


def test_a_gpu_torch_cannot_use_is_said_on_the_device_line_not_a_silent_cpu_run(home, monkeypatch, tmp_path):
    from labdeck.engine import Store

    from .conftest import cli, fake_gpus, show, tiny

    if torch.cuda.is_available():
        pytest.skip("this machine's torch can use its GPU")
    fake_gpus(monkeypatch, tmp_path)
    problem = device.cuda_problem()
    assert problem and "install" in problem  # a CPU-only build, or a CUDA build with no usable driver: the fix
    # auto: trains on the CPU, and says why the GPU is unused where the device is shown
    args = [x for k, v in tiny().items() for x in ("--set", f"{k}={v}")]
    proc = cli("run", "sequence", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    run = show(Store().runs()[-1].id)
    assert run["device"].startswith("cpu") and "GPU unused: " + problem in run["device"]
    # asked for by name: the run fails with the same line, it does not train on the CPU
    proc = cli("run", "sequence", *args, "--set", "device=cuda")
    assert proc.returncode == 1 and Store().runs()[-1].message == problem


def test_out_of_gpu_memory_fails_the_run_saying_what_to_lower(home, monkeypatch):
    from labdeck.engine import Store
    from labdeck.engine.experiments.sequence import experiment

    from .conftest import cli, tiny

    task = next(v for v in vars(experiment).values() if isinstance(v, type) and hasattr(v, "loss")
                and v.__module__ == experiment.__name__)

    def out_of_memory(self, batch):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.9 GiB total)")

    monkeypatch.setattr(task, "loss", out_of_memory)
    args = [x for k, v in tiny().items() for x in ("--set", f"{k}={v}")]
    assert cli("run", "sequence", *args).returncode == 1
    message = Store().runs()[-1].message
    assert message.startswith("GPU out of memory on auto (tried to allocate 2.00 gib): lower batch_size (it is 32)")
    assert "hidden" in message and "precision=bf16" in message


def test_gpus_are_read_through_nvml_and_else_through_nvidia_smi(monkeypatch, tmp_path):
    import os
    import sys

    from labdeck.engine import gpus

    from .conftest import fake_nvml

    fake_nvml(monkeypatch, {0: [111], 1: [222, 333]})
    found = gpus.read()
    assert [(g.index, g.name, g.util, g.used_mb, g.total_mb, g.pids) for g in found] == [
        (0, "NVIDIA H100 80GB HBM3", 40.0, 1024.0, 81920.0, (111,)),
        (1, "NVIDIA H100 80GB HBM3", 41.0, 2048.0, 81920.0, (222, 333))]
    assert gpus.summary(found) == "GPU0 40% 1.0/80G  GPU1 41% 2.0/80G"
    # no NVML (the extra not installed): nvidia-smi's CSV, a real process
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setattr(gpus, "_nvml", None)
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text('#!/bin/sh\ncase "$1" in\n'
                   '  --query-compute-apps=*) echo "GPU-b, 4242";;\n'
                   '  *) echo "0, GPU-a, Tesla T4, 7, 300, 15360"; echo "1, GPU-b, Tesla T4, [N/A], 1, 15360"; '
                   'echo "2, GPU-c, Tesla T4, 99, 15000, 15360";;\nesac\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{smi.parent}{os.pathsep}{os.environ['PATH']}")
    found = gpus.read()
    assert [(g.index, g.util, g.used_mb, g.pids) for g in found] == [(0, 7.0, 300.0, ()), (2, 99.0, 15000.0, ())]
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert gpus.read() == []


def test_a_big_model_is_measured_once_not_for_minutes(home, monkeypatch):
    monkeypatch.setattr(device, "DEFAULT_THREADS", 2)
    before = torch.get_num_threads()
    calls = []

    def slow(precision: str = "fp32") -> float:
        calls.append(precision)
        return 5.0

    try:
        assert device.choose_threads("big", slow)[:2] == (2, "measured: a step takes 5.0 s on 1: all 2 threads")
        plan = device.choose_precision(torch.device("cpu"), "auto", "big", probe=slow)
        assert plan.precision == "fp32" and "bf16 not measured" in plan.reason
        assert calls == ["fp32", "fp32"]  # one probe each, no bf16
    finally:
        torch.set_num_threads(before)


def test_a_probe_taken_beside_a_cpu_hog_is_not_cached_and_a_wrong_one_is_dropped(home, monkeypatch):
    import subprocess
    import sys
    import time

    monkeypatch.delenv("LABDECK_CACHE_BUSY_PROBES")
    cpu = torch.device("cpu")

    def probe(precision: str) -> float:
        time.sleep(0.4)  # the probe's own process idles: what the machine does meanwhile is the others'
        return 0.010 if precision == "fp32" else 0.005

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(0.3)  # both spinning
        plan = device.choose_precision(cpu, "auto", "beside-a-hog", probe=probe)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert plan.precision == "bf16" and "not kept" in plan.reason
    assert not any("beside-a-hog" in k for k in device._read_cache())
    # on a quiet machine it is kept (the threshold raised: the other test worker may be busy right now)
    monkeypatch.setattr(device, "BUSY_CORES", 1e9)
    assert "not kept" not in device.choose_precision(cpu, "auto", "beside-a-hog", probe=probe).reason
    assert "measured earlier" in device.choose_precision(cpu, "auto", "beside-a-hog", probe=probe).reason
    # a run whose steps take far longer than the cached probe said drops it: the next run measures again
    from labdeck.engine.trainer import RecheckSpeed

    said = []
    check = RecheckSpeed("beside-a-hog", 0.005, said.append)
    check.epoch_done(train_seconds=2.0, steps=100)  # 20 ms a step against 5
    assert said and "measured again" in said[0] and not any("beside-a-hog" in k for k in device._read_cache())
