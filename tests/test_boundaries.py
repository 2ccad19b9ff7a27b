"""Architecture rules: the engine never imports the UI, and the UI can start and watch without torch."""

import subprocess
import sys

CHECK = """
import sys
{imports}
bad = sorted(m for m in sys.modules if any(m == f or m.startswith(f + '.') for f in {forbidden}))
print(','.join(bad))
"""


def _loaded(imports: str, forbidden: set[str]) -> str:
    code = CHECK.format(imports=imports, forbidden=forbidden)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_engine_never_imports_textual_or_tui():
    imports = "\n".join(f"import {m}" for m in (
        "labdeck", "labdeck.engine", "labdeck.engine.cli", "labdeck.engine.trainer", "labdeck.engine.runs",
        "labdeck.engine.store", "labdeck.engine.predict", "labdeck.engine.experiments.sequence.experiment",
        "labdeck.engine.worker"))
    assert _loaded(imports, {"textual", "labdeck.tui", "textual_plotext", "plotext"}) == ""


def test_engine_public_api_does_not_import_torch():
    # The dashboard uses these to build forms, validate, start and watch runs.
    imports = ("import labdeck.engine, labdeck.engine.store, labdeck.engine.runs\n"
               "from labdeck.engine import registry\nregistry.get('sequence').resolve({})")
    assert _loaded(imports, {"torch"}) == ""


def test_logging_from_a_script_imports_neither_torch_nor_textual(tmp_path):
    imports = (f"import labdeck\nwith labdeck.init('mine', home={str(tmp_path)!r}) as run:\n"
               "    run.log({'loss': 1.0})")
    assert _loaded(imports, {"torch", "textual", "labdeck.tui"}) == ""
