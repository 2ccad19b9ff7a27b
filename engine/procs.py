"""Process identity: is the process that owns a run still alive (and not a recycled pid)?"""

from __future__ import annotations


def process_start_time(pid: int) -> float | None:
    import psutil  # ~20 ms to import; the dashboard's first frame does not need it

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def process_alive(pid: int | None, start: float | None) -> bool:
    """True while ``pid`` runs and is the same process that started at ``start``."""
    if not pid:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return start is None or abs(proc.create_time() - start) < 1.0
    except psutil.Error:
        return False
