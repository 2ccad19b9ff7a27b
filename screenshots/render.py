"""Render screenshots/*.svg from the real dashboard over real runs: ``python screenshots/render.py``.

Trains an RNN, an LSTM and a GRU on the default cosine (a few seconds each), a CNN on generated shapes and a
character LSTM on this Python's own source (a minute or two), starts one more run in the background to show a live
view, then drives the app with a Pilot and saves SVGs next to this file.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from labdeck.engine import Store, registry, runs
from labdeck.tui.app import LabdeckApp
from labdeck.tui.widgets.line_plot import LinePlot

OUT = Path(__file__).parent
CELLS = ("rnn", "lstm", "gru")
KEY = {name: str(i + 1) for i, name in enumerate([*registry.names(), "runs"])}
VISION = {"dataset": "shapes", "shapes_count": "3000", "width": "16", "epochs": "4", "batch_size": "128",
          "lr": "0.2"}
LANGUAGE = {"max_chars": "300000", "hidden": "256", "epochs": "2"}


def train(home: Path) -> dict[str, str]:
    store = Store(home)
    ids = {}
    for cell in CELLS:
        run_id = runs.create(store, "sequence", {"cell": cell, "epochs": "12"})
        ended = runs.run_here(store, run_id)
        print(f"{cell}: {ended.status} {ended.metrics}", file=sys.stderr)
        ids[cell] = run_id
    for name, params in (("vision", VISION), ("language", LANGUAGE)):
        run_id = runs.create(store, name, params)
        ended = runs.run_here(store, run_id)
        print(f"{name}: {ended.status} {ended.metrics}", file=sys.stderr)
        ids[name] = run_id
    # a user's own loop, logged through labdeck.init
    import subprocess

    example = OUT.parent / "examples" / "plain_loop.py"
    subprocess.run([sys.executable, str(example), "--steps", "1500", "--home", str(home)], check=True)
    ids["script"] = next(i.id for i in store.runs() if i.experiment == "sine-mlp")
    return ids


async def until(pilot, predicate, seconds=120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not predicate():
        await pilot.pause(0.1)


async def save(pilot, name: str) -> None:
    """Screenshot once every plot on screen shows its current data (figures are built in worker threads)."""
    await until(pilot, lambda: all(p.drawn for p in pilot.app.screen.query(LinePlot) if p.region.area), 30)
    pilot.app.save_screenshot(str(OUT / name))


async def shoot(home: Path, ids: dict[str, str]) -> None:
    app = LabdeckApp(home, system_stats=False)
    async with app.run_test(size=(120, 36)) as pilot:
        app.sub_title = "~/.local/share/labdeck"
        await until(pilot, lambda: app.mounted)
        pane = app.query_one("#pane-sequence")  # mounted after the first paint
        # Vision: curves, results, data
        await pilot.press(KEY["vision"])
        vision = app.query_one("#pane-vision")
        await until(pilot, lambda: (s := app.model.states.get(vision.run_id or "")) and s.ended)
        await pilot.pause(0.5)
        await save(pilot, "vision-curves.svg")
        for sub in ("results", "data"):
            app.query_one("#pane-vision TabbedContent").active = f"{sub}-vision"
            await pilot.pause(0.8)
            await save(pilot, f"vision-{sub}.svg")
        # Language: text streamed from the prompt
        await pilot.press(KEY["language"])
        language = app.query_one("#pane-language")
        await until(pilot, lambda: (s := app.model.states.get(language.run_id or "")) and s.ended)
        app.query_one("#pane-language TabbedContent").active = "results-language"
        await pilot.pause(0.5)
        app.query_one("#lang-prompt").focus()
        await pilot.press(*"def main(", "enter")
        await until(pilot, lambda: "tokens at" in str(app.query_one("#lang-status").render()))
        await pilot.pause(0.3)
        await save(pilot, "language-generate.svg")
        # the three finished sequence runs, compared in the Runs tab
        app.set_focus(None)  # out of the prompt, or the tab's key would be typed into it
        await pilot.press(KEY["runs"])
        await until(pilot, lambda: all(app.model.states[i].ended for c, i in ids.items()
                                       if c != "script" and i in app.model.states))
        table = app.query_one("#runs-table")
        await until(pilot, lambda: all(ids[c] in table.keys for c in CELLS))
        for cell in CELLS:
            table.move_to(ids[cell])
            await pilot.press("space")
        await until(pilot, lambda: all(ids[c] in app.model.states and app.model.states[ids[c]].ended for c in CELLS))
        await pilot.pause(0.6)
        await save(pilot, "runs.svg")
        # the script's run in its own view
        for cell in CELLS:
            table.move_to(ids[cell])
            await pilot.press("space")
        table.move_to(ids["script"])
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "RunMetricsView")
        await pilot.press("down", "down", "space")  # lr too
        await pilot.pause(1.0)
        await save(pilot, "script-run.svg")
        await pilot.press("escape")
        # a run on its tab: gradient reach of the marked RNN, LSTM and GRU overlaid
        await pilot.press(KEY["sequence"])
        app.query_one("#pane-sequence TabbedContent").active = "results-sequence"
        await pilot.pause(0.6)
        await save(pilot, "sequence-results.svg")
        app.query_one("#pane-sequence TabbedContent").active = "data-sequence"
        await pilot.pause(0.4)
        await save(pilot, "sequence-data.svg")
        # a live run, started from the form
        app.query_one("#pane-sequence TabbedContent").active = "curves-sequence"
        app.query_one("#form-sequence").set_value("epochs", "400")
        await pilot.press("s")
        await until(pilot, lambda: (s := app.model.states.get(pane.run_id or "")) and len(s.epochs) >= 25
                    and s.run_id not in ids.values())
        await pilot.pause(0.4)
        await save(pilot, "sequence-live.svg")
        await pilot.press("x")
        await until(pilot, lambda: app.model.states[pane.run_id].status == "stopped")
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        await save(pilot, "help.svg")
    small = LabdeckApp(home, system_stats=False)
    async with small.run_test(size=(80, 24)) as pilot:
        small.sub_title = "80x24"
        await pilot.pause(0.5)
        await pilot.press(KEY["sequence"])
        await pilot.pause(1.5)
        await save(pilot, "sequence-80x24.svg")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["LABDECK_STATE"] = str(home / "state")  # each shot starts where a first launch does
        ids = train(home)
        asyncio.run(shoot(home, ids))
    print("wrote", ", ".join(sorted(p.name for p in OUT.glob("*.svg"))))


if __name__ == "__main__":
    main()
