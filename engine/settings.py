"""The user's settings file, ``config.toml`` in the config folder (``labdeck paths`` prints where)::

    home = "~/runs"            # the run store when neither --home nor LABDECK_HOME names one

    [alerts]                   # the watchdog (engine/alerts.py): rules for every run, and where alerts go
    rules = ["loss>50:stop"]
    notify = ["ntfy://my-topic", "json://localhost:8080/hook"]   # apprise URLs
    stall_seconds = 600

    [dashboard]
    theme = "nord"             # the theme chosen in the command palette is kept here

    [hosts.gpu1]               # another machine, reached by ssh (engine/hosts.py)
    ssh = "me@gpu1.lab"
    command = "~/venv/bin/labdeck"

    [keys]                     # a binding's id (docs/settings.md lists them) = the keys that trigger it
    "run.stop" = "X"
    "app.quit" = "ctrl+q"

A file that cannot be read or holds a wrong value costs only that value: the rest applies, and ``problem`` says
what was wrong in one line.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .hosts import Host, from_settings


@dataclass(frozen=True)
class Settings:
    home: Path | None = None
    theme: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    alert_rules: tuple[str, ...] = ()  # [alerts] rules: every run's, beside its own (engine/alerts.py)
    notify: tuple[str, ...] = ()  # [alerts] notify: where alerts go off the machine (apprise URLs)
    stall_seconds: float | None = None  # [alerts] stall_seconds: a run without progress this long has stalled
    plateau: int | None = None  # [alerts] plateau: a target metric no better for this many evaluations (off: None)
    hosts: dict[str, Host] = field(default_factory=dict)  # [hosts.NAME]: other machines to show (engine/hosts.py)
    problem: str = ""  # what was wrong in the file, in one line ("" when nothing was)


def load(path: Path) -> Settings:
    """The settings in ``path`` (``paths.settings()`` is the user's); defaults where it is missing or wrong."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Settings(problem=f"settings file {path} not read ({exc}); using the defaults")
    wrong: list[str] = []
    home = raw.get("home")
    if home is not None and not (isinstance(home, str) and home.strip()):
        wrong.append("home must be a folder's path")
        home = None
    dashboard = _table(raw, "dashboard", wrong)
    theme = dashboard.get("theme")
    if theme is not None and not isinstance(theme, str):
        wrong.append("dashboard.theme must be a theme's name")
        theme = None
    keys = _table(raw, "keys", wrong, " of binding id = keys")
    bad_keys = [k for k, v in keys.items() if not (isinstance(v, str) and v.strip())]
    if bad_keys:
        wrong.append(f"keys.{bad_keys[0]} must be keys such as \"ctrl+q\" or \"x,X\"")
    alerts = _table(raw, "alerts", wrong)
    lists = {}
    for name in ("rules", "notify"):
        value = alerts.get(name, [])
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            wrong.append(f"alerts.{name} must be a list of strings")
            value = []
        lists[name] = tuple(value)
    stall = alerts.get("stall_seconds")
    if stall is not None and not (isinstance(stall, (int, float)) and not isinstance(stall, bool) and stall > 0):
        wrong.append("alerts.stall_seconds must be a number of seconds above 0")
        stall = None
    plateau = alerts.get("plateau")
    if plateau is not None and not (isinstance(plateau, int) and not isinstance(plateau, bool) and plateau >= 2):
        wrong.append("alerts.plateau must be a number of evaluations, 2 or more")
        plateau = None
    found, wrong_hosts = from_settings(raw.get("hosts", {}))
    wrong += wrong_hosts
    return Settings(home=Path(home).expanduser() if home else None, theme=theme, plateau=plateau, hosts=found,
                    keys={k: v for k, v in keys.items() if k not in bad_keys},
                    alert_rules=lists["rules"], notify=lists["notify"],
                    stall_seconds=float(stall) if stall is not None else None,
                    problem=f"settings file {path}: {'; '.join(wrong)} (ignored)" if wrong else "")


def _table(raw: dict[str, Any], name: str, wrong: list[str], what: str = "") -> dict[str, Any]:
    """The file's table ``name`` ({} if absent); one that is not a table is said in ``wrong`` and left out."""
    value = raw.get(name, {})
    if isinstance(value, dict):
        return value
    wrong.append(f"[{name}] must be a table{what}")
    return {}


def save_theme(theme: str, path: Path) -> str:
    """Keep ``theme`` as the dashboard's; the rest of the file, comments included, stays as it was. Returns "" or
    why it failed."""
    import re

    import tomli_w

    from . import durable

    try:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        raw = tomllib.loads(text)
        if not isinstance(raw.get("dashboard", {}), dict):
            return f"settings file {path}: [dashboard] is not a table; the theme is not kept"
        if raw.get("dashboard", {}).get("theme") == theme:
            return ""
        want = {**raw, "dashboard": {**raw.get("dashboard", {}), "theme": theme}}
        line = f"theme = {tomli_w.dumps({'theme': theme}).split('=', 1)[1].strip()}"
        header = re.search(r"^\[dashboard\][ \t]*(#.*)?$", text, re.M)
        if header is None:
            gap = "" if not text.strip() else "\n" if text.endswith("\n") else "\n\n"
            edited = text + gap + f"[dashboard]\n{line}\n"
        else:
            section = text[header.end():]
            end = m.start() if (m := re.search(r"^\[", section, re.M)) else len(section)
            body = re.sub(r"^[ \t]*theme[ \t]*=.*$", line, section[:end], count=1, flags=re.M)
            if body == section[:end]:
                body = f"\n{line}" + body
            edited = text[:header.end()] + body + section[end:]
        try:
            kept = tomllib.loads(edited) == want
        except tomllib.TOMLDecodeError:
            kept = False
        path.parent.mkdir(parents=True, exist_ok=True)
        durable.write_text(path, edited if kept else tomli_w.dumps(want))  # an odd layout: rewritten whole
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return f"the theme is not kept: {exc}"
    return ""
