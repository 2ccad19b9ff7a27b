"""A hyperparameter form generated from an experiment's declaration: a property grid with one editor.

Arrow keys move through the parameters, Enter edits the highlighted one in the editor below the grid
(validated as you type), Enter again applies, Escape cancels. Four widgets however many parameters there are,
which keeps the dashboard quick to start and to switch tabs.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, Static

from engine.errors import LabdeckError
from engine.params import Param
from engine.spec import Spec

from .row_table import RowTable


class ParamGrid(RowTable):
    """The form's table. Enter opens the editor within the key's own handling (a binding, not a message), so
    keys typed right after it already go to the editor."""

    BINDINGS = [Binding("enter", "edit", "Edit", id="form.edit")]

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


class ParamEditor(Input):
    """The form's editor. Its bound keys (backspace, enter, arrows, ...) run from ``_on_key``, the path printable
    keys take: dispatched as bindings (Textual's default) they overtook printable keys in a burst (a paste, fast
    typing over SSH), so backspace, 1, 0, 0, 0, enter on "2000" submitted an empty value."""

    async def _on_key(self, event: events.Key) -> None:
        bindings = self._bindings.key_to_bindings.get(event.key)
        if bindings:
            event.stop()
            event.prevent_default()
            self._restart_blink()
            await self.run_action(bindings[0].action)
            return
        await super()._on_key(event)


class ParamForm(Vertical):
    DEFAULT_CSS = """
    ParamForm { height: 1fr; }
    ParamForm > DataTable { height: 1fr; }
    /* fixed heights: moving through the grid updates these lines without a layout pass */
    ParamForm > .param-help { height: 3; color: $text-muted; padding: 0 1; }
    ParamForm > Input { margin: 0 1; }
    ParamForm > Input.-invalid { background: $error 30%; }
    ParamForm > .param-error { height: 2; color: $error; padding: 0 1; }
    """

    def __init__(self, spec: Spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.raw: dict[str, str] = {p.name: _text(p.default) for p in spec.params}
        self._editing: str | None = None

    def compose(self) -> ComposeResult:
        yield ParamGrid(show_header=False, zebra_stripes=True, id=f"grid-{self.spec.name}")
        yield Static("", classes="param-help")
        yield ParamEditor(compact=True, id=f"editor-{self.spec.name}", placeholder="Enter on a row to edit it")
        yield Static("", classes="param-error")

    def on_mount(self) -> None:
        grid = self.grid
        grid.add_column("parameter", key="name")
        grid.add_column("value", key="value")
        for p in self.spec.params:
            grid.add_row(p.name, self._cell(p), key=p.name)
        self._describe(next(iter(self.spec.params)))

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
        return self.spec.params.params.get(key)

    def _describe(self, p: Param) -> None:
        # fixed height: repainted without relayout of the whole screen (each arrow key lands here)
        self.query_one(".param-help", Static).update(f"[b]{p.name}[/b]: {p.help}. Allowed: {p.allowed()}.",
                                                     layout=False)

    def highlighted(self, name: str | None) -> None:
        """The grid's cursor is on parameter ``name``."""
        p = self.spec.params.params.get(name)
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
        self._editing = p.name
        self._describe(p)
        self.editor.value = self.raw[p.name]
        self.screen.set_focus(self.editor)  # now, so that keys typed right after Enter edit the value

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if self._editing:
            self._check(self.spec.params.params[self._editing], event.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = self._editing or (p.name if (p := self._param_at_cursor()) else None)
        if name is None:
            return
        self.set_value(name, event.value)
        self._editing = None
        self.grid.focus()

    def cancel_edit(self) -> bool:
        """Escape in the editor: drop the edit. Returns whether an edit was cancelled."""
        if self._editing is None:
            return False
        name, self._editing = self._editing, None
        self.editor.value = self.raw[name]
        self._check(self.spec.params.params[name], self.raw[name])
        self.grid.focus()
        return True

    def _check(self, p: Param, raw: Any) -> str | None:
        """Validate one value, showing the message under the editor; returns the message or None."""
        try:
            p.coerce(raw)
        except LabdeckError as exc:
            self.editor.add_class("-invalid")
            self.query_one(".param-error", Static).update(str(exc), layout=False)
            return str(exc)
        self.editor.remove_class("-invalid")
        self.query_one(".param-error", Static).update("", layout=False)
        return None

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
        p = self.spec.params.params[name]
        self.raw[name] = _text(raw)
        self.grid.update_cell(name, "value", self._cell(p))
        self._check(p, self.raw[name])

    def raw_values(self) -> dict[str, str]:
        return dict(self.raw)

    def field_errors(self) -> list[str]:
        """Every field's message, marking the first bad field in the editor."""
        errors = []
        for p in self.spec.params:
            try:
                p.coerce(self.raw[p.name])
            except LabdeckError as exc:
                if not errors:
                    self.grid.move_cursor(row=self.grid.get_row_index(p.name))
                    self.editor.value = self.raw[p.name]
                    self._check(p, self.raw[p.name])
                errors.append(str(exc))
        return errors

    def overrides(self) -> dict[str, str]:
        """Only the values that differ from the defaults (what a preset stores)."""
        out = {}
        for p in self.spec.params:
            try:
                same = p.coerce(self.raw[p.name]) == p.default
            except LabdeckError:
                same = False
            if not same:
                out[p.name] = self.raw[p.name]
        return out

    def load(self, values: dict[str, Any]) -> None:
        """Set every field from a preset or a run's parameters (missing keys take their defaults)."""
        for p in self.spec.params:
            self.set_value(p.name, values.get(p.name, p.default))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
