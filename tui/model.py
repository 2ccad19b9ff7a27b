"""What the dashboard knows about every run: the store's list and the folded events of the runs it follows.

A plain class (no Textual): the app feeds it the watcher's messages, the panes read it when they redraw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from labdeck.engine import RunInfo
from labdeck.engine.events import Event, RunEnded
from labdeck.engine.status import ACTIVE, Status
from labdeck.engine.store import AlertRecord

if TYPE_CHECKING:
    from labdeck.engine.remote import HostStatus

from .state import MAX_LOG_LINES, RunState


class RunsModel:
    def __init__(self) -> None:
        self.states: dict[str, RunState] = {}  # the runs some view follows, folded from their events
        self.infos: dict[str, RunInfo] = {}  # every run in the store, with its live status
        self.sweeps: dict[str, dict[str, RunInfo]] = {}  # each sweep's trials
        self.revision = 0  # counts the listings that changed something: views redraw their lists on a change
        self._newest: dict[str, RunInfo] = {}  # each experiment's newest run
        self._running: dict[str, RunInfo] = {}
        self.compared: list[str] = []  # the runs marked in the Runs tab (or the one under its cursor)
        self.cpu_training = False  # a run trains on this machine's CPU now (see update_runs)
        self.alerts: list[AlertRecord] = []  # what the watchdog told, oldest first (the newest SHOWN_ALERTS)
        self.alerted: dict[str, str] = {}  # run id -> the rule of its latest alert (a mark on its row)
        self.hosts: dict[str, HostStatus] = {}  # the other machines shown, by name (their runs are NAME:RUN)

    def host_changed(self, status: HostStatus) -> None:
        self.hosts[status.name] = status
        self.revision += 1  # the Runs tab marks the host's rows

    def add_alerts(self, alerts: list[AlertRecord]) -> None:
        self.alerts = (self.alerts + alerts)[-500:]
        for alert in alerts:
            self.alerted[alert.run_id] = alert.rule
        self.revision += 1  # the Runs tab marks the runs

    def state(self, run_id: str | None) -> RunState | None:
        return self.states.get(run_id) if run_id else None

    def apply(self, run_id: str, events: list[Event], reset: bool = False) -> list[RunEnded]:
        """Fold a run's new events (``reset``: its whole history, from the start); returns the failures among
        them that are news (not ones a history replays)."""
        state = self.states.get(run_id)
        if state is None or reset:
            state = self.states[run_id] = RunState(run_id)
        failed = []
        # a long history's log lines are formatted only for its end: the view keeps the last MAX_LOG_LINES
        logged_from = max(0, len(events) - 4 * MAX_LOG_LINES) if reset else 0
        for i, event in enumerate(events):
            state.apply(event, log=i >= logged_from)
            if isinstance(event, RunEnded) and event.status == Status.FAILED and not reset:
                failed.append(event)
        info = self.infos.get(run_id)
        if info is not None and info.status not in ACTIVE and state.ended is None:
            state.status = info.status  # its process died (no event will ever say so), or its end was not an event
        return failed

    def update_runs(self, changed: list[RunInfo], removed: Sequence[str] = ()) -> None:
        """Runs added or changed, and runs deleted: statuses that no event brings (an interrupted process, a
        queued resume) reach the followed runs' states."""
        for run_id in removed:
            self._running.pop(run_id, None)
            info = self.infos.pop(run_id, None)
            if info is not None and info.sweep:
                self.sweeps.get(info.sweep, {}).pop(run_id, None)
                if not self.sweeps.get(info.sweep):
                    self.sweeps.pop(info.sweep, None)
            if info is not None and self._newest.get(info.experiment) is info:
                left = [i for i in self.infos.values() if i.experiment == info.experiment]
                self._newest.pop(info.experiment)
                if left:
                    self._newest[info.experiment] = max(left, key=lambda i: i.created)
        for info in changed:
            self.infos[info.id] = info
            if info.status == Status.RUNNING:
                self._running[info.id] = info
            else:
                self._running.pop(info.id, None)
            if info.sweep:
                self.sweeps.setdefault(info.sweep, {})[info.id] = info
            newest = self._newest.get(info.experiment)
            if newest is None or newest.id == info.id or info.created >= newest.created:
                self._newest[info.experiment] = info
        if changed or removed:
            self.revision += 1
        # read by the redraw pace on every tick, so worked out here, once per listing (the pace then leaves it room)
        self.cpu_training = any(i.local and i.device.startswith("cpu") for i in self._running.values())
        for info in changed:
            state = self.states.get(info.id)
            if state is None or state.status == info.status:
                continue
            if info.status == Status.INTERRUPTED or state.ended is None:
                state.status = info.status
                state.version += 1
            elif info.status == Status.QUEUED:  # an ended run started again (resumed from elsewhere)
                state.restart()
            elif state.status == Status.INTERRUPTED:  # read so a moment before its end reached the store (a Ray trial)
                state.status = info.status
                state.version += 1

    def live(self) -> bool:
        """Whether a followed run is active: its view changes with time (progress, ETA) between events."""
        return any(s.status in (Status.QUEUED, Status.RUNNING, Status.PAUSED) for s in self.states.values())

    def started(self, run_id: str, experiment: str, params: dict, budget: float | None) -> RunState:
        """A run this dashboard just created: shown as starting before its process has said anything."""
        state = self.states.setdefault(run_id, RunState(run_id, experiment, dict(params), budget=budget))
        state.restart()
        return state

    def resumed(self, run_id: str) -> None:
        """A resume was accepted: the run shows as starting at once, not as it ended until its process begins."""
        state = self.states.get(run_id)
        if state is not None and state.ended is not None:
            state.restart()

    def newest(self, experiment: str) -> RunInfo | None:
        return self._newest.get(experiment)

    def compared_states(self, experiment: str | None = None) -> list[RunState]:
        """The states of the compared runs that are loaded (of one experiment, if given)."""
        return [s for r in self.compared if (s := self.states.get(r)) is not None
                and (experiment is None or s.experiment == experiment)]
