"""The run a script started last, for the module-level API that wandb and Trackio users know:
``labdeck.log``, ``labdeck.finish`` and ``labdeck.config``."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run import Run

_run: Run | None = None
_warned = threading.Event()


def started(run: Run) -> None:
    global _run  # noqa: PLW0603 (the module-level API follows the latest run, as wandb's does)
    _run = run


def run() -> Run | None:
    return _run


def _no_run(what: str) -> None:
    if not _warned.is_set():
        _warned.set()
        from .run import _warn

        _warn(f"labdeck.{what}() before labdeck.init(): nothing is recorded")


def log(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log into the run of the last ``labdeck.init()`` (see ``Run.log``)."""
    if _run is None:
        _no_run("log")
        return
    _run.log(metrics, step=step)


def finish(status: str | None = None, message: str = "") -> None:
    """Finish the run of the last ``labdeck.init()`` (see ``Run.finish``)."""
    if _run is not None:
        _run.finish(status, message)


class Config(MutableMapping[str, Any]):
    """The parameters of the current run, as a mapping and by attribute: ``labdeck.config.lr``,
    ``labdeck.config.update({...})``. A change is recorded in the run."""

    def _params(self) -> dict[str, Any]:
        return _run.params if _run is not None else {}

    def __getitem__(self, key: str) -> Any:
        return self._params()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        raise TypeError("a run's parameters are kept: set a new value instead")

    def __iter__(self) -> Iterator[str]:
        return iter(self._params())

    def __len__(self) -> int:
        return len(self._params())

    def __getattr__(self, key: str) -> Any:
        try:
            return self._params()[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def update(self, other: Any = (), /, **more: Any) -> None:
        if _run is None:
            _no_run("config.update")
            return
        _run.set_params({**dict(other), **more})

    def __repr__(self) -> str:
        return f"labdeck.config({self._params()!r})"


config = Config()
