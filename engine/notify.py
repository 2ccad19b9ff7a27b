"""Where an alert goes beyond the store: the user's terminal (its own notification escape, passed through tmux,
and its bell) and, through apprise, their phone or chat (ntfy, Slack, Discord, Telegram, e-mail, webhooks, ...)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from .names import printable

TRIES = 3  # a target that fails is tried this many times in all, ...
BACKOFF_SECONDS = 1.0  # ... waiting this long, then twice as long, between tries


def terminal_notification(title: str, body: str, tmux: bool | None = None) -> str:
    """What a program prints to raise a desktop notification from the terminal: OSC 9 (iTerm2, WezTerm, kitty,
    Windows Terminal) and OSC 777 (foot, Ghostty, rxvt), each passed through tmux when inside it (tmux 3.3+ with
    ``allow-passthrough on``), then a bell, which tmux turns into a flag on the window. Terminals skip an escape
    they do not know. Control characters in the text are dropped: it cannot end the escape early."""
    title, body = (printable(t, 200).replace(";", ",") for t in (title, body))
    escapes = [f"\x1b]9;{title}: {body}\x07", f"\x1b]777;notify;{title};{body}\x07"]
    if os.environ.get("TMUX") if tmux is None else tmux:
        escapes = ["\x1bPtmux;" + e.replace("\x1b", "\x1b\x1b") + "\x1b\\" for e in escapes]
    return "".join(escapes) + "\a"


def deliver(targets: Sequence[str], title: str, body: str, tries: int = TRIES,
            backoff: float = BACKOFF_SECONDS) -> str:
    """Send an alert to each target (apprise URLs), retrying one that fails a bounded number of times; returns
    "sent", "none" (no target), or what failed, in one line. Never raises."""
    if not targets:
        return "none"
    try:
        import apprise
    except ImportError:
        return "not sent: the apprise package is not installed (pip install apprise)"
    failed: list[str] = []
    for url in targets:
        target = apprise.Apprise()
        if not target.add(url):
            failed.append(f"{_scheme(url)}: not a notification URL apprise knows")
            continue
        for attempt in range(tries):
            try:
                if target.notify(title=title, body=body):
                    break
            except Exception:  # a plugin's own error: one more failed try
                pass
            if attempt + 1 < tries:
                time.sleep(backoff * 2 ** attempt)
        else:
            failed.append(f"{_scheme(url)}: failed {tries} times")
    return "sent" if not failed else "not sent to " + "; ".join(failed)


def _scheme(url: str) -> str:
    """A target named without its secrets (tokens live in the URL): its scheme and host."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/")[0].rsplit("@", 1)[-1]
    return printable(f"{scheme}://{host}", 80)
