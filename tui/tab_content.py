"""What every tab's content is: it follows runs, draws them when the app's redraw timer asks, and owns what acts on
the run it shows (pause, resume, stop, a report) with the workers that do it.

The app binds those keys on every tab and hands each press to the content shown; the content decides which run
it means (the followed run, the one under the cursor, a sweep's first marked trial).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import work
from textual.widget import Widget

from labdeck import engine
from labdeck.engine import LabdeckError
from labdeck.engine.hosts import split

from .messages import Controlled, Doing, ReportWritten, StoreChanged
from .model import RunsModel

if TYPE_CHECKING:
    from .app import LabdeckApp


class TabContent(Widget):
    """A tab's content, mixed in after the Horizontal or Vertical that lays it out (Textual reads default CSS
    along the first bases only)."""

    model: RunsModel
    home: Path

    @property
    def labdeck(self) -> LabdeckApp:
        return cast("LabdeckApp", self.app)

    # -- what the app asks of every tab's content ---------------------------------------------------------------
    def selected_run(self) -> str | None:
        """The run that pause, resume and stop act on."""
        return None

    def report_target(self) -> str | None:
        """The run or sweep a report is written of."""
        return self.selected_run()

    def wanted_runs(self) -> list[str]:
        """Runs whose events the content draws: the store watcher follows them."""
        return []

    def focus_home(self) -> None:
        """Focus the content's main widget (a tab key, Escape)."""

    def leave_field(self) -> None:
        """Escape: leave a field for the content's main widget."""
        self.focus_home()

    def update_runs(self) -> None:
        """The store's runs changed (``model.infos`` holds them now)."""

    def redraw(self, model: RunsModel, log_scale: bool) -> None:
        """Called by the app's redraw timer, inside ``batch_update``; cheap when nothing changed."""

    # -- pause, resume, stop, report ------------------------------------------------------------------------------
    def control_selected(self, action: str) -> None:
        if run_id := self.selected_run():
            self.control(action, run_id)
        else:
            self.notify("no run selected", severity="warning")

    @work(thread=True, group="control", exit_on_error=False)
    def control(self, action: str, run_id: str) -> None:
        try:
            self.labdeck.links.act(self.home, action, run_id)
        except LabdeckError as exc:
            self.post_message(Controlled(action, run_id, str(exc)))
            return
        self.post_message(Controlled(action, run_id))

    def on_controlled(self, message: Controlled) -> None:
        message.stop()
        if message.error:
            self.notify(message.error, severity="warning")
            return
        if message.action == "resume":
            self.model.resumed(message.run_id)
        self.post_message(StoreChanged())  # the watcher reads the runs again now, not at its next look

    def report(self) -> None:
        if target := self.report_target():
            self.app.post_message(Doing(f"report {target}", f"writing a report of {target} …"))
            self.write_report(target)
        else:
            self.notify("no run or sweep to report on", severity="warning")

    @work(thread=True, group="report", exit_on_error=False)
    def write_report(self, target: str) -> None:
        try:
            if (link := self.labdeck.links.of(target)) is not None:  # written there, copied back here
                from labdeck.engine.remote import unpack_report

                where, bare = split(target)
                done = link.call("report", timeout=600, target=bare, copy=True)
                path = unpack_report(done["files"], self.home / "reports" / where / bare)
            else:
                path = engine.write_report(engine.Store(self.home), target, self.home / "reports" / target)
        except LabdeckError as exc:
            self.post_message(ReportWritten("", target, str(exc)))
            return
        self.post_message(ReportWritten(str(path), target))

    def on_report_written(self, message: ReportWritten) -> None:
        from .screens.reports import ReportDone

        message.stop()
        self.app.post_message(Doing(f"report {message.target}", None))
        if message.error:
            self.notify(message.error, severity="error")
        else:  # after the status line has dropped the report (the app's messages come in order)
            self.app.call_later(self.app.push_screen, ReportDone(Path(message.path)))
