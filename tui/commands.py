"""Command-palette entries for every dashboard action."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class LabdeckCommands(Provider):
    def _commands(self) -> list[tuple[str, str, object]]:
        app = self.app
        cmds = [
            ("Start run", "train with the current tab's form values", app.action_start),
            ("Pause run", "pause the current run", app.action_pause),
            ("Resume run", "resume a paused, stopped or interrupted run", app.action_resume),
            ("Stop run", "stop the current run (it checkpoints first)", app.action_stop),
            ("Toggle log scale", "loss plots on a log or linear axis", app.action_toggle_log),
            ("Save preset", "save the form's values under a name", app.action_save_preset),
            ("Load preset", "fill the form from a saved preset", app.action_load_preset),
            ("Open run", "show the run under the cursor in its experiment tab", app.action_open_run),
            ("Delete run", "delete the run under the cursor", app.action_delete_run),
            ("New sweep", "try a grid or random hyperparameters of the current experiment", app.action_new_sweep),
            ("Stop sweep", "stop the sweep selected in the Sweeps tab", app.action_stop_sweep),
            ("Resume sweep", "continue the selected sweep's unfinished trials", app.action_resume_sweep),
            ("Write report", "a Markdown report with figures of the current run or sweep", app.action_report),
            ("Use offline data", "set the form's data to one that needs no download", app.action_use_offline_data),
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
