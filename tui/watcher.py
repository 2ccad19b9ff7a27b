"""Reads the run store from a background thread and posts what changed to the app.

Subscribing to a run loads its history once (``Store.replay``: every epoch, the latest batch points and log
lines); after that one query per tick reads every new event of the store and passes on those of subscribed runs.
Runs are re-listed every second for live statuses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from labdeck.engine import Store, StoreError

from .messages import RunEvents, RunsChanged, StoreFailed, StoreWarning

POLL_SECONDS = 0.2
RUNS_SECONDS = 1.0


class StoreWatcher:
    def __init__(self, home: Path, post: Callable[[Message], bool], cancelled: Callable[[], bool]):
        self.home, self.post, self.cancelled = home, post, cancelled
        self._lock = threading.Lock()
        self._cursors: dict[str, int] = {}
        self._wake = threading.Event()

    def subscribe(self, run_id: str) -> None:
        """Follow a run; only a run not yet followed wakes the reader (the app re-subscribes every second)."""
        with self._lock:
            if run_id in self._cursors:
                return
            self._cursors[run_id] = 0
        self._wake.set()

    def refresh_runs(self) -> None:
        self._wake.set()

    def run(self) -> None:
        try:
            store = Store.for_reading(self.home)  # the dashboard shows a read-only home's runs too
        except StoreError as exc:
            self.post(StoreFailed(str(exc)))
            return
        if store.warning:
            self.post(StoreWarning(store.warning))
        last_list = 0.0
        try:
            tail = store.last_event_id()  # the newest event any subscribed run has been given
            while not self.cancelled():
                now = time.monotonic()
                if now - last_list >= RUNS_SECONDS or self._wake.is_set():
                    self.post(RunsChanged(store.runs()))
                    last_list = now
                self._wake.clear()
                with self._lock:
                    new = [r for r, cursor in self._cursors.items() if cursor == 0]
                for run_id in new:  # its history, once: all of what a view shows, however long the run
                    last, events = store.replay(run_id)
                    with self._lock:
                        self._cursors[run_id] = last or -1
                    if events:
                        self.post(RunEvents(run_id, events, reset=True))
                fresh: dict[str, list] = {}
                for event_id, event in store.events(after=tail):
                    tail = event_id
                    with self._lock:
                        cursor = self._cursors.get(event.run_id)
                        if cursor is None or event_id <= cursor:
                            continue  # not followed, or already in the history it was given
                        self._cursors[event.run_id] = event_id
                    fresh.setdefault(event.run_id, []).append(event)
                for run_id, events in fresh.items():
                    self.post(RunEvents(run_id, events))
                self._wake.wait(POLL_SECONDS)
        except StoreError as exc:
            self.post(StoreFailed(str(exc)))
        finally:
            store.close()
