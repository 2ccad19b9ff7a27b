"""This labdeck's version, as installed (a host and a viewer compare theirs)."""

from __future__ import annotations

from functools import cache


@cache
def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("labdeck")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"
