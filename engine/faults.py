"""Fault points for the fault-injection tests: ``LABDECK_FAULT=NAME[:N]`` kills this process (SIGKILL, like a
power cut or the OOM killer) the Nth time it reaches point NAME (the first time without N). Read at each point, not
at import: a worker forked from the warm process has its caller's environment only from its start."""

from __future__ import annotations

import os
import signal

_hits = 0


def point(name: str) -> None:
    global _hits  # noqa: PLW0603 (a count per process, read only here)
    fault, _, at = (os.environ.get("LABDECK_FAULT") or "").partition(":")
    if name != fault:
        return
    _hits += 1
    if _hits >= int(at or 1):
        os.kill(os.getpid(), signal.SIGKILL)
