"""The Sweeps tab: every sweep, its trials ranked by the target metric (best highlighted), the metric against each
swept parameter, and the loss curves of the trials you mark."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from labdeck.engine import RunInfo, registry, sweep
from labdeck.engine.formatting import fmt, progress
from labdeck.engine.hosts import split
from labdeck.engine.status import Status

from .messages import NewSweepAsked, StoreChanged
from .model import RunsModel
from .runs_pane import host_cell, loss_lines
from .state import STATUS_STYLE
from .tab_content import TabContent
from .widgets.line_plot import Line, LinePlot
from .widgets.row_table import RowTable


class SweepsPane(Vertical, TabContent):
    BINDINGS = [
        Binding("space", "mark", "Mark trial", id="sweeps.mark", tooltip="Mark trials to overlay their curves"),
        Binding("v", "next_param", "Next parameter", id="sweeps.param"),
        Binding("n", "new", "New sweep", id="sweeps.new", tooltip="Over the last experiment tab's form"),
        Binding("k", "control('stop')", "Stop sweep", id="sweeps.stop"),
        Binding("u", "control('resume')", "Resume sweep", id="sweeps.resume"),
        Binding("tab", "switch_table", "Sweeps/trials", show=False, id="sweeps.switch",
                tooltip="Move between the sweeps and their trials"),
    ]

    def __init__(self, model: RunsModel, home: Path, **kwargs):
        super().__init__(**kwargs)
        self.model, self.home = model, home
        self.selected: str | None = None
        self.marked: set[str] = set()
        self.param_index = 0
        self._drawn: object = None
        self._ready = False

    def compose(self) -> ComposeResult:
        with Horizontal(classes="sweeps-top"):
            yield RowTable(id="sweeps-table", zebra_stripes=True)
            yield RowTable(id="trials-table", zebra_stripes=True)
        yield Static("No sweeps yet: press n to start one from an experiment's form, or run 'labdeck sweep'.",
                     id="sweeps-info")
        with Horizontal(classes="sweeps-plots"):
            yield LinePlot("target against a swept parameter (v: next)", "", id="sweep-scatter")
            yield LinePlot("loss of the marked trials (or the best)", "step", id="sweep-curves")

    def on_mount(self) -> None:
        hosts = ("host",) if self.model.hosts else ()  # other machines' sweeps are listed too
        self.query_one("#sweeps-table", DataTable).add_columns("sweep", *hosts, "experiment", "trials", "best")
        self._ready = True
        self.update_runs()

    def on_show(self) -> None:
        self.update_runs()

    # -- data ----------------------------------------------------------------------------------
    def groups(self) -> dict[str, list[RunInfo]]:
        """Each sweep's trials in the order they were created, the sweeps too."""
        groups = {sweep_id: sorted(trials.values(), key=lambda i: i.created)
                  for sweep_id, trials in self.model.sweeps.items() if trials}
        return dict(sorted(groups.items(), key=lambda item: item[1][0].created))

    def trials(self) -> list[RunInfo]:
        return self.groups().get(self.selected or "", [])

    def update_runs(self) -> None:
        if not self._ready or not self.region.area:
            return  # being mounted, or its tab is hidden: on_show draws (its tables' rebuilds repaint the screen)
        key = (self.model.revision, self.selected, frozenset(self.marked), self.param_index)
        if key == self._drawn:
            return
        groups = self.groups()
        if self.selected not in groups:
            self.selected = next(reversed(groups), None) if groups else None
        key = (self.model.revision, self.selected, frozenset(self.marked), self.param_index)
        if key == self._drawn:
            return
        self._drawn = key
        table = self.query_one("#sweeps-table", DataTable)
        table.clear()
        for sweep_id, trials in reversed(groups.items()):
            spec = registry.get(trials[0].experiment)
            top = sweep.best(trials)
            done = sum(t.status in (Status.FINISHED, Status.FAILED) for t in trials)
            where = trials[0].where
            hosts = (host_cell(where, self.model.hosts),) if self.model.hosts else ()
            table.add_row(split(sweep_id)[1] if hosts else sweep_id, *hosts, trials[0].experiment,
                          f"{done}/{len(trials)}", f"{spec.target} {fmt(top.metrics[spec.target])}" if top else "",
                          key=sweep_id)
        if self.selected:
            table.move_cursor(row=table.get_row_index(self.selected))
        self._show_trials()

    def _show_trials(self) -> None:
        trials = self.trials()
        table = self.query_one("#trials-table", DataTable)
        table.clear(columns=True)
        info = self.query_one("#sweeps-info", Static)
        if not trials:
            return
        spec = registry.get(trials[0].experiment)
        keys = sweep.swept_keys(trials)
        top = sweep.best(trials)
        table.add_columns("", "trial", "status", "progress", *keys, spec.target)
        for t in sweep.ranked(trials):
            style = "bold green" if top and t.id == top.id else ""
            table.add_row("●" if t.id in self.marked else " ", Text(t.id, style=style),
                          Text(t.status, style=STATUS_STYLE.get(t.status, "")), progress(t),
                          *(Text(fmt(t.params.get(k)), style=style) for k in keys),
                          Text(fmt(t.metrics[spec.target]) if spec.target in t.metrics else "-", style=style),
                          key=t.id)
        failed = [t for t in trials if t.status == Status.FAILED]
        info.update(f"sweep {self.selected}: {len(trials)} trials, best {top.id if top else '-'}"
                    + (f"; {len(failed)} failed, e.g. {failed[0].message}" if failed else "")
                    + " · space mark · v parameter · k stop · u resume")
        self._scatter(trials, keys, spec.target)

    def _scatter(self, trials: list[RunInfo], keys: list[str], target: str) -> None:
        plot = self.query_one("#sweep-scatter", LinePlot)
        if not keys:
            plot.show([])
            return
        key = keys[self.param_index % len(keys)]
        pts = [(t.params[key], t.metrics[target]) for t in trials if target in t.metrics]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _ in pts)
        labels = sorted({str(x) for x, _ in pts})
        xs = [float(x) if numeric else float(labels.index(str(x))) for x, _ in pts]
        plot.xlabel = key if numeric else f"{key}: " + ", ".join(f"{i}={v}" for i, v in enumerate(labels))
        plot.show([Line(target, xs, [y for _, y in pts], marker="dot", scatter=True)],
                  title=f"{target} against {key} (v: next parameter)")

    # -- actions -------------------------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "sweeps-table" and event.row_key.value != self.selected:
            self.selected = event.row_key.value
            self.marked.clear()
            self._drawn = None
            self._show_trials()

    def action_mark(self) -> None:
        table = self.query_one("#trials-table", DataTable)
        if table.row_count:
            run_id = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
            self.marked ^= {run_id}
            self._drawn = None
            self.update_runs()

    def action_new(self) -> None:
        self.post_message(NewSweepAsked())

    def action_control(self, action: str) -> None:
        if self.selected:
            self._control(action, self.selected)

    @work(thread=True, group="control-sweep", exit_on_error=False)
    def _control(self, action: str, sweep_id: str) -> None:
        from labdeck.engine import LabdeckError

        try:
            self.labdeck.links.act(self.home, action, sweep_id)
        except LabdeckError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        self.app.call_from_thread(self.notify, f"{action}: sweep {sweep_id}")
        self.post_message(StoreChanged())

    def action_switch_table(self) -> None:
        sweeps, trials = self.query_one("#sweeps-table", DataTable), self.query_one("#trials-table", DataTable)
        (trials if sweeps.has_focus else sweeps).focus()

    def select(self, sweep_id: str) -> None:
        self.selected = sweep_id
        self._drawn = None
        self.update_runs()

    # -- what the app asks of every tab's content ---------------------------------------------------------
    def selected_run(self) -> str | None:
        ids = self.compared_ids()
        return ids[0] if ids else None

    def report_target(self) -> str | None:
        return self.selected

    def wanted_runs(self) -> list[str]:
        return self.compared_ids()

    def focus_home(self) -> None:
        self.query_one("#trials-table", DataTable).focus()

    def leave_field(self) -> None:
        self.focus_home()

    def action_next_param(self) -> None:
        self.param_index += 1
        self._drawn = None
        self.update_runs()

    def compared_ids(self) -> list[str]:
        if self.marked:
            return sorted(self.marked)
        top = sweep.best(self.trials()) if self.trials() else None
        return [top.id] if top else []

    def redraw(self, model: RunsModel, log_scale: bool) -> None:
        states = [s for r in self.compared_ids() if (s := model.states.get(r)) is not None]
        self.query_one("#sweep-curves", LinePlot).show(loss_lines(states), log=log_scale)
