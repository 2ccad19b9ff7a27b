"""Named hyperparameter presets: one TOML file per experiment in the user's config directory.

``presets/sequence.toml`` holds a table per preset::

    [fast-gru]
    cell = "gru"
    hidden = 32

A user may edit the files by hand: one that does not parse is an error naming the file and line, and is never
overwritten (a preset saved beside it would empty it).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from . import durable, paths
from .errors import ParamError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def folder() -> Path:
    """``$LABDECK_CONFIG/presets``, else the user config directory's (e.g. ``~/.config/labdeck/presets``)."""
    return paths.presets()


def path(experiment: str) -> Path:
    return folder() / f"{experiment}.toml"


def named(experiment: str) -> dict[str, dict[str, Any]]:
    """Every preset of ``experiment`` (none when its file does not exist)."""
    file = path(experiment)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamError(f"preset: cannot read {file}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParamError(f"preset: {file} is not valid TOML: {exc}") from None
    bad = [name for name, values in data.items() if not isinstance(values, dict)]
    if bad:
        raise ParamError(f"preset: {file}: {bad[0]!r} is not a table of values ([{bad[0]}] then key = value lines)")
    return data


def get(experiment: str, name: str) -> dict[str, Any]:
    presets = named(experiment)
    if name not in presets:
        known = ", ".join(sorted(presets)) or "none yet"
        raise ParamError(f"preset: no {experiment} preset {name!r} in {path(experiment)} (there: {known})")
    return presets[name]


def save(experiment: str, name: str, values: dict[str, Any]) -> Path:
    """Add or replace one preset; the file's other presets stay as they are. A file that does not parse is left
    untouched (the error says where it is wrong)."""
    import tomli_w

    if not NAME.match(name):
        raise ParamError(f"preset: {name!r} is not a name (letters, digits, '-', '_', '.'; up to 64)")
    presets = named(experiment)
    presets[name] = {k: v for k, v in values.items() if v is not None}
    file = path(experiment)
    file.parent.mkdir(parents=True, exist_ok=True)
    try:
        durable.write_text(file, tomli_w.dumps(presets))
    except OSError as exc:
        raise ParamError(f"preset: cannot write {file}: {exc}") from None
    return file
