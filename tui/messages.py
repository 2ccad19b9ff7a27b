"""Messages that travel up to the app: from the store watcher's thread, from the panes, and from workers.

Panes never call the app's methods: they post what happened (a run to follow, the store changed) or what the user
asked for that concerns more than one tab (open a run in its tab, write a report), and the app decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from labdeck.engine import RunInfo
from labdeck.engine.events import Event
from labdeck.engine.store import AlertRecord

if TYPE_CHECKING:
    from labdeck.engine.remote import HostStatus


# -- from the store watcher (a thread) -------------------------------------------------------------
class RunEvents(Message):
    """New events of one subscribed run, in order."""

    def __init__(self, run_id: str, events: list[Event], reset: bool = False):
        super().__init__()
        self.run_id, self.events, self.reset = run_id, events, reset


class RunsChanged(Message):
    """Runs added or changed since the last such message (every run, the first time), with live statuses, and the
    ids of runs deleted."""

    def __init__(self, changed: list[RunInfo], removed: list[str] | None = None):
        super().__init__()
        self.changed, self.removed = changed, removed or []


class AlertsArrived(Message):
    """Alerts the watchdog recorded (engine/alerts.py): ``fresh`` ones are new since the dashboard started."""

    def __init__(self, alerts: list[AlertRecord], fresh: bool):
        super().__init__()
        self.alerts, self.fresh = alerts, fresh


class HostChanged(Message):
    """Another machine's link changed state (live, unreachable, ...: ``engine.remote.State``)."""

    def __init__(self, status: HostStatus):
        super().__init__()
        self.status = status


class StoreWarning(Message):
    def __init__(self, text: str):
        super().__init__()
        self.text = text


class StoreFailed(Message):
    def __init__(self, error: str):
        super().__init__()
        self.error = error


# -- posted by the panes ------------------------------------------------------------------------------------
@dataclass
class Following(Message):
    """A pane shows this run now: its events must be read."""

    run_id: str


class StoreChanged(Message):
    """A pane changed the store (created, deleted, stopped ...): list the runs again now."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StoreChanged)


@dataclass
class OpenRun(Message):
    """Show a run in its experiment's tab, with its parameters in the form."""

    run_id: str


@dataclass
class NewSweepAsked(Message):
    """Open the New sweep dialog over an experiment's form (None: the last experiment tab shown)."""

    experiment: str | None = None


# -- results of the app's workers ------------------------------------------------------------------------
@dataclass
class Controlled(Message):
    """A control action was accepted by the store (or refused: ``error``)."""

    action: str
    run_id: str
    error: str = ""


@dataclass
class Doing(Message):
    """Something runs in the background until a second ``Doing`` of the same ``key`` with ``text`` None."""

    key: str
    text: str | None


@dataclass
class ReportWritten(Message):
    """A report of ``target`` is at ``path``, or could not be written (``error``)."""

    path: str
    target: str = ""
    error: str = ""
