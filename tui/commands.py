"""Command-palette entries for every dashboard action."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .app import LabdeckApp


class LabdeckCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = cast("LabdeckApp", self.app)

        def act(action: str) -> Callable[[], object]:
            # As its key would: the first of the focused widget and its ancestors that has the action (a pane's own
            # actions, such as start or presets, reach the pane shown).
            name = action.partition("(")[0]

            async def run() -> None:
                node = app.screen.focused
                while node is not None and not hasattr(node, f"action_{name}"):
                    node = node.parent
                if node is None:
                    app.notify("not here: open a tab where it applies", severity="warning")
                    return
                await app.run_action(action, node)

            return run

        cmds = [
            ("Start run", "train with the current tab's form values", act("start")),
            ("Pause run", "pause the current run", partial(app.action_control, "pause")),
            ("Resume run", "resume a paused, stopped or interrupted run", partial(app.action_control, "resume")),
            ("Stop run", "stop the current run (it checkpoints first)", partial(app.action_control, "stop")),
            ("Toggle log scale", "loss plots on a log or linear axis", app.action_toggle_log),
            ("Next view", "the run's next sub-tab: Curves, Data, Results, Log", act("view(1)")),
            ("Save plot as PNG", "the loss plot of the run on screen, as a PNG file", act("save_plot")),
            ("Save preset", "save the form's values under a name", act("save_preset")),
            ("Load preset", "fill the form from a saved preset", act("load_preset")),
            ("Use offline data", "set the form's data to one that needs no download", act("use_offline_data")),
            ("Open run", "show the run under the cursor in its experiment tab", act("open")),
            ("Delete run", "delete the run under the cursor", act("delete")),
            ("New sweep", "try a grid or random hyperparameters of the current experiment", app.action_new_sweep),
            ("Stop sweep", "stop the sweep selected in the Sweeps tab", act("control('stop')")),
            ("Resume sweep", "continue the selected sweep's unfinished trials", act("control('resume')")),
            ("Write report", "a Markdown report with figures of the current run or sweep", app.action_report),
            ("Reports", "every report written: read one or copy its path", app.action_reports),
            ("GPUs", "each GPU's use and memory, and the runs on it", app.action_gpus),
            ("Help", "every key", app.action_help),
        ]
        for binding in app.tab_keys:
            cmds.append((f"Go to {binding.description}", "switch tab",
                         partial(app.action_tab, binding.id.removeprefix("tab."))))
        return cmds

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
