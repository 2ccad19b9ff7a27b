"""The bottom line: what the dashboard is doing in the background (a report being written), then CPU, RAM and GPU
use, polled off the UI thread every 2 s; or, in red, why the store failed."""

from __future__ import annotations

import threading

from textual import work
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

POLL_SECONDS = 2.0


class StatusBar(Static):
    class Stats(Message):
        def __init__(self, text: str):
            super().__init__()
            self.text = text

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, StatusBar.Stats)

    def __init__(self, **kwargs):
        super().__init__("", **kwargs)
        self._stop = threading.Event()  # set at exit: the poll thread sleeps on it, not in short naps
        self._failed = False
        self._stats = ""
        self._doing: dict[str, str] = {}  # what is under way in the background, by a key of its own

    def start_polling(self) -> None:
        self._poll()

    @work(thread=True, group="system", exclusive=True, exit_on_error=False)
    def _poll(self) -> None:
        from .sys_status import system_text

        worker = get_current_worker()
        while not worker.is_cancelled:
            self.post_message(self.Stats(system_text()))
            if self._stop.wait(POLL_SECONDS):
                return

    def on_status_bar_stats(self, message: Stats) -> None:
        self._stats = message.text
        self._show()

    def doing(self, key: str, text: str | None) -> None:
        """Say that something runs in the background until it is done (``text`` None): a report written for
        seconds shows so all that time, not only for a toast's few."""
        if text is None:
            self._doing.pop(key, None)
        else:
            self._doing[key] = text
        self._show()

    @property
    def shown(self) -> str:
        return str(self.render())

    def _show(self) -> None:
        if not self._failed:  # a store error stays in view
            doing = " · ".join(self._doing.values())
            self.update(f"[b]{doing}[/]  {self._stats}" if doing else self._stats, layout=False)  # one fixed line

    def show_error(self, text: str) -> None:
        self._failed = True
        self.update(f"[b $error]{text}[/]", layout=False)

    def on_unmount(self) -> None:
        self._stop.set()
