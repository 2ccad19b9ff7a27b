"""Which file system a path is on: SQLite's WAL journal is unsafe on network file systems."""

from __future__ import annotations

import os
from pathlib import Path

NETWORK = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "lustre", "gpfs", "beegfs", "ceph", "glusterfs",
    "panfs", "orangefs", "pvfs2", "ocfs2", "gfs2", "davfs", "fhgfs", "wekafs",
})
LOCAL_FUSE = frozenset({"fuse.lxcfs", "fuse.fuse-overlayfs", "fuse.portal", "fuseblk"})  # FUSE over local disks


def mounted_type(path: Path, mounts: list[tuple[str, str]] | None = None) -> str | None:
    """The type of the file system ``path`` is on, from the mount table."""
    import psutil

    real = os.path.realpath(path)  # a path not made yet is on its parent's file system
    if mounts is None:
        try:
            mounts = [(p.mountpoint, p.fstype) for p in psutil.disk_partitions(all=True)]
        except (OSError, RuntimeError):
            return None
    best: tuple[str, str] | None = None
    for point, fstype in mounts:
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > len(best[0])):
            best = (point, fstype)
    return best[1] if best else None


def is_network(fstype: str | None) -> bool:
    if not fstype:
        return False
    return fstype in NETWORK or (fstype.startswith("fuse") and fstype not in LOCAL_FUSE and fstype != "fuse")
