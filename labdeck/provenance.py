"""What reproduces a script's run: the command, the code's git commit and whether it had uncommitted changes, the
machine, and the versions of Python, torch and labdeck. Read once, in the run's background thread."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def _version(package: str) -> str | None:
    module = sys.modules.get(package)
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return str(module.__version__)
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=5,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def read() -> dict[str, Any]:
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] not in ("", "-c", "-m") else None
    folder = script.resolve().parent if script is not None and script.is_file() else Path.cwd()
    meta: dict[str, Any] = {"command": [sys.executable, *sys.argv], "cwd": os.getcwd(), "host": socket.gethostname(),
                            "python": platform.python_version(), "torch": _version("torch"),
                            "labdeck": _version("labdeck")}
    commit = _git(folder, "rev-parse", "HEAD")
    if commit:
        status = _git(folder, "status", "--porcelain", "--untracked-files=no")
        meta["git"] = {"commit": commit, "dirty": bool(status), "root": _git(folder, "rev-parse", "--show-toplevel")}
    return meta
