"""Files replaced atomically and durably: a crash, a power loss or a full disk never leaves half a file in place."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from . import faults


def fsync_dir(path: Path) -> None:
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


def replace(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through ``write(file)``: into a temporary file, flushed to the disk, then renamed over the old
    one (the rename flushed too). On any error the old file stays and the temporary one is removed."""
    tmp = path.with_suffix(".tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        faults.point("checkpoint-written")
        os.replace(tmp, path)
        fsync_dir(path.parent)
        faults.point("checkpoint-renamed")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Replace a text file whole, keeping the usual permissions: a reader sees the old file or the new one, never
    half of it (written beside it under a hidden name, then renamed over it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
