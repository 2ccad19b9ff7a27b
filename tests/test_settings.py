"""The user's settings file: theme, keys and default home, kept between launches; a wrong entry costs only itself."""

from __future__ import annotations

import json
import tomllib

from labdeck.engine import paths, settings
from labdeck.tui.app import LabdeckApp

from .conftest import cli
from .test_tui import until


def test_a_theme_is_kept_with_the_files_other_lines_and_comments(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('# mine\nhome = "~/runs"\n\n[dashboard]  # the look\ntheme = "nord"\n\n[keys]\n"run.stop" = "X"\n')
    assert settings.save_theme("gruvbox", path) == ""
    text = path.read_text()
    assert "# mine" in text and "# the look" in text
    assert tomllib.loads(text) == {"home": "~/runs", "dashboard": {"theme": "gruvbox"}, "keys": {"run.stop": "X"}}
    fresh = tmp_path / "new" / "config.toml"
    assert settings.save_theme("dracula", fresh) == "" and settings.load(fresh).theme == "dracula"


def test_a_wrong_entry_costs_only_itself_and_is_said_in_one_line(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('home = 3\n[dashboard]\ntheme = "nord"\n[keys]\n"run.stop" = 1\n"app.quit" = "ctrl+q"\n')
    got = settings.load(path)
    assert got.home is None and got.theme == "nord" and got.keys == {"app.quit": "ctrl+q"}
    assert "home" in got.problem and "run.stop" in got.problem and "\n" not in got.problem
    path.write_text("home = [")
    got = settings.load(path)
    assert got == settings.Settings(problem=got.problem) and "not read" in got.problem


def test_home_comes_from_the_flag_the_variable_the_settings_then_the_platform(home, tmp_path, monkeypatch):
    paths.settings().parent.mkdir(parents=True, exist_ok=True)
    paths.settings().write_text(f'home = "{tmp_path / "kept"}"\n')
    assert paths.home() == home  # LABDECK_HOME first
    monkeypatch.delenv("LABDECK_HOME")
    assert paths.home() == tmp_path / "kept"
    out = json.loads(cli("paths", "--json", check=True).stdout)
    assert out["home"] == str(tmp_path / "kept") and out["settings"] == str(paths.settings())
    assert json.loads(cli("paths", "--json", "--home", "/x", check=True).stdout)["home"] == "/x"
    assert "home" in cli("paths", check=True).stdout


async def test_the_dashboard_uses_the_theme_and_keys_and_keeps_a_theme_chosen(home):
    paths.settings().parent.mkdir(parents=True, exist_ok=True)
    paths.settings().write_text('[dashboard]\ntheme = "nord"\n[keys]\n"tab.runs" = "f4"\n"no.such" = "z"\n')
    app = LabdeckApp(home, system_stats=False)
    said: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (said.append(str(message)), notify(message, **kw))[1]
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.mounted, what="mounted")
        assert app.theme == "nord"
        assert [line for line in said if "no.such" in line] == [
            "settings: no key binding 'no.such' (docs/settings.md lists the ids)"]
        await pilot.press("f4")
        await until(pilot, lambda: app.active_tab() == "runs", what="the Runs tab by its new key")
        app.theme = "gruvbox"  # what the palette's Change theme does
        await until(pilot, lambda: settings.load(paths.settings()).theme == "gruvbox", what="the theme kept")
    assert '"tab.runs" = "f4"' in paths.settings().read_text()
