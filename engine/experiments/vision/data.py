"""Vision data: load (CIFAR download, image folder, generated shapes), inspect, split, keep as uint8 tensors.

Whole datasets live in memory as uint8 NCHW tensors; augmentation runs on batches of tensors in the training loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...download import reason, reporting
from ...errors import DataError, DownloadError
from . import folder as F
from .shapes import SHAPES, generate

Progress = Callable[[str, float, float], None]


@dataclass
class ImageData:
    name: str
    classes: list[str]
    x_train: torch.Tensor  # uint8 N,3,H,W
    y_train: torch.Tensor  # int64 N
    x_test: torch.Tensor
    y_test: torch.Tensor
    notes: list[str] = field(default_factory=list)
    skipped: int = 0

    @property
    def size(self) -> int:
        return int(self.x_train.shape[-1])

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std in [0, 1] of all training images (in chunks: the set may be large)."""
        total = torch.zeros(3, dtype=torch.float64)
        squares = torch.zeros(3, dtype=torch.float64)
        for i in range(0, len(self.x_train), 5000):
            x = self.x_train[i: i + 5000].double().div_(255)
            total += x.sum(dim=(0, 2, 3))
            squares += x.square().sum(dim=(0, 2, 3))
        n = len(self.x_train) * self.x_train.shape[2] * self.x_train.shape[3]
        mean = total / n
        return mean.tolist(), (squares / n - mean.square()).clamp_min(0).sqrt().tolist()


def _nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))


def stratified_split(x: np.ndarray, y: np.ndarray, train: float, seed: int) -> list[np.ndarray]:
    from sklearn.model_selection import train_test_split

    try:
        parts: list[np.ndarray] = train_test_split(x, y, train_size=train, stratify=y, random_state=seed)
        return parts
    except ValueError as exc:  # a class too small to appear on both sides
        raise DataError(f"cannot split {len(y)} images {train:g}/{1 - train:g} by class: {exc}") from None


# -- CIFAR ------------------------------------------------------------------------------------------
def load_cifar(name: str, root: Path, progress: Progress) -> ImageData:
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}[name]
    title = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}[name]
    os.makedirs(root, exist_ok=True)
    try:
        with reporting(progress):
            train = cls(str(root), train=True, download=True)
            test = cls(str(root), train=False, download=True)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; a bad checksum is a RuntimeError
        raise DownloadError(f"cannot download {title} into {root} ({reason(exc)}); offline? use dataset=shapes (needs "
                        f"no download) or dataset=folder:PATH") from None
    return ImageData(title, list(train.classes), _nchw(train.data), torch.tensor(train.targets),
                     _nchw(test.data), torch.tensor(test.targets), notes=[f"{title}: official train/test split"])


# -- folders -------------------------------------------------------------------------------------------
def _decoding(progress: Progress, name: str, done: int, total: int) -> None:
    progress(f"decode {name}", done, total)


def load_folder(path: str, size: int, split: float, seed: int, data_dir: Path, progress: Progress) -> ImageData:
    layout = F.scan(path)
    key = F.cache_key(layout, size)
    cached = F.cache_dir(data_dir) / f"folder-{key}.pt"
    if cached.exists():
        blob = torch.load(cached, weights_only=True)
        parts, skipped = blob["parts"], blob["skipped"]
        note = f"decoded images reused from {cached}"
    else:
        parts, skipped = {}, []
        for name, files in layout.files.items():
            if not files:
                continue
            images, kept, bad = F.decode([f for f, _ in files], size, partial(_decoding, progress, name))
            labels = np.array([files[i][1] for i in kept], dtype=np.int64)
            parts[name] = (torch.from_numpy(images), torch.from_numpy(labels))
            skipped += bad
        tmp = cached.with_suffix(".tmp")
        try:
            torch.save({"parts": parts, "skipped": skipped}, tmp)
            os.replace(tmp, cached)
        except (OSError, RuntimeError):
            tmp.unlink(missing_ok=True)  # no cache (full disk) only costs a decode next time
        note = f"decoded {sum(len(p[1]) for p in parts.values())} images once into {cached}"
    notes = [f"folder {layout.root}: {len(layout.classes)} classes", note]
    if skipped:
        notes.append(f"skipped {len(skipped)} unreadable files, e.g. " + "; ".join(skipped[:3]))
    for name, (_, y) in parts.items():
        counts = np.bincount(y.numpy(), minlength=len(layout.classes))
        if name != "test" and (counts == 0).any():
            empty = layout.classes[int(np.argmin(counts))]
            raise DataError(f"class {empty!r} in {layout.root} has no readable image")
    if "train" in parts and "test" in parts:
        (xtr, ytr), (xte, yte) = parts["train"], parts["test"]
        notes.append("official split: train/ and test/ folders")
    else:
        x, y = parts["all"]
        xtr, xte, ytr, yte = stratified_split(x.numpy(), y.numpy(), split, seed)
        xtr, xte, ytr, yte = map(torch.from_numpy, (xtr, xte, ytr, yte))
        notes.append(f"no official split: stratified {split:g} / {1 - split:g}")
    return ImageData(f"folder {layout.root.name}", layout.classes, _nchw(xtr.numpy()), ytr.long(),
                     _nchw(xte.numpy()), yte.long(), notes, len(skipped))


# -- generated shapes ------------------------------------------------------------------------------------
def load_shapes(count: int, split: float, seed: int) -> ImageData:
    x, y = generate(count, 32, seed)
    xtr, xte, ytr, yte = stratified_split(x, y, split, seed)
    return ImageData("shapes", list(SHAPES), _nchw(xtr), torch.from_numpy(ytr), _nchw(xte), torch.from_numpy(yte),
                     [f"{count} generated images of {len(SHAPES)} shapes (no download)",
                      f"no official split: stratified {split:g} / {1 - split:g}"])


def load(p: dict[str, Any], data_dir: Path, progress: Progress) -> ImageData:
    ds = p["dataset"]
    if ds in ("cifar10", "cifar100"):
        return load_cifar(ds, data_dir / ds, progress)
    if ds == "shapes":
        return load_shapes(p["shapes_count"], p["split"], p["seed"])
    return load_folder(ds[len("folder:"):], p["image_size"], p["split"], p["seed"], data_dir, progress)


# -- inspection ---------------------------------------------------------------------------------------------
def thumbnail(image: torch.Tensor, size: int = 16) -> list[int]:
    """A small RGB copy of a uint8 3,H,W image as a flat list (for terminal rendering)."""
    small = torch.nn.functional.interpolate(image[None].float(), size=(size, size), mode="area")
    pixels: list[int] = small[0].round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).reshape(-1).tolist()
    return pixels


def samples_per_class(data: ImageData, per_class: int = 2, size: int = 16) -> list[dict[str, Any]]:
    out = []
    for c, name in enumerate(data.classes[:20]):
        idx = (data.y_train == c).nonzero().flatten()[:per_class].tolist()
        out += [{"label": name, "size": size, "pixels": thumbnail(data.x_train[i], size)} for i in idx]
    return out
