"""Checkpoints: written atomically and durably, read back as tensors and plain values only.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts, loaded with ``torch.load(weights_only=True)``:
loading never runs code, whoever wrote the file. One from an older labdeck that pickled Python objects is refused
with a message, not loaded.
"""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from . import faults
from .errors import LabdeckError

FORMAT = 2  # 1: before this module (it could hold pickled objects, such as a scikit-learn scaler)
KEYS = ("model", "optimizer", "scaler", "extra", "epoch", "step", "params", "experiment")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(obj: dict[str, Any], path: Path) -> None:
    """Write a checkpoint so that a crash, a power loss or a full disk never leaves a half-written file in its
    place: a temporary file, flushed to the disk, then renamed over the old one (the rename flushed too)."""
    tmp = path.with_suffix(".tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "wb") as f:
            torch.save({**obj, "format": FORMAT}, f)
            f.flush()
            os.fsync(f.fileno())
        faults.point("checkpoint-written")
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        faults.point("checkpoint-renamed")
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise LabdeckError(f"disk full: cannot write checkpoint {path} (the previous one is kept)") from None
        raise LabdeckError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from None
    except RuntimeError as exc:  # torch reports write failures (a full disk too) as RuntimeError
        tmp.unlink(missing_ok=True)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "No space left" in str(exc) or "file write failed" in str(exc):
            raise LabdeckError(f"disk full: cannot write checkpoint {path} (the previous one is kept)") from None
        raise LabdeckError(f"cannot write checkpoint {path}: {first}") from None


def load(path: Path, experiment: str | None = None) -> dict[str, Any]:
    """A checkpoint's contents, checked to be labdeck's (and ``experiment``'s, if given)."""
    if not path.exists():
        raise LabdeckError(f"no checkpoint at {path} (the run saved none yet)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # not an object refused: bytes that are no checkpoint at all
            raise LabdeckError(f"not a readable checkpoint: {path} (damaged, or not written by labdeck)") from None
        raise LabdeckError(f"checkpoint {path} holds Python objects (an older labdeck wrote it, or someone else): "
                           "labdeck loads tensors and plain values only, since loading objects can run code; "
                           "train the run again") from None
    except (OSError, RuntimeError, EOFError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LabdeckError(f"not a readable checkpoint: {path} ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in KEYS):
        raise LabdeckError(f"not a labdeck checkpoint: {path}")
    if experiment is not None and ckpt["experiment"] != experiment:
        raise LabdeckError(f"checkpoint {path} is of a {ckpt['experiment']} run, not of a {experiment} run")
    return ckpt
