"""Every key of the dashboard in one place: the help screen's sections, the command palette's entries and the
binding ids a user's keymap may name (docs/settings.md lists them)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding, BindingType

from labdeck.engine import registry

TABS = [(s.name, s.title) for s in registry.specs()] + [("runs", "Runs"), ("sweeps", "Sweeps")]


def tab_of(experiment: str) -> str:
    """The tab a run opens in: its experiment's, or Runs for a script's run."""
    return experiment if registry.is_own(experiment) else "runs"


TAB_KEYS = [Binding(str(i + 1), f"tab('{name}')", title, show=False, id=f"tab.{name}")
            for i, (name, title) in enumerate(TABS)]

# keys that act on whichever tab is shown (the tab's content does the work) and the app's own
APP_BINDINGS = [
    Binding("p", "control('pause')", "Pause", id="run.pause", tooltip="Pause the run shown"),
    Binding("r", "control('resume')", "Resume", id="run.resume",
            tooltip="Resume a paused run, or restart a stopped or interrupted one from its checkpoint"),
    Binding("x", "control('stop')", "Stop", id="run.stop", tooltip="Stop the run shown (it checkpoints first)"),
    Binding("l", "toggle_log", "Log scale", show=False, id="view.log",
            tooltip="Loss plots on a log or linear axis"),
    Binding("R", "report", "Report", id="run.report",
            tooltip="Write a Markdown report of the current run or sweep"),
    Binding("escape", "leave_field", "Leave field", show=False, id="view.leave"),
    Binding("exclamation_mark", "open('alerts')", "Alerts", key_display="!", show=False, id="app.alerts",
            tooltip="What the watchdog told: NaN or diverging losses, stalls, deaths, ends, your rules"),
    Binding("g", "open('gpus')", "GPUs", show=False, id="app.gpus",
            tooltip="Each GPU's use and memory, and the runs on it"),
    Binding("H", "open('hosts')", "Hosts", show=False, id="app.hosts",
            tooltip="Each machine linked over ssh: live or why not, its labdeck, when it was last heard"),
    Binding("question_mark", "help", "Help", key_display="?", id="app.help", tooltip="Every key"),
    Binding("q", "quit", "Quit", id="app.quit", tooltip="Quit the dashboard; runs keep going"),
]

# actions the palette offers that have no key of their own: (name, help, action)
PALETTE_ONLY = [("Use offline data", "set the form's data to one that needs no download", "use_offline_data"),
                ("Reports", "every report written: read one or copy its path", "open('reports')")]
NOT_IN_PALETTE = {"view.leave", "form.edit", "form.previous", "form.next", "app.quit"}  # keys about focus and typing


def binding_groups() -> list[tuple[str, list[Binding]]]:
    """Every key by where it works (importing every tab's module)."""
    from .experiment_pane import ExperimentPane
    from .runs_pane import RunsPane
    from .sweeps_pane import SweepsPane
    from .widgets.param_form import ParamForm, ParamGrid

    def only(bindings: Iterable[BindingType]) -> list[Binding]:
        return [b for b in bindings if isinstance(b, Binding)]  # every one of labdeck's is a Binding, with an id

    return [("Everywhere", APP_BINDINGS + TAB_KEYS), ("Experiment tabs", only(ExperimentPane.BINDINGS)),
            ("The form", only(ParamGrid.BINDINGS) + only(ParamForm.HELP_KEYS)),
            ("Runs tab", only(RunsPane.BINDINGS)), ("Sweeps tab", only(SweepsPane.BINDINGS))]


def palette():
    """The command palette's provider (``textual.command`` is imported when the palette first opens)."""
    from .commands import LabdeckCommands

    return LabdeckCommands


def known_keys(keys: dict[str, str]) -> tuple[dict[str, str], str]:
    """The keymap entries whose binding ids exist, and one line naming those that do not ("" if none)."""
    ids = {b.id for _, bindings in binding_groups() for b in bindings if b.id}
    unknown = sorted(set(keys) - ids)
    line = f"settings: no key binding {', '.join(map(repr, unknown))} (docs/settings.md lists the ids)" \
        if unknown else ""
    return {k: v for k, v in keys.items() if k in ids}, line


def palette_entries(key_display) -> list[tuple[str, str, str]]:
    """(name, help, action) for the command palette: every bound action, once, then those without a key.
    ``key_display(binding)``: how the app writes a binding's key (the user's keymap included)."""
    entries, seen = [], set()
    for where, bindings in binding_groups():
        for b in bindings:
            if not b.id or b.id in NOT_IN_PALETTE or b.action in seen:
                continue
            seen.add(b.action)
            name = f"Go to {b.description}" if b.id.startswith("tab.") else b.description
            about = b.tooltip or ("switch tab" if b.id.startswith("tab.") else where)
            entries.append((name, f"{about}  [{key_display(b)}]", b.action))
    return entries + PALETTE_ONLY
