"""Every place labdeck reads and writes, in one module (``labdeck paths`` prints them).

Each can be moved by an environment variable: ``LABDECK_HOME`` (runs), ``LABDECK_DATA`` (downloaded and decoded
datasets), ``LABDECK_CONFIG`` (presets, the settings file) and ``LABDECK_STATE`` (what the dashboard remembers).
"""

from __future__ import annotations

import os
from pathlib import Path


def _platform(kind: str) -> Path:
    """The user's ``kind`` (data, cache, config, state) directory for labdeck, as the platform has it."""
    import platformdirs  # not needed where every variable is set

    return Path(getattr(platformdirs, f"user_{kind}_dir")("labdeck", appauthor=False))


def _dir(env: str, kind: str) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser() if value else _platform(kind)


def home() -> Path:
    """The run store's folder: ``$LABDECK_HOME``, the settings file's ``home``, or the user's data directory."""
    if value := os.environ.get("LABDECK_HOME"):
        return Path(value).expanduser()
    from .settings import load

    return load(settings()).home or _platform("data")


def data() -> Path:
    """Datasets as downloaded and decoded: ``$LABDECK_DATA`` or the user's cache directory's ``data``."""
    value = os.environ.get("LABDECK_DATA")
    return Path(value).expanduser() if value else _platform("cache") / "data"


def config() -> Path:
    """``$LABDECK_CONFIG`` or the user's config directory: presets and the settings file."""
    return _dir("LABDECK_CONFIG", "config")


def presets() -> Path:
    return config() / "presets"


def settings() -> Path:
    """The user's settings (TOML): theme, keys, default home, hosts, alert targets."""
    return config() / "config.toml"


def speed_cache() -> Path:
    """Measured precision and thread decisions, per CPU and model."""
    return _platform("cache") / "precision.json"


def state() -> Path:
    """What the dashboard remembers between launches (the last tab): ``$LABDECK_STATE`` or the state directory."""
    return _dir("LABDECK_STATE", "state") / "dashboard.json"


def every() -> dict[str, Path]:
    """Each place, by what it holds (what ``labdeck paths`` prints)."""
    return {"home": home(), "data": data(), "config": config(), "presets": presets(), "settings": settings(),
            "speed_cache": speed_cache(), "state": state()}


WHAT = {"home": "runs", "data": "datasets, downloaded and decoded", "config": "settings and presets",
        "presets": "saved parameter sets", "settings": "theme, keys, default home",
        "speed_cache": "measured precision and thread choices", "state": "the dashboard's last tab"}
