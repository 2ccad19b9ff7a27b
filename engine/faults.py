"""Fault points for the fault-injection tests: ``LABDECK_FAULT=NAME[:N]`` kills this process (SIGKILL, like a
power cut or the OOM killer) the Nth time it reaches point NAME (the first time without N). Unset, a point costs
one comparison."""

from __future__ import annotations

import os
import signal

_NAME, _, _AT = (os.environ.get("LABDECK_FAULT") or "").partition(":")
_hits = 0


def point(name: str) -> None:
    global _hits  # noqa: PLW0603 (a count per process, read only here)
    if name != _NAME:
        return
    _hits += 1
    if _hits >= int(_AT or 1):
        os.kill(os.getpid(), signal.SIGKILL)
