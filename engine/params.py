"""Hyperparameter declarations: one declaration drives validation, the CLI and the dashboard form."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ParamError

_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its name, type, default, allowed values and a one-line help."""

    name: str
    type: str  # "int" | "float" | "str" | "bool"
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    # Values beyond ``choices`` that are accepted too (a regular expression), and how to say it ("cuda:N").
    pattern: str = ""
    pattern_help: str = ""
    # Choices this machine adds to the picker (its GPUs), looked up when the picker opens.
    local_choices: Callable[[], tuple[str, ...]] | None = field(default=None, compare=False, repr=False)
    # Extra check for free-form strings (e.g. a data source); raises ParamError with the reason.
    check: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    def allowed(self) -> str:
        """Human description of what the parameter accepts."""
        if self.choices:
            return "one of " + ", ".join(self.choices) + (f" or {self.pattern_help}" if self.pattern_help else "")
        if self.type == "bool":
            return "true or false"
        kind = {"int": "an integer", "float": "a number", "str": "text"}[self.type]
        if self.low is not None and self.high is not None:
            return f"{kind} from {_fmt(self.low)} to {_fmt(self.high)}"
        if self.low is not None:
            return f"{kind} >= {_fmt(self.low)}"
        if self.high is not None:
            return f"{kind} <= {_fmt(self.high)}"
        return kind

    def options(self) -> tuple[str, ...]:
        """What a picker offers: the choices, then what this machine adds."""
        extra = self.local_choices() if self.local_choices else ()
        return self.choices + tuple(c for c in extra if c not in self.choices)

    def coerce(self, raw: Any) -> Any:
        """Convert ``raw`` (a string from the CLI or the form, or a Python value) and validate it."""
        value = self._convert(raw)
        if self.choices and value not in self.choices and not (self.pattern and re.fullmatch(self.pattern, value)):
            raise self._error(raw)
        if self.type in ("int", "float"):
            if not math.isfinite(value):
                raise self._error(raw)
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                raise self._error(raw)
        if self.check is not None:
            try:
                self.check(value)
            except ParamError as exc:
                raise ParamError(f"{self.name}: {exc}") from None
        return value

    def _convert(self, raw: Any) -> Any:
        if self.type == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise self._error(raw)
        if self.type == "str":
            return str(raw).strip()
        if isinstance(raw, bool):  # a preset's `hidden = true` is no number
            raise self._error(raw)
        try:
            if isinstance(raw, (int, float)):
                if self.type == "int" and isinstance(raw, float) and not raw.is_integer():
                    raise ValueError
                return int(raw) if self.type == "int" else float(raw)
            text = str(raw).strip()
            if not text.isascii():  # int() and float() read other scripts' digits: "٣٢" is not a size here
                raise ValueError
            return int(text) if self.type == "int" else float(text)
        except (TypeError, ValueError, OverflowError):
            raise self._error(raw) from None

    def _error(self, raw: Any) -> ParamError:
        return ParamError(f"{self.name}: must be {self.allowed()} (got {raw!r})")


def _fmt(x: float) -> str:
    """A bound as a user types it: 5000000, not 5e+06; 1e-07 stays short."""
    if float(x).is_integer() and abs(x) < 1e16:
        return str(int(x))
    return f"{x:g}"


class ParamSpec:
    """The ordered set of an experiment's parameters."""

    def __init__(self, params: Iterable[Param]):
        self.params: dict[str, Param] = {p.name: p for p in params}

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params.values())

    def __contains__(self, name: str) -> bool:
        return name in self.params

    def __getitem__(self, name: str) -> Param:
        return self.params[name]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self}

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated with ``overrides``; every key known, every value valid. Every bad one is named, in one
        line."""
        values = self.defaults()
        problems = []
        unknown = [key for key in (overrides or {}) if key not in self.params]
        if unknown:
            problems.append(f"{', '.join(unknown)}: unknown parameter{'s' if len(unknown) > 1 else ''} "
                            f"(known: {', '.join(self.params)})")
        for key, raw in (overrides or {}).items():
            if key in self.params:
                try:
                    values[key] = self.params[key].coerce(raw)
                except ParamError as exc:
                    problems.append(str(exc))
        if problems:
            raise ParamError("; ".join(problems))
        return values


BUDGET_RANGE = (0.1, 30 * 24 * 3600.0)  # a tenth of a second (a test's run) to thirty days


def parse_budget(raw: Any) -> float | None:
    """A run's budget in seconds (the CLI, a form field, a sweep); empty or None: the epochs decide."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = float(raw) if not isinstance(raw, bool) and (not isinstance(raw, str) or raw.isascii()) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    low, high = BUDGET_RANGE
    if not (low <= value <= high):
        raise ParamError(f"budget: must be a number of seconds from {low:g} to {high:g} (30 days), or empty to "
                         f"train for the epochs (got {raw!r})")
    return value


def _check_budget(raw: str) -> None:
    try:
        parse_budget(raw)
    except ParamError as exc:
        raise ParamError(str(exc).removeprefix("budget: ")) from None


# The form's budget field: not a hyperparameter of the model, but how long its run trains.
BUDGET = Param("budget", "str", "", "seconds for the whole run, from start to result: training fits in them with "
               "its evaluations. Empty: train for the epochs", check=_check_budget)


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """Parse ``KEY=VALUE`` strings from the command line."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParamError(f"{item!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out
