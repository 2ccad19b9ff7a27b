"""How often the dashboard redraws: as often as the machine can spare, between 1 and 10 times a second.

Training shares the CPU with the dashboard on a small machine: where every core is busy, each redraw comes off
the run, so the pace backs off towards 1 Hz (every epoch is still shown, only later); where a core is idle it
speeds up, towards 10 Hz when training is on a GPU or nothing runs, 5 Hz while a run trains on this CPU.
Keys come first: a redraw due within ``INPUT_QUIET_SECONDS`` of a key press waits for the next tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer

FASTEST, SLOWEST = 0.1, 1.0  # seconds between redraws: 10 Hz and 1 Hz
# while a run trains on this machine's CPU, at most 5 Hz even with a core idle: a VM's two vCPUs are often one
# physical core's two threads, so the "idle" one still shares the run's caches and execution units (at 10 Hz the
# dashboard took 12% of a vCPU and the run kept 96.9% of its speed; bench/ui.py)
SHARED = 0.2
START = 0.25
BUSY, SPARE = 90.0, 70.0  # % of all cores in use above which the pace backs off, below which it speeds up
STEP = 1.5
INPUT_QUIET_SECONDS = 0.3


class CpuUse:
    """The machine's CPU use between two calls, in % of all its cores (its own window: psutil.cpu_percent's is
    shared with the status bar)."""

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None

    def __call__(self) -> float:
        import psutil  # on the first tick, after the first paint

        t = psutil.cpu_times()
        idle = t.idle + getattr(t, "iowait", 0.0)
        total = sum(t)
        last, self._last = self._last, (idle, total)
        if last is None or total <= last[1]:
            return 0.0
        # clamped: on an idle machine the division's rounding lands a hair under 0 ("-0% busy")
        return min(100.0, max(0.0, 100.0 * (1.0 - (idle - last[0]) / (total - last[1]))))


class RedrawPace:
    def __init__(self, cpu_percent=None) -> None:
        """``cpu_percent()``: the machine's CPU use since the last call, in % of all cores."""
        self._cpu_percent = cpu_percent or CpuUse()
        self.seconds = START
        self.busy = 0.0
        self.cpu_training = False
        self._last_key = 0.0

    @property
    def hertz(self) -> float:
        return 1.0 / self.seconds

    def key(self) -> None:
        self._last_key = time.monotonic()

    def may_draw(self) -> bool:
        """False right after a key: the redraw would queue the key's own screen update behind plots."""
        return time.monotonic() - self._last_key >= INPUT_QUIET_SECONDS

    def drew(self, cost: float = 0.0, cpu_training: bool = False) -> None:
        """After a tick: adapt the pace to how busy the machine was since the last one (``cpu_training``: a run
        trains on this machine's CPU)."""
        self.busy = self._cpu_percent()
        self.cpu_training = cpu_training
        fastest = SHARED if cpu_training else FASTEST
        if self.busy >= BUSY:
            self.seconds = min(SLOWEST, self.seconds * STEP)
        elif self.busy <= SPARE:
            self.seconds = max(fastest, self.seconds / STEP)
        self.seconds = max(self.seconds, fastest)
        self.seconds = max(self.seconds, min(SLOWEST, 10 * cost))  # a redraw never takes over 10% of the time

    def describe(self) -> str:
        where = ", a run training on this CPU" if self.cpu_training else ""
        return f"redrawing at {self.hertz:.1f} Hz (the machine's cores were {self.busy:.0f}% busy{where})"


IDLE_SECONDS = 2.0  # between redraw ticks while nothing changes
WAKE_SECONDS = 0.02  # from news to the first redraw tick after an idle spell (then the pace again)


class RedrawTimer:
    """Ticks at the pace's rate and calls ``draw`` when something may look different (``touch``) or a run is live;
    an idle dashboard (nothing new, nothing running, no key) draws nothing, measures nothing and ticks slowly."""

    def __init__(self, app: App, pace: RedrawPace, draw: Callable[[], None], live: Callable[[], bool],
                 cpu_training: Callable[[], bool]):
        self.app, self.pace, self.draw, self.live, self.cpu_training = app, pace, draw, live, cpu_training
        self.stale = True
        self.idle = False
        self.timer: Timer | None = None

    def start(self) -> None:
        self.timer = self.app.set_timer(self.pace.seconds, self.tick)

    def touch(self) -> None:
        """Something may look different now: draw at the next tick, and tick at the pace again if idle."""
        self.stale = True
        if self.idle and self.timer is not None:
            self.idle = False
            self.timer.stop()
            self.timer = self.app.set_timer(WAKE_SECONDS, self.tick)

    def tick(self) -> None:
        self.idle = not (self.stale or self.live())
        if not self.idle:
            started = time.perf_counter()
            if self.pace.may_draw():
                self.stale = False
                self.draw()
            self.pace.drew(time.perf_counter() - started, cpu_training=self.cpu_training())
        self.timer = self.app.set_timer(IDLE_SECONDS if self.idle else self.pace.seconds, self.tick)
