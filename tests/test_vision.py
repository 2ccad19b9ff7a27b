"""The Vision experiment end to end on tiny generated images: shapes, image folders, bad input, prediction."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from labdeck.engine import runs
from labdeck.engine.averaging import Lookahead
from labdeck.engine.device import Plan
from labdeck.engine.errors import DataError
from labdeck.engine.events import DataSummary, EpochMetrics, Evaluation, Progress
from labdeck.engine.experiment import Context
from labdeck.engine.experiments.vision import data as D
from labdeck.engine.experiments.vision import recipe
from labdeck.engine.experiments.vision.experiment import VisionTask, augment, tta_logits
from labdeck.engine.experiments.vision.shapes import SHAPES, generate
from labdeck.engine.experiments.vision.spec import SPEC
from labdeck.engine.store import Store

from .conftest import cli, set_args

TINY = {"dataset": "shapes", "shapes_count": "300", "width": "8", "depth": "1", "batch_size": "32", "epochs": "2",
        "lr": "0.3", "precision": "fp32"}


def tiny(**over) -> dict[str, str]:
    return {**TINY, **{k: str(v) for k, v in over.items()}}


def train(store, **over):
    run_id = runs.create(store, "vision", tiny(**over))
    seen = []
    ended = runs.run_here(store, run_id, on_event=seen.append)
    return run_id, ended, seen


def write_folder(root: Path, per_class: int = 12, classes=SHAPES[:3], split: bool = True) -> Path:
    from PIL import Image

    images, labels = generate(per_class * len(SHAPES), 24, seed=1)
    for name in classes:
        picked = images[labels == SHAPES.index(name)][:per_class]
        for i, img in enumerate(picked):
            part = ("train" if i < per_class * 2 // 3 else "test") if split else ""
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{i}.png")
    return root


def test_shapes_run_reports_accuracy_per_class_and_confusion(home):
    store = Store()
    run_id, ended, seen = train(store, epochs=4)
    assert ended.status == "finished", ended.message
    assert [e.epoch for e in seen if isinstance(e, EpochMetrics)] == [1, 2, 3, 4]
    summary = next(e for e in seen if isinstance(e, DataSummary))
    assert summary.sizes == {"train_images": 210, "test_images": 90, "classes": 10}  # stratified 70/30
    assert [row[1] for row in summary.head] == [21] * 10  # class counts, train
    assert set(summary.stats) == {"R", "G", "B"} and 0 < summary.stats["R"]["std"] < 1
    assert len(summary.images) == 20 and len(summary.images[0]["pixels"]) == 16 * 16 * 3
    ev = next(e for e in seen if isinstance(e, Evaluation))
    confusion = np.array(ev.tables["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 90
    assert ended.metrics["test_accuracy"] == pytest.approx(np.trace(confusion) / 90, abs=1e-6)
    assert ev.tables["per_class"]["support"] == [9] * 10
    assert len(ev.tables["grid"]) == 60 and ev.tables["classes"] == list(SHAPES)
    assert "test_top5" not in ended.metrics  # top-5 only for many classes
    # it learned something: better than chance on ten balanced classes
    assert ended.metrics["test_accuracy"] > 0.2


def test_lenet_and_adam_train_too(home):
    _, ended, _ = train(Store(), model="lenet", optimizer="adam", lr=0.003, label_smoothing=0, flip="false")
    assert ended.status == "finished", ended.message
    assert 0 <= ended.metrics["test_accuracy"] <= 1


def test_folder_with_official_split_skips_corrupt_files_and_reuses_the_decode(home, tmp_path):
    root = write_folder(tmp_path / "imgs")
    (root / "train" / "circle" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "train" / "square" / "notes.txt").write_text("not an image")
    store = Store()
    _, ended, seen = train(store, dataset=f"folder:{root}", image_size=16)
    assert ended.status == "finished", ended.message
    summary = next(e for e in seen if isinstance(e, DataSummary))
    assert summary.missing == {"unreadable images": 2}
    assert summary.sizes == {"train_images": 24, "test_images": 12, "classes": 3}
    assert any("broken.png" in n for n in summary.notes) and any("official split" in n for n in summary.notes)
    assert any(isinstance(e, Progress) and e.done == e.total for e in seen)  # decode progress reached its end
    _, _, again = train(store, dataset=f"folder:{root}", image_size=16)
    assert any("reused" in n for n in next(e for e in again if isinstance(e, DataSummary)).notes)


def test_single_folder_is_split_by_class(home, tmp_path):
    root = write_folder(tmp_path / "flat", per_class=10, split=False)
    data = D.load_folder(str(root), 16, 0.7, 0, tmp_path / "cache", lambda *a: None)
    assert np.bincount(data.y_train.numpy()).tolist() == [7, 7, 7]
    assert np.bincount(data.y_test.numpy()).tolist() == [3, 3, 3]
    assert data.x_train.shape[1:] == (3, 16, 16) and data.x_train.dtype == torch.uint8


@pytest.mark.parametrize("make, message", [
    (lambda root: root / "nothing", "does not exist"),
    (lambda root: (root.mkdir(), (root / "file.jpg").write_text("x"), root / "file.jpg")[-1], "is a file"),
    (lambda root: (root.joinpath("only").mkdir(parents=True), root)[-1], "at least two class folders"),
    (lambda root: (write_folder(root, split=False), (root / "empty").mkdir(), root)[-1], "empty"),
])
def test_bad_folders_are_one_line_naming_the_path(home, tmp_path, make, message):
    path = make(tmp_path / "data")
    with pytest.raises(DataError, match=message) as err:
        runs.create(Store(), "vision", tiny(dataset=f"folder:{path}"))
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert Store().runs() == []  # no run was created


def test_a_folder_of_only_unreadable_images_fails_the_run_with_one_line(home, tmp_path):
    root = write_folder(tmp_path / "imgs", split=False)
    for f in (root / "circle").iterdir():
        f.write_bytes(b"garbage")
    _, ended, _ = train(Store(), dataset=f"folder:{root}")
    assert ended.status == "failed" and "circle" in ended.message and "no readable image" in ended.message


def test_failed_download_says_what_to_do(tmp_path, monkeypatch):
    from torchvision.datasets import utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(utils, "_urlretrieve", offline)
    with pytest.raises(DataError) as err:
        D.load_cifar("cifar10", tmp_path / "cifar10", lambda *a: None)
    text = str(err.value)
    assert "cannot download CIFAR-10" in text and "dataset=shapes" in text and "\n" not in text


def test_augment_flips_and_shifts_without_changing_shape():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    shifts = torch.tensor([[0, 2], [4, 2]])  # rows 0 and 2, columns 4 and 2 of a 2-px reflect-padded copy
    out = augment(x, torch.tensor([True, False]), shifts, translate=2)
    assert out.shape == x.shape
    assert torch.equal(out[1], x[1])  # offset (2, 2) of a 2-px padding: unshifted
    padded = torch.nn.functional.pad(x[:1].flip(3), (2, 2, 2, 2), mode="reflect")
    assert torch.equal(out[0], padded[0, :, 0:8, 4:12])
    assert torch.equal(augment(x, None, None, translate=0), x)
    flipped = augment(x, torch.tensor([True, False]), None, 0)
    assert torch.equal(flipped[0], x[0].flip(2)) and torch.equal(flipped[1], x[1])


def test_each_image_is_mirrored_every_other_epoch(tmp_path):
    ctx = Context("r", Plan(torch.device("cpu"), "fp32"), tmp_path, tmp_path)
    task = VisionTask(SPEC.params.resolve({"dataset": "shapes", "shapes_count": 200, "translate": 0,
                                           "batch_size": 1000}), ctx)
    seen = [task.batches(epoch) for epoch in (1, 2, 3)]
    (x1, _), (x2, _), (x3, _) = (next(b) for b in seen)
    order = [torch.randperm(len(task.x_train), generator=torch.Generator().manual_seed(task.p["seed"] * 100_003 + e))
             for e in (1, 2, 3)]
    by_image = [x[o.argsort()] for x, o in zip((x1, x2, x3), order)]
    assert torch.equal(by_image[0], by_image[2])  # the same view every two epochs
    assert all(torch.equal(a, b.flip(2)) for a, b in zip(by_image[0], by_image[1]))
    assert 0.3 < task.flips.float().mean() < 0.7  # half the images start mirrored


def test_tta_averages_the_views_the_net_was_trained_on():
    seen = []

    def model(x):
        seen.append(x.clone())
        return x.mean(dim=(1, 2, 3)).view(-1, 1)

    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(tta_logits(model, x, "none"), model(x))
    seen.clear()
    tta_logits(model, x, "flip+shift")
    assert len(seen) == 6 and torch.equal(seen[1], x.flip(3))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    assert torch.equal(seen[2], padded[:, :, :8, :8]) and torch.equal(seen[4], padded[:, :, 2:, 2:])


def test_lookahead_ends_on_the_average_of_the_weights():
    net = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    avg = Lookahead(net, every=1, decay=0.5)
    for step in range(1, 4):
        with torch.no_grad():
            net.weight.add_(1.0)
        avg.step(net, step, progress=1.0)  # decay 0.5: halfway from the average to the new weights
    assert torch.allclose(net.weight, torch.full((1, 2), 1.5))  # 0.5, then 1.0, then 1.5
    restored = Lookahead(torch.nn.Linear(2, 1, bias=False))
    restored.load(avg.state())
    assert torch.equal(restored.average["weight"], avg.average["weight"])


@pytest.mark.slow
def test_cli_predicts_top5_on_image_files_and_refuses_bad_ones(home, tmp_path):
    from PIL import Image

    proc = cli("run", "vision", *set_args(tiny(epochs=1)), "--json", check=True)
    run_id = json.loads(proc.stdout.splitlines()[-1])["run_id"]
    images, labels = generate(2, 32, seed=5)
    path = tmp_path / "x.png"
    Image.fromarray(images[0]).save(path)
    out = json.loads(cli("predict", run_id, str(path), "--json", check=True).stdout)
    top = out["images"][0]["top"]
    assert len(top) == 5 and all(t["class"] in SHAPES for t in top)
    probs = [t["probability"] for t in top]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0001
    text = cli("predict", run_id, str(path), check=True).stdout.splitlines()
    assert text[0] == str(path) and len(text) == 6
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    proc = cli("predict", run_id, str(bad))
    assert proc.returncode == 2 and "not a readable image" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_refuses_a_bad_dataset_with_exit_2(home, tmp_path):
    proc = cli("run", "vision", "--set", f"dataset=folder:{tmp_path}/nope")
    assert proc.returncode == 2 and "does not exist" in proc.stderr and proc.stderr.count("\n") == 1
    proc = cli("run", "vision", "--set", "dataset=imagenet")
    assert proc.returncode == 2 and "dataset:" in proc.stderr


def test_cifar100_loads_through_torchvision_and_reports_top1_and_top5(home, monkeypatch, tmp_path):
    """The real cifar100 path, on a small file in CIFAR-100's own format that the test writes (torchvision checks
    each file against its official checksum: the test gives it these files' checksums)."""
    import hashlib
    import os
    import pickle

    import torchvision

    data = Path(os.environ["LABDECK_DATA"]) / "cifar100" / "cifar-100-python"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    classes = [f"class{i:02d}" for i in range(100)]

    def part(n: int) -> dict:
        labels = rng.integers(0, 100, n)
        images = np.zeros((n, 3, 32, 32), np.uint8)
        for i, label in enumerate(labels):  # a class is a colour and a band: learnable in one epoch
            images[i, label % 3, (label // 3) % 32] = 255
            images[i] += rng.integers(0, 40, (3, 32, 32), dtype=np.uint8)
        return {"data": images.reshape(n, -1), "fine_labels": labels.tolist(),
                "coarse_labels": (labels // 5).tolist()}

    files = {"train": part(2000), "test": part(400), "meta": {"fine_label_names": classes}}
    sums = {}
    for name, content in files.items():
        (data / name).write_bytes(pickle.dumps(content))
        sums[name] = hashlib.md5((data / name).read_bytes()).hexdigest()
    cls = torchvision.datasets.CIFAR100
    monkeypatch.setattr(cls, "train_list", [["train", sums["train"]]])
    monkeypatch.setattr(cls, "test_list", [["test", sums["test"]]])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": sums["meta"]})
    run_id, ended, seen = train(Store(home), dataset="cifar100", width="16", epochs="2", batch_size="64", lr="0.05")
    assert ended.status == "finished", ended.message
    summary = next(e for e in seen if isinstance(e, DataSummary))
    assert summary.sizes == {"classes": 100, "train_images": 2000, "test_images": 400}
    top1, top5 = ended.metrics["test_accuracy"], ended.metrics["test_top5"]
    assert 0.0 <= top1 <= top5 <= 1.0
    evaluation = next(e for e in seen if isinstance(e, Evaluation))
    assert evaluation.tables["classes"] == classes and len(evaluation.tables["confusion"]) == 100


CPU_RATES = {16: 3300, 24: 2100, 32: 1450, 48: 830, 64: 510}  # img/s, about this 2-core VM's
GPU_RATES = {64: 150_000, 96: 20_000, 128: 12_000}


def _pick(tmp_path, budget, device="cpu", **params):
    p = SPEC.params.resolve(params)
    rates = GPU_RATES if device == "cuda" else CPU_RATES
    asked = []

    def rate(width, batch_size):
        asked.append(width)
        return rates[width]

    recipe.pick(p, torch.device(device), budget, 50_000, tmp_path, rate, lambda line: None)
    return p, asked


def test_auto_width_is_the_widest_that_trains_enough_epochs_in_the_budget(tmp_path):
    p, asked = _pick(tmp_path / "a", 60)
    assert p["width"] == 16 and asked == [16]  # 4 epochs at width 16: the narrowest, and no wider one measured
    p, asked = _pick(tmp_path / "b", 300)
    assert p["width"] == 32 and asked == [16, 24, 32, 48]  # 8.7 epochs at 32; 48 would get 5: not measured further
    assert _pick(tmp_path / "c", 600)[0]["width"] == 48
    p, asked = _pick(tmp_path / "d", None)
    assert p["width"] == 16 and asked == []  # no budget: the CPU's width, nothing measured
    assert _pick(tmp_path / "e", 300, width=24)[0]["width"] == 24  # a width the user set is kept


def test_auto_recipe_on_a_gpu_takes_airbench_batch_and_scales_the_lr(tmp_path):
    p, _ = _pick(tmp_path / "a", None, device="cuda")
    assert (p["width"], p["batch_size"], p["lr"]) == (64, 1024, pytest.approx(1.5))
    p, _ = _pick(tmp_path / "b", 60, device="cuda")
    assert p["width"] == 128  # 14 epochs in a minute at width 128


def test_a_resumed_run_builds_the_net_it_picked_before(tmp_path):
    p, _ = _pick(tmp_path, 300)
    again = SPEC.params.resolve({})
    recipe.pick(again, torch.device("cpu"), 300, 50_000, tmp_path, lambda w, b: 1e9, lambda line: None)
    assert again["width"] == p["width"] == 32  # the saved pick, not a new measurement (1e9 img/s would pick 64)


def test_a_run_left_to_pick_its_width_records_the_width_it_trained(home):
    store = Store()
    run_id = runs.create(store, "vision", tiny(width=0), budget=2)
    ended = runs.run_here(store, run_id)
    assert ended.status == "finished", ended.message
    info = store.get(run_id)
    assert info.params["width"] in recipe.CPU_WIDTHS  # the history shows what trained, not 0
    logged = [json.loads(p)["text"] for _, k, p, _ in store.records(run_id) if k == "LogLine"]
    assert any(line.startswith(f"recipe: width {info.params['width']}, batch") for line in logged), logged
    assert json.loads((store.run_dir(run_id) / recipe.RECIPE_FILE).read_text())["width"] == info.params["width"]


def test_a_small_image_folder_trains_without_a_batch_of_one(home, tmp_path):
    from labdeck.engine.experiment import batch_count, shuffled_batches

    # 6 training images in batches of 5: the sixth would be a batch of one, which batch norm cannot train on
    root = write_folder(tmp_path / "small", per_class=4, classes=SHAPES[:3])
    _, ended, _ = train(Store(), dataset=f"folder:{root}", image_size=16, batch_size=5, epochs=2)
    assert ended.status == "finished", ended.message
    sizes = [len(b) for b in shuffled_batches(15, 7, 0, 1, torch.device("cpu"))]
    assert sizes == [7, 8] and batch_count(15, 7) == 2 and batch_count(14, 7) == 2 and batch_count(1, 7) == 1
