"""The watchdog outside the runs: it notices a run whose process died (kill -9, the OOM killer, a lost node) or
stalled (no step, epoch or event for ``stall_seconds`` while it lives), and delivers every alert off the machine.

One per home, holding ``watchdog.lock`` in it; started by the first run that needs one (``ensure``, from
``runs.spawn`` and ``labdeck.init``) as a process of its own in a session of its own, so it outlives the CLI, the
dashboard and the SSH session that started the run; gone ``LINGER_SECONDS`` after the last active run ended and
the last alert was delivered. ``LABDECK_WATCHDOG=0`` starts none (the test suite's default).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import alerts, notify, paths, settings
from .listing import RunListing
from .procs import process_alive
from .status import ACTIVE, Status
from .store import AlertRecord, RunInfo, Store

LOCK = "watchdog.lock"
POLL_SECONDS = 0.5  # a death is told within about this long (and the store read that finds it)
LINGER_SECONDS = 30.0
RECENT_SECONDS = 600.0  # at its start, a watchdog tells the deaths of runs created this recently


def ensure(home: Path) -> None:
    """Start the home's watchdog unless one is running. Best effort: a run never fails for want of one."""
    if os.environ.get("LABDECK_WATCHDOG", "1") == "0":
        return
    try:
        with open(home / LOCK, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # one holds it
            fcntl.flock(f, fcntl.LOCK_UN)
        subprocess.Popen([sys.executable, "-m", "labdeck.engine.watchdog", str(home)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                         close_fds=True)
    except OSError:
        pass


class Watchdog:
    def __init__(self, store: Store, stall_seconds: float, targets: tuple[str, ...]):
        self.store, self.stall_seconds, self.targets = store, stall_seconds, targets
        self.listing = RunListing(store)
        self.status: dict[str, str] = {}  # each run's status at the last look
        self.progress: dict[str, tuple[tuple[int, int, int], float]] = {}  # running run -> (its marks, since when)
        self.stalled: set[str] = set()  # told already: not written to the store again at every look
        self.looked = False
        self._wake = threading.Event()

    def look(self) -> bool:
        """One look at the store: deaths and stalls recorded as alerts. Whether a run is still active."""
        changed, gone = self.listing.poll()
        first, self.looked = not self.looked, True
        recent = time.time() - RECENT_SECONDS
        for info in changed:
            before = self.status.get(info.id)
            self.status[info.id] = info.status
            # a run seen active that is now interrupted died; at the first look, one started a moment ago did (it
            # died before this watchdog had started: older ones were told by an earlier watchdog, or never will be)
            if info.status == Status.INTERRUPTED and (before in ACTIVE or (first and info.created >= recent)):
                why = "its sweep's runner died before it started" if info.pid is None else \
                    f"its process (pid {info.pid}) is gone without recording an end: killed (kill -9, the OOM " \
                    "killer) or its machine lost"
                self._tell(info.id, alerts.DIED, why)
        for run_id in gone:
            self.status.pop(run_id, None)
        self._stalls()
        return any(s in ACTIVE and self._watched(self.listing.infos[r]) for r, s in self.status.items())

    @staticmethod
    def _watched(info: RunInfo) -> bool:
        """Whether an active run has something to watch: a process, or a sweep's runner that will start one. A
        queued run that never got a process (its start failed) has neither; whatever starts it later starts a
        watchdog too."""
        return not (info.status == Status.QUEUED and info.pid is None and not info.sweep)

    def _stalls(self) -> None:
        running = [r for r, s in self.status.items() if s == Status.RUNNING]
        for run_id in list(self.progress):
            if run_id not in running:
                del self.progress[run_id]
        if not running:
            return
        marks = self.store.progress_marks(running)
        now = time.monotonic()
        for run_id in running:
            mark = marks.get(run_id, (0, 0, 0))
            seen = self.progress.get(run_id)
            if seen is None or seen[0] != mark:
                self.progress[run_id] = (mark, now)
            elif now - seen[1] >= self.stall_seconds and run_id not in self.stalled:
                info = self.listing.infos.get(run_id)
                if info is not None and info.local and process_alive(info.pid, None):
                    self.stalled.add(run_id)
                    self._tell(run_id, alerts.STALLED, f"no step, epoch or event for {now - seen[1]:.0f} s while "
                                                       f"its process (pid {info.pid}) lives: a hung data loader, "
                                                       "collective or stopped process?")

    def _tell(self, run_id: str, rule: str, message: str) -> None:
        if self.store.add_alert(run_id, rule, message) is not None:
            self._wake.set()

    def deliver_pending(self) -> int:
        """Send the alerts not yet delivered (each once: its result is kept with it). How many were pending."""
        pending: list[AlertRecord] = self.store.alerts(undelivered=True)
        for alert in pending:
            how = notify.deliver(self.targets, f"labdeck {alert.rule}: run {alert.run_id}", alert.message)
            self.store.set_delivered(alert.id, how)
        return len(pending)

    def deliver_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            try:
                self.deliver_pending()
            except Exception:  # a store busy for long, a plugin's error: the next round tries again
                pass


def main(home: Path) -> int:
    with open(home / LOCK, "a") as lock:  # held as long as this process watches
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # another watchdog watches this home
        return watch(home)


def watch(home: Path) -> int:
    chosen = settings.load(paths.settings())
    dog = Watchdog(Store(home), chosen.stall_seconds or alerts.STALL_SECONDS, chosen.notify)
    stop = threading.Event()
    sender = threading.Thread(target=dog.deliver_loop, args=(stop,), name="labdeck-deliver", daemon=True)
    sender.start()
    idle_since = failing_since = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            try:
                active = dog.look() or bool(dog.store.alerts(undelivered=True, limit=1))
                failing_since = now
            except Exception:  # a store locked for a moment: look again; one gone for good (its home deleted) ends it
                if now - failing_since >= LINGER_SECONDS:
                    return 1
                active = True
            if active:
                idle_since = now
            elif now - idle_since >= LINGER_SECONDS:
                return 0
            time.sleep(POLL_SECONDS)
    finally:
        stop.set()
        sender.join(timeout=5)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
