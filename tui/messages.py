"""Messages the store watcher posts to the app (the only way thread code talks to the UI)."""

from __future__ import annotations

from textual.message import Message

from engine import RunInfo
from engine.events import Event


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


class Launched(Message):
    """A run started from the form was created and spawned (or refused, with the reason)."""

    def __init__(self, experiment: str, run_id: str | None, error: str = ""):
        super().__init__()
        self.experiment, self.run_id, self.error = experiment, run_id, error
