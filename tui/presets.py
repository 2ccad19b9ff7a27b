"""Named hyperparameter presets, one JSON file per experiment in ``<home>/presets/``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class Presets:
    def __init__(self, home: Path):
        self.folder = Path(home) / "presets"

    def _file(self, experiment: str) -> Path:
        return self.folder / f"{experiment}.json"

    def all(self, experiment: str) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self._file(experiment).read_text())
        except (OSError, ValueError):
            return {}

    def save(self, experiment: str, name: str, values: dict[str, Any]) -> None:
        presets = self.all(experiment)
        presets[name] = values
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self._file(experiment).with_suffix(".tmp")
        tmp.write_text(json.dumps(presets, indent=1, sort_keys=True))
        os.replace(tmp, self._file(experiment))
