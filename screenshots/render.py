"""Render screenshots/*.svg from the real dashboard over real runs: ``python screenshots/render.py``.

Trains an RNN, an LSTM and a GRU on the default cosine (a few seconds each), starts one more run in the
background to show a live view, then drives the app with a Pilot and saves SVGs next to this file.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from engine import Store, runs
from tui.app import LabdeckApp

OUT = Path(__file__).parent
CELLS = ("rnn", "lstm", "gru")


def train(home: Path) -> dict[str, str]:
    store = Store(home)
    ids = {}
    for cell in CELLS:
        run_id = runs.create(store, "sequence", {"cell": cell, "epochs": "12"})
        ended = runs.run_here(store, run_id)
        print(f"{cell}: {ended.status} {ended.metrics}", file=sys.stderr)
        ids[cell] = run_id
    return ids


async def until(pilot, predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        await pilot.pause(0.1)


async def shoot(home: Path, ids: dict[str, str]) -> None:
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(120, 36)) as pilot:
        app.sub_title = "~/.local/share/labdeck"
        pane = app.query_one("#pane-sequence")
        await until(pilot, lambda: (s := app.states.get(pane.run_id or "")) and s.ended and app.query("#form-sequence"))
        await pilot.pause(0.5)
        # the three finished runs, compared in the Runs tab
        await pilot.press("2")
        for _ in CELLS:
            await pilot.press("space", "down")
        await until(pilot, lambda: all(i in app.states and app.states[i].ended for i in ids.values()))
        await pilot.pause(0.6)
        app.save_screenshot(str(OUT / "runs.svg"))
        # a run on its tab: gradient reach of the marked RNN, LSTM and GRU overlaid
        await pilot.press("1")
        app.query_one("#pane-sequence TabbedContent").active = "results-sequence"
        await pilot.pause(0.6)
        app.save_screenshot(str(OUT / "sequence-results.svg"))
        app.query_one("#pane-sequence TabbedContent").active = "data-sequence"
        await pilot.pause(0.4)
        app.save_screenshot(str(OUT / "sequence-data.svg"))
        # a live run, started from the form
        app.query_one("#pane-sequence TabbedContent").active = "curves-sequence"
        app.query_one("#form-sequence").set_value("epochs", "400")
        await pilot.press("s")
        await until(pilot, lambda: (s := app.states.get(pane.run_id or "")) and len(s.epochs) >= 25
                    and s.run_id not in ids.values())
        await pilot.pause(0.4)
        app.save_screenshot(str(OUT / "sequence-live.svg"))
        await pilot.press("x")
        await until(pilot, lambda: app.states[pane.run_id].status == "stopped")
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        app.save_screenshot(str(OUT / "help.svg"))
    small = LabdeckApp(home, system_stats=False)
    async with small.run_test(size=(80, 24)) as pilot:
        small.sub_title = "80x24"
        await pilot.pause(1.5)
        small.save_screenshot(str(OUT / "sequence-80x24.svg"))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        ids = train(home)
        asyncio.run(shoot(home, ids))
    print("wrote", ", ".join(sorted(p.name for p in OUT.glob("*.svg"))))


if __name__ == "__main__":
    main()
