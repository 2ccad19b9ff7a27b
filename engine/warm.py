"""Warm starts: run workers forked from a process that has already imported torch and the experiments.

A new Python process spends about 2.5 s of CPU importing torch (and torch._dynamo, which every optimizer imports)
before a run trains a batch; a worker forked from a process that did it once starts training at once. One warm
process serves each user, Python, labdeck source, cgroup, mount namespace and import-time environment (``key``), so
a run never starts under a different interpreter, code, GPU allocation or file view than its caller's; it exits
after ``LABDECK_WARM_SECONDS`` (default 300) without a request, and ``LABDECK_WARM_SECONDS=0`` turns warm starts off.

The warm process never touches CUDA (a process that has cannot fork one that uses it) and holds no store connection
or thread of its own. Whatever goes wrong on the way, :func:`start` returns None and the caller starts the worker as
a fresh process: a warm start only ever saves time.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from .tmp import user_tmp

IDLE_SECONDS = 300.0
# environment variables read as Python starts, as torch, OpenMP and the BLAS libraries load, or by labdeck at
# import: a caller whose values differ has a warm process of its own
IMPORT_TIME_PREFIXES = ("OMP_", "MKL_", "OPENBLAS_", "KMP_", "GOMP_", "TORCH", "PYTORCH", "LD_")
IMPORT_TIME_NAMES = {"PYTHONPATH", "PYTHONHOME", "PYTHONHASHSEED", "PYTHONSAFEPATH", "PYTHONNOUSERSITE",
                     "PYTHONUSERBASE", "PYTHONOPTIMIZE", "PYTHONWARNINGS"}
# ... less those that libraries set in a running process (torch's compile cache, Lightning's CUDA check, and what
# scikit-learn sets for Intel's OpenMP as the experiments import it), which a worker sets or reads itself when it
# uses them
SET_WHILE_RUNNING = {"TORCHINDUCTOR_CACHE_DIR", "PYTORCH_NVML_BASED_CUDA_CHECK", "KMP_DUPLICATE_LIB_OK",
                     "KMP_INIT_AT_FORK"}
REPLY_SECONDS = 10.0


def enabled() -> bool:
    return sys.platform == "linux" and idle_seconds() > 0


def idle_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("LABDECK_WARM_SECONDS", IDLE_SECONDS)))
    except ValueError:
        return IDLE_SECONDS


def key() -> str:
    """What a warm process must share with its callers, as a short digest."""
    h = hashlib.sha256()
    h.update(f"{sys.executable}\0{sys.version}\0".encode())
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        h.update(f"{path}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    try:
        import importlib.util

        spec = importlib.util.find_spec("torch")
        if spec is None or spec.origin is None:
            raise ValueError("torch is not installed")
        torch = Path(spec.origin).parent / "version.py"
        h.update(f"{torch.stat().st_mtime_ns}\0".encode())
    except (AttributeError, OSError, ValueError):
        pass
    for name in ("/proc/self/cgroup",):
        try:
            h.update(Path(name).read_bytes())
        except OSError:
            pass
    try:
        h.update(os.readlink("/proc/self/ns/mnt").encode())
    except OSError:
        pass
    h.update(f"nice {os.getpriority(os.PRIO_PROCESS, 0)}\0".encode())  # a worker inherits its forker's
    for name in sorted(os.environ):
        if (name.startswith(IMPORT_TIME_PREFIXES) or name in IMPORT_TIME_NAMES) and name not in SET_WHILE_RUNNING:
            h.update(f"{name}={os.environ[name]}\0".encode())
    return h.hexdigest()[:16]


def socket_path() -> Path:
    return user_tmp() / f"warm-{key()}.sock"


def start(args: list[str], env: dict[str, str], log: Path) -> int | None:
    """Fork ``python -m labdeck.engine.worker ARGS`` from the warm process, in its own session, with ``env`` and its
    output appended to ``log``: its pid, or None (none serves: the caller starts the worker itself, and
    :func:`launch` one for the next run)."""
    if not enabled():
        return None
    request = {"args": args, "env": env, "log": str(log), "cwd": os.getcwd()}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(REPLY_SECONDS)
            conn.connect(str(socket_path()))
            conn.sendall(json.dumps(request).encode() + b"\n")
            return int(json.loads(read_line(conn))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def shutdown() -> bool:
    """Ask the warm process of this caller's key to exit now; whether one answered."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(REPLY_SECONDS)
            conn.connect(str(socket_path()))
            conn.sendall(b'{"exit": true}\n')
            return json.loads(read_line(conn)).get("exit") is True
    except (OSError, ValueError, AttributeError):
        return False


def read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a full line")
        data += chunk
    return data


def launch() -> subprocess.Popen[bytes] | None:
    """Start the warm process of this caller's key in the background, unless one serves or is starting. The
    process returned exits at once (its child serves): the caller reaps it."""
    import fcntl

    if not enabled():
        return None
    try:
        path = socket_path()
        with open(path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by a warm process while it lives
    except OSError:
        return None
    return subprocess.Popen([sys.executable, "-m", "labdeck.engine.warm_server", str(path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)
