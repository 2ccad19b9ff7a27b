"""The code's own rules, run with the tests: ruff's lint rules, and the import contracts in pyproject.toml (the
engine never imports the dashboard or Textual; no import cycles among the engine's modules)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_import_contracts_are_kept():
    done = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                           "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_every_package_folder_is_installed_under_labdeck():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"labdeck"} | {"labdeck." + ".".join(init.parent.relative_to(ROOT).parts)
                           for top in ("engine", "tui") for init in (ROOT / top).rglob("__init__.py")}
    assert listed == found


def test_labdeck_is_importable_and_installs_no_bare_engine_or_tui(tmp_path):
    code = "import labdeck, labdeck.engine, importlib.util as u; print(u.find_spec('engine'), u.find_spec('tui'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.stdout.strip() == "None None", done.stderr[-2000:]
