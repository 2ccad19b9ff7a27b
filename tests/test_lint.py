"""The code's own rules, run with the tests: ruff's lint rules, mypy's types, one name for each package, and the
import contracts in pyproject.toml (the engine sits below the rest of labdeck and never imports Textual; no import
cycles in it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_types_check():
    """mypy, as pyproject.toml's [tool.mypy] sets it, over all of labdeck."""
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", os.devnull],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_import_contracts_are_kept():
    done = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                           "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


def test_no_code_imports_engine_or_tui_by_its_bare_name():
    """labdeck.engine and engine would be two copies of one module (an except of one misses the other's errors)."""
    import ast

    bare = []
    for path in sorted(ROOT.rglob("*.py")):
        if {".venv", "build", ".git"} & set(path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bare += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names
                     if n.split(".")[0] in {"engine", "tui"}]
    assert bare == []


def test_the_folders_are_the_packages_under_one_name():
    assert (ROOT / "labdeck" / "engine").resolve() == ROOT / "engine"
    assert (ROOT / "labdeck" / "tui").resolve() == ROOT / "tui"
    for name in ("engine", "tui"):  # from the repository's root, where the bare folder is on sys.path
        done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 1 and f"import labdeck.{name}, not {name}" in done.stderr


def test_labdeck_is_importable_and_installs_no_bare_engine_or_tui(tmp_path):
    code = "import labdeck, labdeck.engine, importlib.util as u; print(u.find_spec('engine'), u.find_spec('tui'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.stdout.strip() == "None None", done.stderr[-2000:]
