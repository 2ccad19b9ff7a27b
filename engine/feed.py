"""What a viewer of a home is told, look after look: the runs that changed, each followed run's new events (its
history first, decimated), and new alerts. The dashboard's reader thread and ``labdeck serve`` both poll one.

A followed run has a cursor, the id of the last event given: a viewer that lost its link follows again from its
cursor (and, for a script's run, its counts of points) and gets what it missed, nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import registry, watchdog
from .errors import RunNotFound
from .events import Event, MetricSeries
from .listing import RunListing
from .status import ACTIVE
from .store import AlertRecord, RunInfo, Store

RUNS_SECONDS = 1.0  # how often the run list is read (and the active runs' processes looked at)
SHOWN_ALERTS = 500  # the alerts before a start that a viewer lists


@dataclass(frozen=True)
class RunsUpdate:
    changed: list[RunInfo]
    removed: list[str]
    full: bool = False  # every run of the store: a viewer drops those it knew that are not in it


@dataclass(frozen=True)
class EventsUpdate:
    run_id: str
    events: list[Event]
    cursor: int  # the id of the last event given of this run
    reset: bool = False  # the run's whole history, from its start
    counts: dict[str, int] = field(default_factory=dict)  # a script's run: its points given so far, per metric


@dataclass(frozen=True)
class AlertsUpdate:
    alerts: list[AlertRecord]
    fresh: bool  # new since the viewer started (not the ones listed at its start)


Update = RunsUpdate | EventsUpdate | AlertsUpdate


@dataclass
class _Followed:
    cursor: int = 0  # 0: its history is still to be given
    counts: dict[str, int] | None = None  # a script's run, once its series were given
    points: int = -1  # its stored points when last read


class Feed:
    def __init__(self, store: Store, on_first_look: Callable[[list[RunInfo]], None] | None = None,
                 alerts_after: int | None = None):
        """``alerts_after``: the last alert the viewer has (None: list the newest SHOWN_ALERTS as not fresh)."""
        self.store = store
        self.listing = RunListing(store)
        self._followed: dict[str, _Followed] = {}
        self._catch_up: set[str] = set()  # followed runs whose history (or what they missed) is still to be given
        self._tail = store.last_event_id()  # the newest event of the store read so far
        self._told = max(0, store.last_alert() - SHOWN_ALERTS) if alerts_after is None else alerts_after
        self._quiet_alerts = alerts_after is None
        self._last_list = 0.0
        self._first = True
        self._on_first_look = on_first_look

    def follow(self, run_id: str, cursor: int = 0, counts: dict[str, int] | None = None) -> None:
        """Follow a run from its start (``cursor`` 0) or after the event ``cursor`` (and ``counts`` points)."""
        if run_id not in self._followed or cursor:
            self._followed[run_id] = _Followed(cursor, counts)
            self._catch_up.add(run_id)

    def poll(self, list_runs: bool = False) -> list[Update]:
        """One look: what changed since the last. ``list_runs``: read the run list now, not at its next second."""
        out: list[Update] = []
        now = time.monotonic()
        if list_runs or self._first or now - self._last_list >= RUNS_SECONDS:
            self._last_list = now
            changed, removed = self.listing.poll()
            if changed or removed or self._first:
                out.append(RunsUpdate(changed, removed, full=self._first))
            if self._first and self._on_first_look is not None:
                self._on_first_look(list(self.listing.infos.values()))
            if alerts := self.store.alerts(self._told, limit=SHOWN_ALERTS):
                self._told = alerts[-1].id
                out.append(AlertsUpdate(alerts, fresh=not (self._first and self._quiet_alerts)))
            self._first = False
        for run_id in list(self._catch_up):
            self._catch_up.discard(run_id)
            if (update := self._history(run_id)) is not None:
                out.append(update)
        script_runs = [r for r, f in self._followed.items() if f.counts is not None]
        for run_id, points in self.store.points_counts(script_runs).items():
            followed = self._followed[run_id]
            if points != followed.points and followed.counts is not None:
                followed.points = points
                series = self.store.metric_series(run_id, followed.counts)
                followed.counts = dict(series.counts)
                if series.series:
                    out.append(EventsUpdate(run_id, [series], followed.cursor, counts=followed.counts))
        fresh: dict[str, list[Event]] = {}
        while batch := self.store.events(after=self._tail):
            for event_id, event in batch:
                self._tail = event_id
                now_followed = self._followed.get(event.run_id)
                if now_followed is None or event_id <= now_followed.cursor:
                    continue  # not followed, or in what it was already given
                now_followed.cursor = event_id
                fresh.setdefault(event.run_id, []).append(event)
            if len(batch) < 10_000:
                break
        for run_id, events in fresh.items():
            followed = self._followed[run_id]
            out.append(EventsUpdate(run_id, events, followed.cursor, counts=dict(followed.counts or {})))
        return out

    def _history(self, run_id: str) -> EventsUpdate | None:
        """A run newly followed: its history (cursor 0) or what it missed since its cursor."""
        followed = self._followed[run_id]
        try:
            script = not registry.is_own(self.store.get(run_id).experiment)
        except RunNotFound:  # deleted meanwhile
            self._followed.pop(run_id, None)
            return None
        if followed.cursor == 0:
            last, events = self.store.replay(run_id, series=script)
            followed.cursor = last or -1
            if events and isinstance(events[-1], MetricSeries):
                followed.counts = dict(events[-1].counts)
                followed.points = sum(events[-1].counts.values())
            if not events:
                return None
            return EventsUpdate(run_id, events, followed.cursor, reset=True, counts=dict(followed.counts or {}))
        missed: list[Event] = []
        while batch := self.store.events(run_id, after=followed.cursor):
            followed.cursor = batch[-1][0]
            missed += [event for _, event in batch]
        if script and followed.counts is None:
            followed.counts = {}
        if followed.counts is not None:
            series = self.store.metric_series(run_id, followed.counts)
            followed.counts = dict(series.counts)
            followed.points = sum(series.counts.values())
            if series.series:
                missed.append(series)
        if not missed:
            return None
        return EventsUpdate(run_id, missed, followed.cursor, counts=dict(followed.counts or {}))


def ensure_watchdog(home: object) -> Callable[[list[RunInfo]], None]:
    """What a viewer does at its first look: a home with active runs gets a watchdog (runs from before a reboot)."""
    from pathlib import Path

    def look(infos: list[RunInfo]) -> None:
        if any(i.status in ACTIVE for i in infos):
            watchdog.ensure(Path(str(home)))

    return look
