"""Another machine's runs in the dashboard: a link (``engine.remote``) whose updates become the app's messages, the
same ones the local store's reader posts, with run ids as ``HOST:RUN``.

The app imports this module as it starts; the link's modules (ssh, the protocol, the feed) load only for a host.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from labdeck.engine import hosts

from .messages import HostChanged, RunsChanged

if TYPE_CHECKING:
    from labdeck.engine.feed import Update
    from labdeck.engine.remote import HostStatus


class HostWatcher:
    def __init__(self, host: hosts.Host, post: Callable[[Message], bool]):
        self.host, self.post = host, post
        self._listed: set[str] = set()  # the host's runs as last listed (a full listing drops the others)
        from labdeck.engine.remote import Link

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
        from labdeck.engine.feed import RunsUpdate

        from .watcher import message_of

        if isinstance(update, RunsUpdate):
            listed = {i.id for i in update.changed}
            removed = [*update.removed, *(self._listed - listed)] if update.full else update.removed
            self._listed = listed if update.full else (self._listed | listed) - set(update.removed)
            self.post(RunsChanged(update.changed, removed))
            return
        self.post(message_of(update))


class Links(dict[str, HostWatcher]):
    """A dashboard's links, by host name: started with its background work, closed as it quits."""

    def __init__(self, hosts: list[hosts.Host], post: Callable[[Message], bool]):
        super().__init__((host.name, HostWatcher(host, post)) for host in hosts)

    def start(self) -> None:
        for link in self.values():
            link.start()

    def of(self, run_id: str) -> HostWatcher | None:
        """The link of the host a run (``HOST:RUN``) is on; None for this machine's."""
        where, _ = hosts.split(run_id)
        return self.get(where) if where else None

    def act(self, home: Path, op: str, target: str) -> None:
        """Pause, resume, stop or delete a run, or stop or resume a sweep: on its host through the link, or in this
        machine's store (from a worker: a host's answer is waited for)."""
        if (link := self.of(target)) is not None:
            link.call(op, run=hosts.split(target)[1])
            return
        from labdeck.engine import Store, runs, sweep

        getattr(sweep if sweep.is_sweep(target) and op in ("stop", "resume") else runs, op)(Store(home), target)

    def to(self, name: str) -> HostWatcher:
        """The link to the host ``name``, which the form or a dialog named (one line if there is none)."""
        if name not in self:
            from labdeck.engine import LabdeckError

            raise LabdeckError(f"no link to {name}: open the dashboard with --host {name}")
        return self[name]

    def close(self, wait: bool = True) -> None:
        """End every link: each host's serve exits; its runs go on."""
        for link in self.values():
            link.link.close(wait)
