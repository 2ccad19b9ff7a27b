"""Downloads through torchvision's downloader, with progress reported as labdeck events instead of a tqdm bar."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

Progress = Callable[[str, float, float], None]


class _Bar:
    """Stands in for tqdm inside torchvision's downloader."""

    report: Progress = staticmethod(lambda stage, done, total: None)

    def __init__(self, total: int | None = None, **_: Any):
        self.total, self.n = total or 0, 0

    def update(self, n: int) -> None:
        self.n += n
        type(self).report("download", self.n, self.total)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@contextlib.contextmanager
def reporting(progress: Progress) -> Iterator[None]:
    """Route torchvision's download progress to ``progress(stage, done, total)`` while the block runs."""
    from torchvision.datasets import utils

    saved = utils.tqdm
    _Bar.report = staticmethod(progress)
    utils.tqdm = _Bar
    try:
        yield
    finally:
        utils.tqdm = saved


def reason(exc: BaseException) -> str:
    """The short cause of a failed download (URLError keeps it in ``reason``)."""
    why = getattr(exc, "reason", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return str(why)
