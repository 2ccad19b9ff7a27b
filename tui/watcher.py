"""Reads the run store from a background thread and posts what changed to the app.

The engine's ``Feed`` decides what is news (a followed run's history once, decimated; then its new events; the runs
changed; new alerts); this thread polls it and posts each update as the app's message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from labdeck.engine import Store, StoreError, one_line
from labdeck.engine.feed import AlertsUpdate, EventsUpdate, Feed, RunsUpdate, Update, ensure_watchdog

from .messages import AlertsArrived, RunEvents, RunsChanged, StoreFailed, StoreWarning

POLL_SECONDS = 0.2


def message_of(update: Update) -> Message:
    """The app's message for one of the feed's updates."""
    if isinstance(update, RunsUpdate):
        return RunsChanged(update.changed, update.removed)
    if isinstance(update, EventsUpdate):
        return RunEvents(update.run_id, update.events, reset=update.reset)
    assert isinstance(update, AlertsUpdate)
    return AlertsArrived(update.alerts, fresh=update.fresh)


class StoreWatcher:
    def __init__(self, home: Path, post: Callable[[Message], bool], cancelled: Callable[[], bool]):
        self.home, self.post, self.cancelled = home, post, cancelled
        self._lock = threading.Lock()
        self._asked: set[str] = set()  # runs asked for since the reader's last look
        self._known: set[str] = set()
        self._wake = threading.Event()
        self._list_now = False
        self.thread: threading.Thread | None = None  # the reader, once started

    def subscribe(self, run_id: str) -> None:
        """Follow a run; only a run not yet followed wakes the reader (the app re-subscribes every second)."""
        with self._lock:
            if run_id in self._known:
                return
            self._known.add(run_id)
            self._asked.add(run_id)
        self._wake.set()

    def refresh_runs(self) -> None:
        self._list_now = True
        self._wake.set()

    def start(self) -> None:
        """Read the store in a thread of its own. Not a Textual worker: Textual waits for its thread workers as it
        quits, and a long read (a huge run's replay on a busy machine) held the prompt for seconds; this one ends
        at its next look once ``cancelled``, and the process does not wait for it."""
        def read() -> None:
            try:
                self.run()
            except Exception as exc:  # what a worker would have reported: the app says it and keeps running
                self.post(StoreFailed(f"reading the store failed: {one_line(exc)}"))

        self.thread = threading.Thread(target=read, name="labdeck-store-reader", daemon=True)
        self.thread.start()

    def run(self) -> None:
        try:
            store = Store.for_reading(self.home)  # the dashboard shows a read-only home's runs too
        except StoreError as exc:
            self.post(StoreFailed(str(exc)))
            return
        if store.warning:
            self.post(StoreWarning(store.warning))
        if damage := store.check():  # a store with bytes changed under it: said before anything builds on it
            self.post(StoreWarning(damage))
        try:
            feed = Feed(store, on_first_look=ensure_watchdog(self.home))
            while not self.cancelled():
                self._wake.clear()
                with self._lock:
                    asked, self._asked = self._asked, set()
                for run_id in asked:
                    feed.follow(run_id)
                list_now, self._list_now = self._list_now, False
                for update in feed.poll(list_runs=list_now):
                    self.post(message_of(update))
                self._wake.wait(POLL_SECONDS)
        except StoreError as exc:
            self.post(StoreFailed(str(exc)))
        finally:
            store.close()
