"""JSON that every parser reads: NaN and infinities, which Python's json writes as bare ``NaN``/``Infinity`` (not
JSON), are written as ``null``. Every ``--json`` output and export goes through here."""

from __future__ import annotations

import json
import math
from typing import Any


def plain(value: Any) -> Any:
    """``value`` with each non-finite float replaced by None (containers copied only where needed)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    return json.dumps(plain(value), allow_nan=False, **options)
