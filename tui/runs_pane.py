"""The Runs tab: every run in the store, live; filter, sort, open, mark several to compare, delete."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static

from labdeck.engine import RunInfo, names, registry
from labdeck.engine.alerts import FINISHED, trouble
from labdeck.engine.formatting import fmt, progress
from labdeck.engine.hosts import split
from labdeck.engine.scores import ranked, score

from .history import PLOT_POINTS

if TYPE_CHECKING:
    from labdeck.engine.remote import HostStatus

from .messages import OpenRun, StoreChanged
from .model import RunsModel
from .state import STATUS_STYLE, RunState
from .tab_content import TabContent
from .widgets.line_plot import Line, LinePlot
from .widgets.virtual_table import Column, VirtualTable

SORTS = ("created", "experiment", "status", "score")


def loss_lines(states: list[RunState]) -> list[Line]:
    """The per-epoch losses of several runs, labelled by the end of their ids."""
    lines = []
    for s in states:
        own = registry.is_own(s.experiment)  # a script's run: whatever it calls a loss
        for key in names.LOSSES if own else [k for k in names.ordered(s.metric_keys()) if names.loss_like(k)]:
            xs, ys = s.series(key, PLOT_POINTS)
            if xs:
                lines.append(Line(f"{s.run_id[-4:]} {key}", xs, ys))
    return lines


SCRIPT_PARAMS = 4  # of a script's parameters, the first few are shown in its row


def key_params(info: RunInfo) -> str:
    """The parameters that tell a run from its neighbours: an experiment's key ones, a script's first few."""
    keys = registry.get(info.experiment).key_params if registry.is_own(info.experiment) else \
        list(info.params)[:SCRIPT_PARAMS]
    return " ".join(f"{names.printable(k, 30)}={names.printable(fmt(info.params[k]), 30)}" for k in keys
                    if k in info.params)


COLUMNS = [Column("", 1), Column("run", 18), Column("experiment", 11), Column("status", 11),
           Column("progress", 11), Column("score", 18, wide_only=100), Column("parameters", 0),
           Column("created", 11, wide_only=110)]
HOST_COLUMN = Column("host", 8)  # after the run's id, where the dashboard shows other machines' runs too
HERE = "·"  # this machine, in the host column


def host_cell(where: str, hosts: dict[str, HostStatus], now: float | None = None) -> Text:
    """A run's host: its name, and while the link to it is not live how old the row is (``?``: never heard)."""
    if not where:
        return Text(HERE, style="dim")
    status = hosts.get(where)
    if status is None or status.state == "live":
        return Text(where)
    return Text.assemble((where, "yellow"), (f" {age(status.seen, now)}", "bold yellow"))


def age(seen: float, now: float | None = None) -> str:
    """How long ago, short: 9s, 12m, 3h ("?": never)."""
    if not seen:
        return "?"
    ago = max(0.0, (time.time() if now is None else now) - seen)
    return f"{ago:.0f}s" if ago < 60 else f"{ago / 60:.0f}m" if ago < 3600 else f"{ago / 3600:.0f}h"


