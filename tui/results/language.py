"""Language results: perplexity over training, the latest generated sample, and an interactive prompt that
streams text from the run's latest checkpoint (finished or still running)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static, TextArea
from textual.worker import get_current_worker

from ..history import PLOT_POINTS
from ..state import RunState

if TYPE_CHECKING:
    from labdeck.engine.experiments.language.experiment import Generator

    from ..app import LabdeckApp
from ..widgets.line_plot import Line, LinePlot

FLUSH_SECONDS = 0.03  # stream pieces to the UI in ~30 Hz chunks: one message per token would flood it
GENERATE_SECONDS = 600.0  # the longest a host may take over a text


def stats_text(count: int, rate: float, epoch: int, note: str | None, where: str = "") -> str:
    """What the status line says of a finished text."""
    on = f" on {where}" if where else ""
    return f"{count} tokens at {rate:,.0f}/s{on} (checkpoint of epoch {epoch})" + (f" · {note}" if note else "")
OPTIONS = (  # (id, label, default, type)
    ("temperature", "temp", "0.8", float), ("top_k", "top-k", "0", int), ("top_p", "top-p", "0.95", float),
    ("tokens", "tokens", "300", int), ("seed", "seed", "0", int),
)


class Streamed(Message):
    def __init__(self, text: str, done: bool = False, error: str = "", stats: str = ""):
        super().__init__()
        self.text, self.done, self.error, self.stats = text, done, error, stats


class LanguageResults(Vertical):
    DEFAULT_CSS = """
    LanguageResults { height: 1fr; }
    LanguageResults #lang-ppl { height: 10; }
    LanguageResults #lang-sample { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
    LanguageResults .lang-options { height: 1; }
    LanguageResults .lang-options Label { padding: 0 1 0 1; }
    LanguageResults .lang-options Input { width: 7; }
    LanguageResults #lang-prompt { width: 1fr; margin: 1 0 0 0; }
    LanguageResults #lang-status { height: 1; padding: 0 1; }
    LanguageResults #lang-output { height: 1fr; min-height: 5; }
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._run_id: str | None = None
        self._generators: dict[str, tuple[float, Generator]] = {}  # run id -> (checkpoint mtime, generator)

    def compose(self) -> ComposeResult:
        yield LinePlot("validation perplexity", "step", id="lang-ppl")
        yield Static("", id="lang-sample")
        yield Input(placeholder="a prompt, then Enter: the text streams below (i: here)", id="lang-prompt",
                    compact=True)
        with Horizontal(classes="lang-options"):
            for key, label, default, kind in OPTIONS:
                yield Label(label)
                yield Input(default, id=f"lang-{key}", type="number" if kind is float else "integer", compact=True)
        yield Static("", id="lang-status")
        yield TextArea("", id="lang-output", read_only=True, soft_wrap=True, show_line_numbers=False)

    def show(self, state: RunState | None, compared: list[RunState], log: bool) -> None:
        lines = []
        for run in ([state] if state is not None else []) + [r for r in compared if r is not state]:
            xs, ys = run.series("val_ppl", PLOT_POINTS)
            if xs:
                lines.append(Line("val perplexity" if run is state else run.run_id[-4:], xs, ys))
        self.query_one("#lang-ppl", LinePlot).show(lines, log=log)
        self._run_id = state.run_id if state is not None else None
        sample = ""
        if state is not None:
            for line in reversed(state.log):
                if line.startswith("sample: "):
                    sample = line[len("sample: "):]
                    break
        self.query_one("#lang-sample", Static).update(Text("latest sample: " + sample if sample else ""))

    def focus_input(self) -> None:
        self.query_one("#lang-prompt", Input).focus()

    def forget(self) -> None:
        """Another run is shown: its text is not this one's."""
        self.workers.cancel_group(self, "generate")
        self.query_one("#lang-output", TextArea).load_text("")
        self._status("")

    def options(self) -> dict[str, float | int]:
        out = {}
        for key, label, default, kind in OPTIONS:
            raw = self.query_one(f"#lang-{key}", Input).value.strip() or default
            try:
                out[key] = kind(raw)
            except ValueError:
                raise ValueError(f"{label}: {raw!r} is not a number") from None
        return out

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        if self._run_id is None:
            self._status("no run to generate with: start or open a Language run", error=True)
            return
        try:
            options = self.options()
        except ValueError as exc:
            self._status(str(exc), error=True)
            return
        prompt = self.query_one("#lang-prompt", Input).value
        output = self.query_one("#lang-output", TextArea)
        output.load_text(prompt)
        self._status("loading the latest checkpoint …")
        self._generate(cast("LabdeckApp", self.app).home, self._run_id, prompt, options)

    @work(thread=True, group="generate", exclusive=True, exit_on_error=False)
    def _generate(self, home, run_id: str, prompt: str, options: dict) -> None:
        from labdeck import engine

        try:
            if (link := cast("LabdeckApp", self.app).links.of(run_id)) is not None:
                self._generate_there(link, run_id, prompt, options)
            else:
                self._generate_here(engine.Store(home), run_id, prompt, options)
        except Exception as exc:
            self.post_message(Streamed("", done=True, error=engine.one_line(exc)))

    def _generate_here(self, store, run_id: str, prompt: str, options: dict) -> None:
        from labdeck import engine
        from labdeck.engine.predict import barely_trained, text_in_parts

        worker = get_current_worker()
        mtime = store.checkpoint_path(run_id).stat().st_mtime if store.checkpoint_path(run_id).exists() else 0
        cached = self._generators.get(run_id)
        if cached is None or cached[0] != mtime:  # a running run saved a newer checkpoint
            cached = self._generators[run_id] = (mtime, engine.generator(store, run_id))
        gen = cached[1]
        pieces = gen.stream(prompt, options["tokens"], options["temperature"], options["top_k"], options["top_p"],
                            options["seed"])
        made = text_in_parts(pieces, FLUSH_SECONDS, lambda text: self.post_message(Streamed(text)),
                             lambda: worker.is_cancelled)
        if not worker.is_cancelled:
            self.post_message(Streamed(made.rest, done=True, stats=stats_text(
                made.tokens, made.rate, gen.epoch, barely_trained(store.get(run_id)))))

    def _generate_there(self, link, run_id: str, prompt: str, options: dict) -> None:
        """A host's run: generated there from its checkpoint, the text streamed back in parts."""
        from labdeck.engine.hosts import split

        worker = get_current_worker()

        def part(text: str) -> bool:  # from the link's thread; False: a new prompt replaced this one, the host stops
            if worker.is_cancelled:
                return False
            self.post_message(Streamed(text))
            return True

        where, bare = split(run_id)
        done = link.call("generate", timeout=GENERATE_SECONDS, on_part=part, run=bare, prompt=prompt, **options)
        if not worker.is_cancelled:
            self.post_message(Streamed(done["text"], done=True,
                                       stats=stats_text(done["tokens"], done["rate"], done["epoch"], done["note"],
                                                        where)))

    @on(Streamed)
    def _streamed(self, message: Streamed) -> None:
        if message.text:
            output = self.query_one("#lang-output", TextArea)
            output.insert(message.text, output.document.end)
            output.scroll_end(animate=False)
        if message.error:
            self._status(message.error, error=True)
        elif message.done:
            self._status(message.stats)
        else:
            self._status("generating … (Enter again to restart)")

    def _status(self, text: str, error: bool = False) -> None:
        self.query_one("#lang-status", Static).update(Text(text, style="bold red" if error else "dim"))
