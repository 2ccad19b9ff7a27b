"""Another machine's runs in the dashboard: a link (``engine.remote``) whose updates become the app's messages, the
same ones the local store's reader posts, with run ids as ``HOST:RUN``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.message import Message

from labdeck.engine import hosts
from labdeck.engine.feed import RunsUpdate, Update
from labdeck.engine.remote import HostStatus, Link

from .messages import HostChanged, RunsChanged
from .watcher import message_of


class HostWatcher:
    def __init__(self, host: hosts.Host, post: Callable[[Message], bool]):
        self.host, self.post = host, post
        self._listed: set[str] = set()  # the host's runs as last listed (a full listing drops the others)
        self.link = Link(host, self._update, self._status)

    def _status(self, status: HostStatus) -> None:
        self.post(HostChanged(status))

    def start(self) -> None:
        self.post(HostChanged(self.link.status))
        self.link.start()

    def subscribe(self, run_id: str) -> None:
        self.link.follow(hosts.split(run_id)[1])

    def call(self, op: str, **args: Any) -> Any:
        """A control or request on the host (from a worker thread: it waits for the answer)."""
        return self.link.call(op, **args)

    def close(self) -> None:
        self.link.close()

    @property
    def status(self) -> HostStatus:
        return self.link.status

    def _update(self, update: Update) -> None:
        if isinstance(update, RunsUpdate):
            listed = {i.id for i in update.changed}
            removed = [*update.removed, *(self._listed - listed)] if update.full else update.removed
            self._listed = listed if update.full else (self._listed | listed) - set(update.removed)
            self.post(RunsChanged(update.changed, removed))
            return
        self.post(message_of(update))
