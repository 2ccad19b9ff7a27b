"""A run's whole metric history out of the store, streamed: CSV (a row per step) or one JSON document. Memory stays
flat whatever the run's length: the series are read a block of steps at a time (``Store.blocks``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from typing import IO

import numpy as np

from . import jsonout, registry
from .store import RunInfo, Store


def axis(info: RunInfo) -> str:
    """What a row of the run's history is: an epoch of labdeck's own experiments, a step of a script."""
    return "epoch" if registry.is_own(info.experiment) else "step"


def _cells(values: np.ndarray, present: np.ndarray, missing: str) -> list[str]:
    """Floats as Python writes them (``repr``: exact, ``nan``/``inf`` as such); ``missing`` where none."""
    cells = [repr(v) for v in values.tolist()]
    if not present.all():
        for i in np.flatnonzero(~present).tolist():
            cells[i] = missing
    return cells


def csv_lines(store: Store, run: str) -> Iterator[str]:
    """The history as CSV lines: the axis, then each metric in the order first logged; an empty cell where a
    metric has no value at that step, ``nan``/``inf`` where it logged one."""
    info = store.get(run)
    keys = list(store.series_keys(info.id))
    yield ",".join([axis(info), *(_csv_field(k) for k in keys)]) + "\n"
    for steps, columns in store.blocks(info.id, keys):
        cells = [_cells(columns[k][0], columns[k][1], "") for k in keys]
        lines = [",".join(row) for row in zip([str(s) for s in steps.tolist()], *cells)]
        yield "\n".join(lines) + "\n"


def _csv_field(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n\r') else text


def write_csv(store: Store, run: str, out: IO[str]) -> None:
    for part in csv_lines(store, run):
        out.write(part)


def write_json(store: Store, run: str, out: IO[str]) -> None:
    """One JSON document: the run (as ``show --json``) with ``history`` holding a list per column, ``null`` where
    a metric has no value or a non-finite one. The columns are spooled to a temporary folder as the blocks come,
    then written one after another."""
    info = store.get(run)
    keys = list(store.series_keys(info.id))
    head = info.to_json()
    head.pop("history", None)
    with tempfile.TemporaryDirectory(prefix="labdeck-export-") as spool, ExitStack() as opened:
        files = {name: opened.enter_context(open(os.path.join(spool, str(i)), "wb"))
                 for i, name in enumerate([axis(info), *keys])}
        for steps, columns in store.blocks(info.id, keys):
            steps.astype("<f8").tofile(files[axis(info)])
            for k in keys:
                values, present = columns[k]
                np.where(present & np.isfinite(values), values, np.nan).astype("<f8").tofile(files[k])
        opened.close()
        out.write(jsonout.dumps(head)[:-1] + ', "history": {')
        for i, (name, f) in enumerate(files.items()):
            out.write(("" if i == 0 else ", ") + jsonout.dumps(name) + ": [")
            whole = name == axis(info)
            first = True
            for piece in _pieces(f.name):
                text = ", ".join(str(int(v)) if whole else ("null" if v != v else repr(v)) for v in piece.tolist())
                if text:
                    out.write(text if first else ", " + text)
                    first = False
            out.write("]")
        out.write("}}\n")


def _pieces(path: str, size: int = 1 << 16) -> Iterator[np.ndarray]:
    with open(path, "rb") as f:
        while chunk := f.read(size * 8):
            yield np.frombuffer(chunk, "<f8")
