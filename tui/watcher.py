"""Reads the run store from a background thread and posts what changed to the app.

Subscribing to a run loads its history once (``Store.replay``: every epoch, the latest batch points and log
lines; a script's metrics decimated); after that one query per tick reads every new event of the store and passes
on those of subscribed runs, and a script's new metric points are read when its count of points changes. The runs
changed since the last look are listed every second (``RunListing``), with live statuses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from labdeck.engine import ACTIVE, RunNotFound, Store, StoreError, one_line, registry, watchdog
from labdeck.engine.events import MetricSeries
from labdeck.engine.listing import RunListing

from .messages import AlertsArrived, RunEvents, RunsChanged, StoreFailed, StoreWarning

POLL_SECONDS = 0.2
RUNS_SECONDS = 1.0
SHOWN_ALERTS = 500  # the newest alerts the Alerts view lists


class StoreWatcher:
    def __init__(self, home: Path, post: Callable[[Message], bool], cancelled: Callable[[], bool]):
        self.home, self.post, self.cancelled = home, post, cancelled
        self._lock = threading.Lock()
        self._cursors: dict[str, int] = {}
        self._counts: dict[str, MetricSeries] = {}  # a script's run: the points read so far, per metric
        self._points: dict[str, int] = {}  # a script's run: its stored points when last read
        self._wake = threading.Event()
        self.thread: threading.Thread | None = None  # the reader, once started

    def subscribe(self, run_id: str) -> None:
        """Follow a run; only a run not yet followed wakes the reader (the app re-subscribes every second)."""
        with self._lock:
            if run_id in self._cursors:
                return
            self._cursors[run_id] = 0
        self._wake.set()

    def refresh_runs(self) -> None:
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
        last_list = 0.0
        listing = RunListing(store)
        first = True
        try:
            tail = store.last_event_id()  # the newest event any subscribed run has been given
            told = max(0, store.last_alert() - SHOWN_ALERTS)  # the alerts before a start are listed, not toasted
            while not self.cancelled():
                now = time.monotonic()
                if now - last_list >= RUNS_SECONDS or self._wake.is_set():
                    changed, removed = listing.poll()
                    if changed or removed or first:
                        self.post(RunsChanged(changed, removed))
                    if first and any(i.status in ACTIVE for i in listing.infos.values()):
                        watchdog.ensure(self.home)  # runs from before a reboot or started with none
                    if alerts := store.alerts(told, limit=SHOWN_ALERTS):
                        told = alerts[-1].id
                        self.post(AlertsArrived(alerts, fresh=not first))
                    first = False
                    last_list = now
                self._wake.clear()
                with self._lock:
                    new = [r for r, cursor in self._cursors.items() if cursor == 0]
                for run_id in new:  # its history, once: all of what a view shows, however long the run
                    try:
                        script = not registry.is_own(store.get(run_id).experiment)
                    except RunNotFound:  # deleted meanwhile
                        continue
                    last, events = store.replay(run_id, series=script)
                    with self._lock:
                        self._cursors[run_id] = last or -1
                    if events and isinstance(events[-1], MetricSeries):
                        self._counts[run_id] = events[-1]
                        self._points[run_id] = sum(events[-1].counts.values())
                    if events:
                        self.post(RunEvents(run_id, events, reset=True))
                for run_id, points in store.points_counts(list(self._counts)).items():
                    if points != self._points.get(run_id):
                        self._points[run_id] = points
                        fresh_points = store.metric_series(run_id, self._counts[run_id].counts)
                        self._counts[run_id] = fresh_points
                        self.post(RunEvents(run_id, [fresh_points]))
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
