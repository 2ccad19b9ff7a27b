"""Messages that travel up to the app: from the store watcher's thread, from the panes, and from workers.

Panes never call the app's methods: they post what the user asked for, and the app, which owns the workers that
change the store, decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from engine import RunInfo
from engine.events import Event


# -- from the store watcher (a thread) -------------------------------------------------------------
class RunEvents(Message):
    """New events of one subscribed run, in order."""

    def __init__(self, run_id: str, events: list[Event], reset: bool = False):
        super().__init__()
        self.run_id, self.events, self.reset = run_id, events, reset


class RunsChanged(Message):
    """The store's list of runs, with live statuses."""

    def __init__(self, runs: list[RunInfo]):
        super().__init__()
        self.runs = runs

    def can_replace(self, message: Message) -> bool:  # only the newest list matters
        return isinstance(message, RunsChanged)


class SystemStats(Message):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SystemStats)


class StoreFailed(Message):
    def __init__(self, error: str):
        super().__init__()
        self.error = error


# -- what a user asked for, posted by the panes ------------------------------------------------------
@dataclass
class StartRun(Message):
    """Start a run of ``experiment`` with the form's (validated) values."""

    experiment: str
    params: dict[str, str]
    budget: float | None


@dataclass
class ControlRun(Message):
    """``action`` (pause, resume, stop) on a run."""

    action: str
    run_id: str


@dataclass
class OpenRun(Message):
    """Show a run in its experiment's tab, with its parameters in the form."""

    run_id: str


@dataclass
class DeleteRun(Message):
    run_id: str


@dataclass
class NewSweepAsked(Message):
    """Open the New sweep dialog over an experiment's form (None: the last experiment tab shown)."""

    experiment: str | None = None


@dataclass
class ControlSweep(Message):
    action: str  # stop | resume
    sweep_id: str


@dataclass
class ReportAsked(Message):
    """Write a Markdown report of a run or a sweep."""

    target: str


# -- results of the app's workers ------------------------------------------------------------------------
class Launched(Message):
    """A run started from the form was created and spawned (or refused, with the reason)."""

    def __init__(self, experiment: str, run_id: str | None, error: str = "", params: dict | None = None,
                 budget: float | None = None):
        super().__init__()
        self.experiment, self.run_id, self.error = experiment, run_id, error
        self.params, self.budget = params or {}, budget


@dataclass
class Controlled(Message):
    """A control action was accepted by the store (or refused: ``error``)."""

    action: str
    run_id: str
    error: str = ""


@dataclass
class ReportWritten(Message):
    path: str
