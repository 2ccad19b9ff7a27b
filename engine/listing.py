"""Every run of a store, kept current by reading only what changed: a dashboard over 10,000 runs must not re-read
them all each second.

A run's row carries the store's revision at its last change; deletions count up in the store's clock. What no row
records is a death: a run whose process died reads as interrupted only when its row is looked at, so the active
runs are looked at again at each poll (there are few of them).
"""

from __future__ import annotations

from .status import ACTIVE
from .store import RunInfo, Store


def _waiting(info: RunInfo) -> bool:
    """A run whose status could change without its row changing: its process may die, its sweep's runner too."""
    return info.status in ACTIVE


class RunListing:
    def __init__(self, store: Store):
        self.store = store
        self.infos: dict[str, RunInfo] = {}
        self._waiting: set[str] = set()  # the runs looked at again at each poll
        self._rev = 0
        self._removed: int | None = None

    def poll(self) -> tuple[list[RunInfo], list[str]]:
        """The runs added or changed since the last poll (all of them the first time), and the ids deleted."""
        rev, removed, changed = self.store.changed_since(self._rev)
        self._rev = rev
        seen = {i.id for i in changed}
        again = [r for r in self._waiting if r not in seen]
        if again:
            changed += [i for i in self.store.some(again) if i.status != self.infos[i.id].status]
        gone: list[str] = []
        if removed != self._removed:
            if self._removed is not None:
                ids = self.store.run_ids()
                gone = [r for r in self.infos if r not in ids]
            self._removed = removed
        for info in changed:
            self.infos[info.id] = info
            if _waiting(info):
                self._waiting.add(info.id)
            else:
                self._waiting.discard(info.id)
        for run_id in gone:
            self.infos.pop(run_id, None)
            self._waiting.discard(run_id)
        return changed, gone
