"""A hyperparameter form generated from an experiment's declaration: a property grid with one editor.

Arrow keys move through the parameters, Enter edits the highlighted one in the editor below the grid
(validated as you type), Enter again applies, Escape cancels; a parameter with a fixed set of values is picked
from a list (Enter) or stepped through with left and right. Under the grid, the highlighted parameter's full help
and value. Four widgets however many parameters there are, which keeps the dashboard quick to start and to switch
tabs. The budget row (the run's wall-clock seconds) and the last row, its watchdog rules, are not hyperparameters of
the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from labdeck.engine.alerts import FIELD as ALERTS
from labdeck.engine.alerts import split_rules
from labdeck.engine.errors import LabdeckError
from labdeck.engine.hosts import HERE
from labdeck.engine.hosts import ROW as HOST_ROW
from labdeck.engine.hosts import field as host_field
from labdeck.engine.params import BUDGET, Param, parse_budget
from labdeck.engine.spec import Spec

from ..adapters.textual_private import InOrderInput
from .row_table import RowTable

HELP_LINES = 4  # the help panel's least height


class ParamGrid(RowTable):
    """The form's table. Enter opens the editor within the key's own handling (a binding, not a message), so
    keys typed right after it already go to the editor."""

    BINDINGS = [Binding("enter", "edit", "Edit", id="form.edit"),
                Binding("left", "step(-1)", "Previous value", show=False, id="form.previous"),
                Binding("right", "step(1)", "Next value", show=False, id="form.next")]

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        # The help line changes within the key's own handling, so it is painted in the cursor's frame: through the
        # RowHighlighted message it came a frame later (Textual paces frames at 60 per second).
        form = self.parent
        if old != new and isinstance(form, ParamForm) and new.row < self.row_count:
            form.highlighted(self.coordinate_to_cell_key(new).row_key.value)

    def action_edit(self) -> None:
        form = self.parent
        if isinstance(form, ParamForm):
            form.begin_edit()

    def action_step(self, step: int) -> None:
        form = self.parent
        if isinstance(form, ParamForm):
            form.step_choice(step)


class ParamEditor(InOrderInput):
    """The form's editor. Its bound keys (backspace, enter, arrows, ...) run in the order typed: dispatched as
    bindings (Textual's default) they overtook printable keys in a burst (a paste, fast typing over SSH), so
    backspace, 1, 0, 0, 0, enter on "2000" submitted an empty value."""


class ParamForm(Vertical):
    # For the help screen: the editor's keys (its own bindings are Input's).
    HELP_KEYS = [Binding("enter", "apply", "Apply the value typed in the editor"),
                 Binding("escape", "cancel", "Cancel the edit (and leave any other field)")]
    DEFAULT_CSS = """
    ParamForm { height: 1fr; }
    /* a long value (a path) is whole in the help panel: no horizontal scrollbar taking a row */
    ParamForm > DataTable { height: 1fr; overflow-x: hidden; }
    /* the height its help needs (see _fit_help): most moves through the grid repaint it without a layout pass */
    ParamForm > .param-help { height: 4; color: $text-muted; padding: 0 1; }
    ParamForm > Input { margin: 0 1; }
    ParamForm > Input.-invalid { background: $error 30%; }
    /* only while the edited value is invalid: the grid keeps the rows the rest of the time */
    ParamForm > .param-error { height: auto; color: $error; padding: 0 1; display: none; }
    """

    @dataclass
    class Edited(Message):
        """The user applied a value to a field."""

        form: ParamForm
        name: str

    def __init__(self, spec: Spec, hosts: list[str] | None = None, **kwargs):
        """``hosts``: the other machines a run may be started on (a host row, last, when there are some)."""
        super().__init__(**kwargs)
        self.spec = spec
        self.params: dict[str, Param] = {}  # the spec's parameters, the budget after the epochs
        for p in spec.params:
            self.params[p.name] = p
            if p.name == "epochs":
                self.params[BUDGET.name] = BUDGET
        self.params.setdefault(BUDGET.name, BUDGET)
        self.params[ALERTS.name] = ALERTS  # the last row ...
        if hosts:
            self.params[HOST_ROW] = host_field(hosts)  # ... but for where the run trains
        self.raw: dict[str, str] = {p.name: _text(p.default) for p in self.params.values()}
        self._editing: str | None = None
        self._described: Param | None = None

    def compose(self) -> ComposeResult:
        yield ParamGrid(show_header=False, zebra_stripes=True, id=f"grid-{self.spec.name}")
        yield Static("", classes="param-help")
        yield ParamEditor(compact=True, id=f"editor-{self.spec.name}", placeholder="Enter on a row to edit it")
        yield Static("", classes="param-error")

    def on_mount(self) -> None:
        grid = self.grid
        grid.add_column("parameter", key="name")
        grid.add_column("value", key="value")
        for p in self.params.values():
            grid.add_row(p.name, self._cell(p), key=p.name)
        self._describe(next(iter(self.params.values())))

    def on_resize(self) -> None:
        self._fit_help()

    def _fit_help(self) -> None:
        """The help panel takes as many lines as the highlighted parameter's help needs at this width, at least
        HELP_LINES: most moves through the grid then repaint it without a layout pass of the screen, and a long
        help (a data source's forms) is never cut, while at 80x24 the grid keeps its rows."""
        p = self._described
        if p is None or not self.size.width:
            return
        lines = max(HELP_LINES, len(self._help_text(p).wrap(self.app.console, max(10, self.size.width - 2))))
        help_box = self.query_one(".param-help", Static)
        if help_box.styles.height is None or help_box.styles.height.value != lines:
            help_box.styles.height = lines

    @property
    def grid(self) -> DataTable:
        return self.query_one(DataTable)

    @property
    def editor(self) -> Input:
        return self.query_one(Input)

    # -- editing -------------------------------------------------------------------------------------
    def _param_at_cursor(self) -> Param | None:
        grid = self.grid
        if grid.row_count == 0:
            return None
        key = grid.coordinate_to_cell_key(grid.cursor_coordinate).row_key.value
        return self.params.get(key or "")

    def _help_text(self, p: Param) -> Text:
        allowed = "empty, or a number > 0" if p is BUDGET else p.allowed()
        keys = " (Enter: pick; ←/→: step)" if p.choices or p.type == "bool" else ""
        text = Text.assemble((p.name, "bold"), f": {p.help}. Allowed: {allowed}{keys}.")
        value = self.raw.get(p.name, "")
        if len(value) > 12:  # the grid's cell cuts a long value (a path): here it is whole
            text.append(f"\nvalue: {value}")
        return text

    def _describe(self, p: Param) -> None:
        # each arrow key lands here: a layout pass only when the help needs more (or fewer) lines
        self._described = p
        self.query_one(".param-help", Static).update(self._help_text(p), layout=False)
        self._fit_help()

    def highlighted(self, name: str | None) -> None:
        """The grid's cursor is on parameter ``name``."""
        p = self.params.get(name or "")
        if p is not None and self._editing is None:
            self._describe(p)
            # the grid shows the value; the editor fills on Enter. An Input's value change relayouts the
            # screen, which would cost every arrow key tens of ms.
            if self.editor.value:
                self.editor.value = ""

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.begin_edit()  # a mouse click on a row

    def begin_edit(self) -> None:
        p = self._param_at_cursor()
        if p is None:
            return
        if p.choices or p.type == "bool":
            self._pick(p)
            return
        self._editing = p.name
        self._describe(p)
        self.editor.value = self.raw[p.name]
        self.screen.set_focus(self.editor)  # now, so that keys typed right after Enter edit the value

    def _choices(self, p: Param) -> list[str]:
        return list(p.options()) if p.choices else ["true", "false"]

    def _pick(self, p: Param) -> None:
        from ..screens.dialogs import Pick

        def picked(value: str | None) -> None:
            if value is not None:
                self.apply(p.name, value)
            self.grid.focus()

        choices = self._choices(p)
        current = self.raw[p.name].strip().lower()
        self.app.push_screen(Pick(f"{p.name}: {p.help}", choices,
                                  choices.index(current) if current in choices else 0), picked)

    def step_choice(self, step: int) -> None:
        """Left/right on a parameter with a fixed set of values: the previous or next one."""
        p = self._param_at_cursor()
        if p is None or not (p.choices or p.type == "bool"):
            return
        choices = self._choices(p)
        current = self.raw[p.name].strip().lower()
        at = choices.index(current) if current in choices else -step
        self.apply(p.name, choices[(at + step) % len(choices)])

    def apply(self, name: str, raw: Any) -> None:
        """A value the user gave a field (typed, picked or stepped)."""
        self.set_value(name, raw)
        self.post_message(self.Edited(self, name))

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if self._editing:
            self._check(self.params[self._editing], event.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = self._editing or (p.name if (p := self._param_at_cursor()) else None)
        if name is None:
            return
        self._editing = None
        self.apply(name, event.value)
        self.grid.focus()

    def cancel_edit(self) -> bool:
        """Escape in the editor: drop the edit. Returns whether an edit was cancelled."""
        if self._editing is None:
            return False
        name, self._editing = self._editing, None
        self.editor.value = self.raw[name]
        self._check(self.params[name], self.raw[name])
        self.grid.focus()
        return True

    def _check(self, p: Param, raw: Any) -> str | None:
        """Validate one value, showing the message under the editor; returns the message or None."""
        try:
            p.coerce(raw)
        except LabdeckError as exc:
            self.editor.add_class("-invalid")
            self._show_error(str(exc))
            return str(exc)
        self.editor.remove_class("-invalid")
        self._show_error("")
        return None

    def _show_error(self, text: str) -> None:
        box = self.query_one(".param-error", Static)
        if str(box.render()) != text:
            box.update(text)
            box.display = bool(text)  # takes no row while there is nothing to say

    def _cell(self, p: Param) -> Text:
        raw = self.raw[p.name]
        try:
            value = p.coerce(raw)
        except LabdeckError:
            return Text(raw or "∅", style="bold red")
        return Text(raw, style="" if value == p.default else "bold")

    # -- the form's values ---------------------------------------------------------------------------
    def set_value(self, name: str, raw: Any) -> None:
        """Put ``raw`` in a field (invalid values are kept, marked, and refused at start)."""
        p = self.params[name]
        self.raw[name] = _text(raw)
        self.grid.update_cell(name, "value", self._cell(p))
        self._check(p, self.raw[name])
        if self._described is p:
            self._describe(p)

    def raw_values(self) -> dict[str, str]:
        """The hyperparameters (without the budget and the alerts)."""
        return {k: v for k, v in self.raw.items() if k not in (BUDGET.name, ALERTS.name, HOST_ROW)}

    def host(self) -> str:
        """The host the run is to train on; "" for this machine."""
        chosen = self.raw.get(HOST_ROW, HERE)
        return "" if chosen == HERE else chosen

    def alerts(self) -> list[str]:
        """The run's watchdog rules (check ``errors`` first)."""
        return split_rules(self.raw[ALERTS.name])

    def budget(self) -> float | None:
        """The run's wall-clock budget in seconds; None: the epochs decide (check ``errors`` first)."""
        return parse_budget(self.raw[BUDGET.name])

    def errors(self) -> list[str]:
        """Every field's message (nothing on screen changes)."""
        errors: list[str] = []
        for p in self.params.values():
            try:
                p.coerce(self.raw[p.name])
            except LabdeckError as exc:
                errors.append(str(exc))
        return errors

    def field_errors(self) -> list[str]:
        """Every field's message, marking the first bad field in the editor."""
        errors: list[str] = []
        for p in self.params.values():
            try:
                p.coerce(self.raw[p.name])
            except LabdeckError as exc:
                if not errors:
                    self.grid.move_cursor(row=self.grid.get_row_index(p.name))
                    self.editor.value = self.raw[p.name]
                    self._check(p, self.raw[p.name])
                errors.append(str(exc))
        return errors

    def overrides(self) -> dict[str, Any]:
        """Only the values that differ from the defaults (what a preset stores), typed where they are valid."""
        out: dict[str, Any] = {}
        for p in self.params.values():
            try:
                value = parse_budget(self.raw[p.name]) if p is BUDGET else p.coerce(self.raw[p.name])
            except LabdeckError:
                out[p.name] = self.raw[p.name]
                continue
            if value != p.default:
                out[p.name] = value
        return out

    def load(self, values: dict[str, Any], budget: float | None = None, alerts: list[str] | None = None,
             host: str | None = None) -> None:
        """Set every field from a preset or a run's parameters, budget, alerts and host (missing keys take their
        defaults)."""
        values = dict(values)
        if host is not None and HOST_ROW in self.params:
            values[HOST_ROW] = host or HERE
        if budget is not None:
            values[BUDGET.name] = f"{budget:g}"
        if alerts is not None:
            values[ALERTS.name] = ", ".join(alerts)
        for p in self.params.values():
            self.set_value(p.name, values.get(p.name, p.default))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