class RunsPane(Vertical, TabContent):
    BINDINGS = [
        Binding("space", "mark", "Mark", id="runs.mark", tooltip="Mark runs to overlay and compare"),
        Binding("enter", "open", "Open", id="runs.open", tooltip="Show the run in its tab, its values in the form"),
        Binding("o", "sort", "Sort", id="runs.sort", tooltip="Newest first, by experiment, status, or best score"),
        Binding("slash", "filter", "Filter", key_display="/", id="runs.filter"),
        Binding("d", "delete", "Delete", id="runs.delete"),
    ]

    def __init__(self, model: RunsModel, home: Path, **kwargs):
        super().__init__(**kwargs)
        self.model, self.home = model, home
        self.marked: set[str] = set()
        self.sort = "created"
        self.filter = ""
        self._listed: object = None  # what the table's rows were made from
        self._haystack: dict[str, tuple[RunInfo, str]] = {}  # a run's text the filter searches, per listing of it
        self._ready = False
        self._hosts = bool(model.hosts)  # other machines' runs are listed too: a host column
        self._now = time.time()  # when the host column's ages were last drawn (they move each second)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="runs-bar"):
            yield Input(placeholder="filter runs (/)", id="runs-filter")
            yield Static("", id="runs-info")
        columns = [*COLUMNS[:2], HOST_COLUMN, *COLUMNS[2:]] if self._hosts else COLUMNS
        yield VirtualTable(columns, self._cells, id="runs-table")
        with Horizontal(id="compare"):
            yield LinePlot("loss of the marked runs (or the one under the cursor)", "step", id="compare-plot")
            yield DataTable(id="compare-params", cursor_type="none", zebra_stripes=True)

    def on_mount(self) -> None:
        self._ready = True
        self.update_runs()
        if self._hosts:
            self.set_interval(1.0, self._age_stale_rows)

    def _cells(self, run_id: str) -> list:
        i = self.model.infos.get(run_id)
        if i is None:
            return ["", run_id]
        target, value = score(i)
        status = Text(i.status, style=STATUS_STYLE.get(i.status, ""))
        if trouble(self.model.alerted.get(i.id, FINISHED)):  # the watchdog told something about it (! lists it)
            status = Text.assemble(("! ", "bold red"), status)  # first: a narrow column cuts the end
        cells = ["●" if i.id in self.marked else " ", i.id, names.printable(i.experiment, 40), status, progress(i),
                 f"{target} {fmt(value)}" if value is not None else "",
                 (f"{names.printable(i.name, 40)}: " if i.name else "") + key_params(i),
                 time.strftime("%m-%d %H:%M", time.localtime(i.created))]
        if self._hosts:  # the id without its host, which has a column of its own
            cells[1:2] = [split(i.id)[1], host_cell(i.where, self.model.hosts, self._now)]
        return cells

    def action_mark(self) -> None:
        self.toggle_mark()

    def action_sort(self) -> None:
        self.cycle_sort()

    def action_filter(self) -> None:
        # Immediately, not scheduled: keys typed right after "/" must land in the filter, not on the app's keys.
        self.screen.set_focus(self.query_one("#runs-filter", Input))

    def action_open(self) -> None:
        if run_id := self.cursor_run():
            self.post_message(OpenRun(run_id))

    def action_delete(self) -> None:
        run_id = self.cursor_run()
        if not run_id:
            return

        def delete(yes: bool | None) -> None:
            if yes:
                self._delete(run_id)

        from .screens.dialogs import Confirm

        self.app.push_screen(Confirm(f"Delete run {run_id} and its files?"), delete)

    @work(thread=True, group="delete", exit_on_error=False)
    def _delete(self, run_id: str) -> None:
        from labdeck.engine import LabdeckError

        try:
            self.labdeck.links.act(self.home, "delete", run_id)
        except LabdeckError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        self.post_message(StoreChanged())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.focus_home()

    @on(VirtualTable.Selected, "#runs-table")
    def _selected(self) -> None:
        self.action_open()

    # -- what the app asks of every tab's content ---------------------------------------------------------
    def selected_run(self) -> str | None:
        return self.cursor_run()

    def report_target(self) -> str | None:
        return self.cursor_run()

    def wanted_runs(self) -> list[str]:
        return self.compared_ids()

    def focus_home(self) -> None:
        self.query_one("#runs-table", VirtualTable).focus()

    def leave_field(self) -> None:
        self.focus_home()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "runs-filter":
            self.filter = event.value.strip().lower()
            self.update_runs()

    def _text(self, info: RunInfo) -> str:
        """What the filter searches in a run's row (worked out once per listing of the run)."""
        held = self._haystack.get(info.id)
        if held is None or held[0] is not info:
            held = self._haystack[info.id] = (info, f"{info.id} {info.experiment} {info.name} {info.status} "
                                                    f"{info.where or HERE} "
                                                    f"{key_params(info)}".lower())
        return held[1]

    def shown_runs(self) -> list[RunInfo]:
        infos = self.model.infos.values()
        rows = [i for i in infos if self.filter in self._text(i)] if self.filter else list(infos)
        if self.sort == "created":
            return sorted(rows, key=lambda i: i.created, reverse=True)
        if self.sort == "score":
            return ranked(rows)  # each experiment's runs best first by its own target
        return sorted(rows, key=lambda i: (getattr(i, self.sort), -i.created))

    def update_runs(self) -> None:
        """Redraw the list if the runs, the filter, the sort or the marks changed since it was drawn."""
        if not self._ready:
            return  # still being mounted (lazily): on_mount draws the list
        if not self.region.area:
            return  # its tab is hidden: on_show draws
        listed = (self.model.revision, self.filter, self.sort, frozenset(self.marked))
        if listed == self._listed:
            return
        self._listed = listed
        self.marked &= self.model.infos.keys()
        rows = self.shown_runs()
        table = self.query_one("#runs-table", VirtualTable)
        table.set_rows([i.id for i in rows])
        self._info(len(rows))

    def _info(self, shown: int) -> None:
        # its width is fixed: a layout of the whole screen on every key of the filter would cost ~40 ms
        self.query_one("#runs-info", Static).update(
            f"{shown} of {len(self.model.infos)} runs · sort: {self.sort} · {len(self.marked)} marked", layout=False)

    def on_show(self) -> None:
        self.update_runs()

    def cursor_run(self) -> str | None:
        return self.query_one("#runs-table", VirtualTable).cursor_key

    def toggle_mark(self) -> None:
        run_id = self.cursor_run()
        if run_id:
            self.marked ^= {run_id}
            table = self.query_one("#runs-table", VirtualTable)
            table.changed([run_id])
            self._info(table.row_count)

    def cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.update_runs()

    def _age_stale_rows(self) -> None:
        """A host whose link is down: its rows say how old they are, a second at a time."""
        stale = {name for name, status in self.model.hosts.items() if status.state != "live"}
        now = time.time()
        if not stale or not self.region.area:  # every host live, or the tab hidden
            return
        self._now = now
        table = self.query_one("#runs-table", VirtualTable)
        table.changed([i.id for i in self.model.infos.values() if i.where in stale])

    def compared_ids(self) -> list[str]:
        if not self._ready:
            return []
        if self.marked:
            return sorted(self.marked)
        run_id = self.cursor_run()
        return [run_id] if run_id else []

    def redraw(self, model: RunsModel, log_scale: bool) -> None:
        model.compared = self.compared_ids()
        states = model.compared_states()
        self.query_one("#compare-plot", LinePlot).show(loss_lines(states), log=log_scale)
        table = self.query_one("#compare-params", DataTable)
        # what the table shows changes with an epoch (or a script's step), an end or new parameters: not with
        # every batch point (rebuilding it twice a second was half the tab's CPU with a live run under the cursor)
        key = tuple((s.run_id, s.latest_epoch, id(s.history.last), s.ended is not None, id(s.params)) for s in states)
        if key == getattr(self, "_params_key", None):
            return
        self._params_key = key
        table.clear(columns=True)
        if not states:
            return
        table.add_column("parameter", width=14)
        for s in states:  # narrow columns: two runs side by side fit 40 columns
            table.add_column(s.run_id[-9:], width=9)
        names = list(dict.fromkeys(k for s in states for k in s.params))
        latest = [s.latest_metrics() for s in states]
        metrics = list(dict.fromkeys(k for m in latest for k in m))
        differs = {n: len({repr(s.params.get(n)) for s in states}) > 1 for n in names}
        for name in sorted(names, key=lambda n: not differs[n]):  # what differs first, in bold
            style = "bold" if differs[name] else "dim"
            table.add_row(Text(name, style=style), *(Text(fmt(s.params.get(name)), style=style) for s in states))
        for name in metrics:
            table.add_row(Text(name, style="italic"), *(fmt(m.get(name, float("nan"))) for m in latest))
