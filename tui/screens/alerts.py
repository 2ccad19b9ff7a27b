"""The Alerts list: what the watchdog told about any run, newest first; Enter opens the run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from labdeck.engine.names import printable
from labdeck.engine.store import AlertRecord

from ..messages import OpenRun

if TYPE_CHECKING:
    from ..app import LabdeckApp

CSS = Path(__file__).with_name("dialogs.tcss")


def alert_line(alert: AlertRecord) -> Text:
    """One alert as a list shows it: when, the run, the rule (red where the run is in trouble), what it said."""
    from labdeck.engine.alerts import BUILT_IN, trouble

    when = time.strftime("%m-%d %H:%M", time.localtime(alert.t))
    style = "green" if not trouble(alert.rule) else "red" if alert.rule in BUILT_IN else "yellow"  # yellow: a rule
    line = Text(f"{when}  {alert.run_id}  ")
    line.append(printable(alert.rule, 30), style=f"bold {style}")
    if alert.action != "notify":
        line.append(f" ({alert.action})")
    line.append(f"  {printable(alert.message, 160)}")
    if alert.delivered not in ("", "sent", "none"):
        line.append(f"  [{printable(alert.delivered, 80)}]", style="dim")
    return line


def tell(app: LabdeckApp, alerts: list[AlertRecord]) -> None:
    """New alerts: a toast each, and the terminal's bell (tmux flags the window)."""
    from labdeck.engine.alerts import FAILED, NON_FINITE, trouble

    from ..keys import tab_of
    from ..widgets.tabs import Tabs

    for alert in alerts:
        info = app.model.infos.get(alert.run_id)
        if trouble(alert.rule) and info is not None:  # the run's tab carries a mark until it is shown
            app.query_one(Tabs).mark(f"tab-{tab_of(info.experiment)}")
        state = app.model.states.get(alert.run_id)
        if alert.rule in (FAILED, NON_FINITE) and state is not None and state.ended is not None:
            continue  # a followed run's failure was told as it ended
        app.notify(f"{alert.rule}: run {alert.run_id}: {printable(alert.message, 200)}", title="alert",
                   severity="warning" if trouble(alert.rule) else "information", timeout=15)
    app.bell()


class AlertsView(ModalScreen[None]):
    """Every alert the dashboard knows of, newest first."""

    CSS_PATH = CSS
    BINDINGS = [Binding("escape,q", "close", "Close", id="alerts.close")]

    def __init__(self, alerts: list[AlertRecord]):
        super().__init__()
        self.alerts = alerts[::-1]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog alerts-dialog"):
            yield Label("[b]Alerts[/] (newest first)" if self.alerts else
                        "No alerts: the watchdog tells NaN or diverging losses, stalls, deaths, ends and your "
                        "rules (labdeck alerts --help).")
            yield OptionList(*(Option(alert_line(a), id=str(a.id)) for a in self.alerts))
            yield Label("[b]Enter[/] open the run   [b]Esc[/] close", classes="dialog-hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(None)
        self.app.post_message(OpenRun(self.alerts[event.option_index].run_id))

    def action_close(self) -> None:
        self.dismiss(None)
