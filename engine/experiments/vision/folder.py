"""Image folders: the layout check (cheap, before a run exists) and decoding into a cached uint8 tensor."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import DataError

if TYPE_CHECKING:
    import numpy as np

HIDDEN = (".", "_")


@dataclass
class Layout:
    root: Path
    classes: list[str]
    # split name ("train", "test" or "all") -> list of (path, class index)
    files: dict[str, list[tuple[Path, int]]] = field(default_factory=dict)


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(HIDDEN))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(HIDDEN))


def scan(path: str) -> Layout:
    """Check a ``folder:`` dataset's layout; every problem is one message naming the path."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise DataError(f"dataset folder {root} is a file; give a folder of class folders")
    try:
        top = _class_dirs(root)
    except OSError as exc:
        raise DataError(f"cannot read {root}: {exc.strerror or exc}") from None
    names = {p.name for p in top}
    if {"train", "test"} <= names:
        splits = {"train": root / "train", "test": root / "test"}
        classes = [p.name for p in _class_dirs(splits["train"])]
        test_classes = [p.name for p in _class_dirs(splits["test"])]
        if set(test_classes) - set(classes):
            extra = sorted(set(test_classes) - set(classes))[0]
            raise DataError(f"{splits['test'] / extra} is a class with no training folder in {splits['train']}")
    else:
        splits = {"all": root}
        classes = [p.name for p in top]
    if len(classes) < 2:
        raise DataError(f"{root} needs at least two class folders (PATH/<class>/ or PATH/train/<class>/ and "
                        f"PATH/test/<class>/), found {len(classes)}")
    layout = Layout(root, classes)
    for split, folder in splits.items():
        layout.files[split] = []
        for index, name in enumerate(classes):
            files = _files(folder / name) if (folder / name).is_dir() else []
            if not files and split != "test":
                raise DataError(f"class folder {folder / name} is empty")
            layout.files[split] += [(f, index) for f in files]
    return layout


def cache_key(layout: Layout, size: int) -> str:
    """Changes when any file is added, removed or modified, or the image size changes."""
    h = hashlib.sha1(f"{layout.root.resolve()}|{size}|{layout.classes}".encode())
    for split in sorted(layout.files):
        for path, label in layout.files[split]:
            st = path.stat()
            h.update(f"{split}|{path}|{label}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def decode(paths: list[Path], size: int, progress: Callable[[int, int], None]
           ) -> tuple[np.ndarray, list[int], list[str]]:
    """Decode and resize images to ``size`` x ``size`` RGB uint8; returns (array N,H,W,3, kept indices, skipped)."""
    import numpy as np
    from PIL import Image, ImageOps

    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    kept: list[int] = []
    skipped: list[str] = []
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as opened:
                im = opened.convert("RGB")
                if im.size != (size, size):
                    im = ImageOps.fit(im, (size, size), Image.Resampling.BILINEAR)
                out[len(kept)] = np.asarray(im)
            kept.append(i)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            skipped.append(f"{path}: {type(exc).__name__}")
        if i % 500 == 0 or i == len(paths) - 1:
            progress(i + 1, len(paths))
    return out[: len(kept)], kept, skipped


def cache_dir(data_dir: Path) -> Path:
    d = data_dir / "decoded"
    os.makedirs(d, exist_ok=True)
    return d
