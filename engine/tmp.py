"""This user's private folder in the machine's temporary space: node-local staging stores, warm-start sockets."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def user_tmp() -> Path:
    """``$TMPDIR/labdeck-UID``, made private (0700); refused if another user made it first."""
    path = Path(tempfile.gettempdir()) / f"labdeck-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.lstat()
    if st.st_uid != os.getuid() or not path.is_dir() or path.is_symlink():
        raise PermissionError(f"{path} is not this user's own folder")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path
