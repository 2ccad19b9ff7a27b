"""A hyperparameter form generated from an experiment's declaration, validating as you type."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Select, Static, Switch

from engine.errors import LabdeckError
from engine.params import Param
from engine.spec import Spec


class ParamForm(VerticalScroll):
    """One row per parameter: a label with its help, an input (Select for choices, Switch for bools), an error."""

    DEFAULT_CSS = """
    ParamForm { height: 1fr; padding: 0 1; }
    ParamForm .param-label { color: $text-muted; }
    ParamForm .param-error { color: $error; height: auto; }
    ParamForm Input.-invalid { background: $error 30%; }
    ParamForm Input, ParamForm Select { width: 100%; }
    """

    def __init__(self, spec: Spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec

    def _wid(self, p: Param) -> str:
        return f"p-{self.spec.name}-{p.name}"

    def compose(self) -> ComposeResult:
        for p in self.spec.params:
            yield Label(f"{p.name}  [dim]{p.help}[/]", classes="param-label")
            if p.choices:
                yield Select([(c, c) for c in p.choices], value=p.default, allow_blank=False, id=self._wid(p),
                             name=p.name, compact=True)
            elif p.type == "bool":
                yield Switch(value=bool(p.default), id=self._wid(p), name=p.name)
            else:
                yield Input(str(p.default), id=self._wid(p), name=p.name, tooltip=p.allowed(),
                            placeholder=p.allowed(), compact=True)

    def on_input_changed(self, event: Input.Changed) -> None:
        param = self.spec.params.params.get(event.input.name or "")
        if param is not None:
            self._show(param, event.value)

    def _show(self, param: Param, raw: Any) -> bool:
        """Mark the field and show its message under it; the message widget exists only while needed."""
        field = self.query_one(f"#{self._wid(param)}")
        errors = self.query(f"#{self._wid(param)}-err")
        try:
            param.coerce(raw)
        except LabdeckError as exc:
            field.add_class("-invalid")
            if errors:
                errors.first(Static).update(str(exc))
            else:
                self.mount(Static(str(exc), id=f"{self._wid(param)}-err", classes="param-error"), after=field)
            return False
        field.remove_class("-invalid")
        errors.remove()
        return True

    def raw_values(self) -> dict[str, Any]:
        """The form's values as entered (strings for inputs), keyed by parameter name."""
        out: dict[str, Any] = {}
        for p in self.spec.params:
            widget = self.query_one(f"#{self._wid(p)}")
            out[p.name] = widget.value
        return out

    def field_errors(self) -> list[str]:
        """Validate every field, marking the bad ones; returns their messages."""
        bad = []
        for p in self.spec.params:
            raw = self.query_one(f"#{self._wid(p)}").value
            if not self._show(p, raw):
                try:
                    p.coerce(raw)
                except LabdeckError as exc:
                    bad.append(str(exc))
        return bad

    def overrides(self) -> dict[str, Any]:
        """Only the values that differ from the defaults (what a preset stores)."""
        out = {}
        for name, raw in self.raw_values().items():
            p = self.spec.params.params[name]
            try:
                if p.coerce(raw) != p.default:
                    out[name] = raw
            except LabdeckError:
                out[name] = raw
        return out

    def load(self, values: dict[str, Any]) -> None:
        """Set fields from a preset or a run's parameters (unknown keys are ignored)."""
        for p in self.spec.params:
            value = values.get(p.name, p.default)
            widget = self.query_one(f"#{self._wid(p)}")
            if isinstance(widget, Input):
                widget.value = str(value)
            elif isinstance(widget, Switch):
                widget.value = bool(value) if not isinstance(value, str) else value.lower() in ("1", "true", "yes")
            else:
                widget.value = value
