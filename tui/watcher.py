"""Reads the run store from a background thread and posts what changed to the app.

Each subscribed run has its own event cursor, so subscribing to an old run loads its whole history once and
then only what is new. Runs are re-listed every second for live statuses.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from textual.message import Message

from engine import Store, StoreError

from .messages import RunEvents, RunsChanged, StoreFailed

POLL_SECONDS = 0.2
RUNS_SECONDS = 1.0


class StoreWatcher:
    def __init__(self, home: Path, post: Callable[[Message], bool], cancelled: Callable[[], bool]):
        self.home, self.post, self.cancelled = home, post, cancelled
        self._lock = threading.Lock()
        self._cursors: dict[str, int] = {}
        self._wake = threading.Event()

    def subscribe(self, run_id: str) -> None:
        with self._lock:
            self._cursors.setdefault(run_id, 0)
        self._wake.set()

    def refresh_runs(self) -> None:
        self._wake.set()

    def run(self) -> None:
        try:
            store = Store(self.home)
        except StoreError as exc:
            self.post(StoreFailed(str(exc)))
            return
        last_list = 0.0
        try:
            while not self.cancelled():
                now = time.monotonic()
                if now - last_list >= RUNS_SECONDS or self._wake.is_set():
                    self.post(RunsChanged(store.runs()))
                    last_list = now
                self._wake.clear()
                with self._lock:
                    cursors = dict(self._cursors)
                for run_id, after in cursors.items():
                    batch = store.events(run_id, after)
                    if batch:
                        with self._lock:
                            self._cursors[run_id] = batch[-1][0]
                        self.post(RunEvents(run_id, [e for _, e in batch], reset=after == 0))
                self._wake.wait(POLL_SECONDS)
        except StoreError as exc:
            self.post(StoreFailed(str(exc)))
        finally:
            store.close()
