"""The bottom line: CPU, RAM and GPU use, polled off the UI thread every 2 s; or, in red, why the store failed."""

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
        if not self._failed:  # a store error stays in view
            self.update(message.text, layout=False)  # one fixed line

    def show_error(self, text: str) -> None:
        self._failed = True
        self.update(f"[b $error]{text}[/]", layout=False)

    def on_unmount(self) -> None:
        self._stop.set()
