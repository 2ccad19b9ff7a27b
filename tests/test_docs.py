"""The docs keep up with the code: every key the app binds and every CLI command is documented (as sqlite-utils'
test_docs.py does for its commands)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

from labdeck import tui
from labdeck.engine.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
NAMES = {"left_square_bracket": "[", "right_square_bracket": "]", "question_mark": "?", "slash": "/",
         "left": "←", "right": "→", "plus": "+", "equals_sign": "=", "minus": "-", "exclamation_mark": "!"}


def written(key: str) -> str:
    """A key as the docs write it: `s`, `Shift+R`, `Ctrl+S`, `Escape`, `[`."""
    if key in NAMES:
        return NAMES[key]
    if len(key) == 1:
        return f"Shift+{key}" if key.isupper() else key
    return "+".join(part.capitalize() if len(part) > 1 else part.upper() for part in key.split("+"))


def own_bindings():
    """(class, key) of every binding a labdeck class declares itself (not those it inherits from Textual)."""
    for module in pkgutil.walk_packages(tui.__path__, "labdeck.tui."):
        mod = importlib.import_module(module.name)
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ != mod.__name__:
                continue
            for binding in cls.__dict__.get("BINDINGS", []):
                key = binding.key if hasattr(binding, "key") else binding[0]
                for one in key.split(","):
                    yield cls.__name__, one.strip()


def test_every_key_the_app_binds_is_documented():
    keys = set(own_bindings())
    assert len(keys) > 30
    missing = sorted(f"{cls}: {written(key)}" for cls, key in keys if f"`{written(key)}`" not in DOCS)
    assert not missing, f"keys missing from the README and docs/: {missing}"


def test_every_cli_command_is_documented():
    commands = set(COMMANDS)
    assert {"run", "runs", "show", "sweep", "report", "export", "generate"} <= commands
    missing = sorted(c for c in commands if not re.search(rf"labdeck {re.escape(c)}\b", DOCS))
    assert not missing, f"commands missing from the README and docs/: {missing}"


def test_every_binding_id_a_keymap_may_name_is_documented():
    from labdeck.tui.keys import binding_groups

    text = (ROOT / "docs" / "settings.md").read_text()
    ids = [b.id for _, bindings in binding_groups() for b in bindings if b.id]
    assert len(ids) > 30 and [i for i in ids if f"`{i}`" not in text] == []
