"""Checkpoints: written atomically and durably, read back as tensors and plain values only.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts, loaded with ``torch.load(weights_only=True)``:
loading never runs code, whoever wrote the file. One from an older labdeck that pickled Python objects is refused
with a message, not loaded.
"""

from __future__ import annotations

import errno
import pickle
from pathlib import Path
from typing import Any

import torch

from . import durable
from .errors import LabdeckError

FORMAT = 2  # 1: before this module (it could hold pickled objects, such as a scikit-learn scaler)
KEYS = ("model", "optimizer", "scaler", "extra", "epoch", "step", "params", "experiment")


def save(obj: dict[str, Any], path: Path) -> None:
    """Write a checkpoint atomically and durably (the previous one stays until the new one is complete)."""
    try:
        durable.replace(path, lambda f: torch.save({**obj, "format": FORMAT}, f))
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise LabdeckError(f"disk full: cannot write checkpoint {path} (the previous one is kept)") from None
        raise LabdeckError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from None
    except RuntimeError as exc:  # torch reports write failures (a full disk too) as RuntimeError
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


def epoch_of(data: bytes) -> int | None:
    """The epoch a checkpoint's bytes were saved at; None if they are no readable labdeck checkpoint."""
    import io

    try:
        ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # any bytes at all: one is not read as a checkpoint, whatever torch raises
        return None
    return ckpt.get("epoch") if isinstance(ckpt, dict) else None
