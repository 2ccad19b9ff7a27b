"""What the dashboard knows about every run: the store's list and the folded events of the runs it follows.

A plain class (no Textual): the app feeds it the watcher's messages, the panes read it when they redraw.
"""

from __future__ import annotations

from labdeck.engine import RunInfo
from labdeck.engine.events import Event, RunEnded

from .state import MAX_LOG_LINES, RunState


class RunsModel:
    def __init__(self) -> None:
        self.states: dict[str, RunState] = {}  # the runs some view follows, folded from their events
        self.infos: dict[str, RunInfo] = {}  # every run in the store, with its live status
        self.compared: list[str] = []  # the runs marked in the Runs tab (or the one under its cursor)
        self.cpu_training = False  # a run trains on this machine's CPU now (see update_runs)

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
            if isinstance(event, RunEnded) and event.status == "failed" and not reset:
                failed.append(event)
        info = self.infos.get(run_id)
        if info is not None and info.status == "interrupted" and state.ended is None:
            state.status = "interrupted"  # its process died: no event will ever say so
        return failed

    def update_runs(self, infos: list[RunInfo]) -> None:
        """The store's new list: statuses that no event brings (an interrupted process, a queued resume)."""
        self.infos = {i.id: i for i in infos}
        # read by the redraw pace on every tick, so worked out here, once per listing (the pace then leaves it room)
        self.cpu_training = any(i.status == "running" and i.local and i.device.startswith("cpu") for i in infos)
        for info in infos:
            state = self.states.get(info.id)
            if state is None or state.status == info.status:
                continue
            if info.status == "interrupted" or state.ended is None:
                state.status = info.status
                state.version += 1
            elif info.status == "queued":  # an ended run started again (resumed from elsewhere)
                state.restart()
            elif state.status == "interrupted":  # read so a moment before its end reached the store (a Ray trial)
                state.status = info.status
                state.version += 1

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
        runs = [i for i in self.infos.values() if i.experiment == experiment]
        return runs[-1] if runs else None

    def compared_states(self, experiment: str | None = None) -> list[RunState]:
        """The states of the compared runs that are loaded (of one experiment, if given)."""
        return [s for r in self.compared if (s := self.states.get(r)) is not None
                and (experiment is None or s.experiment == experiment)]
