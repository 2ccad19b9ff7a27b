"""The watchdog's rules: what about a run is worth telling its user, and what to do about it.

Rules about a run's values are checked where the run is (the trainer, the logging API's writer thread) by a
``Watch``; deaths and stalls need someone outside the run (``engine/watchdog.py``). Each rule tells once per run
(the store keeps one alert per run and rule), so a restarted dashboard or watchdog repeats nothing.

A user's rule is ``KEY>VALUE`` or ``KEY<VALUE``: it fires when a value of metric KEY is above (below) VALUE; with
``@STEP`` (``@2000``) or ``@TIME`` (``@90s``, ``@10m``, ``@2h``) only from that step or time of the run on ("still
above 2 at step 2000"); with ``:pause`` or ``:stop`` it also pauses or stops the run (``:notify``, the default,
only tells). Examples: ``loss>10:stop``, ``val_loss>1.5@20m``, ``acc<0.2@5000:pause``.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import names
from .errors import ParamError
from .params import Param
from .status import Status

if TYPE_CHECKING:
    import numpy as np

    from .store import Store

NOTIFY, PAUSE, STOP = "notify", "pause", "stop"
ACTIONS = (NOTIFY, PAUSE, STOP)
DOING = {PAUSE: "; pausing the run", STOP: "; stopping the run (its checkpoint kept)"}  # said in the run's log

# the built-in rules, by the name an alert carries
NON_FINITE = "non-finite"  # a loss became NaN or infinite
DIVERGED = "diverged"  # a loss far above its best and above where it started
STALLED = "stalled"  # no progress for a while, the process alive (a hung loader or collective)
DIED = "died"  # the process gone without recording an end (kill -9, the OOM killer, a lost node)
PLATEAU = "plateau"  # the target metric no better for [alerts] plateau evaluations (off by default)
FINISHED = "finished"
FAILED = "failed"
BUILT_IN = (NON_FINITE, DIVERGED, STALLED, DIED, FINISHED, FAILED, PLATEAU)


def trouble(rule: str) -> bool:
    """Whether an alert says something went wrong (every rule but a run's finish): it marks the run."""
    return rule != FINISHED

DIVERGE_FACTOR = 10.0  # a smoothed loss this many times its best smoothed value ...
DIVERGE_AFTER = 20  # ... after this many points (the first ones are noise) ...
SMOOTHING = 0.1  # ... of an exponential average with this weight for the newest point
STALL_SECONDS = 300.0  # a running run with no new step, epoch or event for this long has stalled
RISING = 5  # an evaluation loss that rose at each of this many evaluations in a row, ...
RISING_FACTOR = 1.5  # ... to this many times its best, diverged too
PLATEAU_MARGIN = 1e-3  # a target metric better by less than this share of its best value did not improve

_RULE = re.compile(r"^\s*(?P<key>[^<>@:]+?)\s*(?P<op>[<>])\s*(?P<value>[^@:\s]+)\s*"
                   r"(?:@\s*(?P<at>\d+(?:\.\d+)?)(?P<unit>[smh]?))?\s*(?::\s*(?P<action>\w+))?\s*$")


@dataclass(frozen=True)
class Rule:
    """A user's rule on a metric (see the module's doc)."""

    text: str  # as written: the name its alert carries
    key: str
    above: bool  # ``>``: fires above ``value``; ``<``: below it
    value: float
    from_step: int | None = None
    from_seconds: float | None = None
    action: str = NOTIFY


def parse_rule(text: str) -> Rule:
    """A rule as the user wrote it (``--alert``, ``labdeck.init(alerts=...)``, the settings file)."""
    m = _RULE.match(str(text))
    if m is None:
        raise ParamError(f"alert {names.printable(text, 60)!r}: write KEY>VALUE or KEY<VALUE, optionally "
                         f"@STEP or @TIME (90s, 10m) and :pause or :stop, e.g. 'loss>10:stop'")
    try:
        value = float(m["value"])
    except ValueError:
        raise ParamError(f"alert {names.printable(text, 60)!r}: {m['value']!r} is not a number") from None
    if not math.isfinite(value):
        raise ParamError(f"alert {names.printable(text, 60)!r}: the threshold must be a finite number")
    action = (m["action"] or NOTIFY).lower()
    if action not in ACTIONS:
        raise ParamError(f"alert {names.printable(text, 60)!r}: the action is one of {', '.join(ACTIONS)}")
    step, seconds = None, None
    if m["at"] is not None:
        if m["unit"]:
            seconds = float(m["at"]) * {"s": 1, "m": 60, "h": 3600}[m["unit"]]
        elif "." in m["at"]:
            raise ParamError(f"alert {names.printable(text, 60)!r}: @STEP is a whole step (or add s, m or h)")
        else:
            step = int(m["at"])
    key, _ = names.metric(m["key"])
    return Rule(" ".join(str(text).split()), key, m["op"] == ">", value, step, seconds, action)


def parse_rules(texts: Sequence[str]) -> list[Rule]:
    return [parse_rule(t) for t in texts]


def split_rules(raw: str) -> list[str]:
    """The rules of one text field (the dashboard's form, a preset): separated by commas."""
    return [t.strip() for t in str(raw).split(",") if t.strip()]


def _check_field(raw: str) -> None:
    for text in split_rules(raw):
        try:
            parse_rule(text)
        except ParamError as exc:
            raise ParamError(str(exc).removeprefix(f"alert {names.printable(text, 60)!r}: ")) from None


# The form's alerts field: like its budget, not a hyperparameter of the model but a rule about its run.
FIELD = Param("alerts", "str", "", "watchdog rules for this run, separated by commas: KEY>VALUE or KEY<VALUE, "
              "optionally @STEP or @TIME (90s, 10m) and :pause or :stop, e.g. train_loss>5:stop, test_acc<0.5@10m. "
              "NaN and diverging losses, stalls, deaths and ends are told anyway (! lists alerts)", check=_check_field)


@dataclass(frozen=True)
class Fired:
    """A rule that fired: the alert to record, and what to do."""

    rule: str
    message: str
    action: str = NOTIFY


@dataclass
class _Loss:
    smoothed: float = math.nan
    first: float = math.nan
    best: float = math.inf
    seen: int = 0


@dataclass
class Watch:
    """Checks a run's values as they come; each rule fires once. Never raises on odd values."""

    rules: list[Rule] = field(default_factory=list)
    is_loss: Callable[[str], bool] = names.loss_like
    fired: set[str] = field(default_factory=set)
    plateau: tuple[str, str, int] | None = None  # (target metric, "min" or "max", evaluations): a plateau rule
    _losses: dict[str, _Loss] = field(default_factory=dict)
    _evaluations: dict[str, list[float]] = field(default_factory=dict)  # an evaluation metric's values so far

    def evaluation(self, key: str, step: int, value: float) -> list[Fired]:
        """A value measured on held-out data (a lab run's epoch): a loss that rises evaluation after evaluation
        diverged, and the target metric can plateau."""
        if not math.isfinite(value):
            return []
        seen = self._evaluations.setdefault(key, [])
        seen.append(value)
        out: list[Fired] = []
        recent = seen[-RISING - 1:]
        if self.is_loss(key) and DIVERGED not in self.fired and len(recent) == RISING + 1 \
                and all(a < b for a, b in itertools.pairwise(recent)) \
                and value > RISING_FACTOR * min(seen):
            self.fired.add(DIVERGED)
            out.append(Fired(DIVERGED, f"{key} rose at each of the last {RISING} evaluations, to {value:.4g} at step "
                                       f"{step}, {value / min(seen):.1f}x its best {min(seen):.4g}"))
        if self.plateau is not None and key == self.plateau[0] and PLATEAU not in self.fired:
            target, mode, n = self.plateau
            if len(seen) > n:
                before = min(seen[:-n]) if mode == "min" else max(seen[:-n])
                after = min(seen[-n:]) if mode == "min" else max(seen[-n:])
                gain = (before - after) if mode == "min" else (after - before)
                if gain <= PLATEAU_MARGIN * abs(before):
                    self.fired.add(PLATEAU)
                    out.append(Fired(PLATEAU, f"{target} has not improved in {n} evaluations: best {before:.4g} "
                                              f"before them, {after:.4g} since (step {step})"))
        return out

    def values(self, key: str, steps: Sequence[int], values: Sequence[float], seconds: float) -> list[Fired]:
        """New values of metric ``key`` at ``steps``, one at a time (a trainer's log points); ``seconds``: the
        run's age now."""
        import numpy as np

        out: list[Fired] = []
        for step, value in zip(steps, values, strict=False):
            out += self.block(key, np.array([step], np.int64), np.array([value], np.float64), seconds)
        return out

    def block(self, key: str, steps: np.ndarray, values: np.ndarray, seconds: float) -> list[Fired]:
        """Many new values at once (what a script logged since the writer last wrote): the same rules, read from
        the block's extremes and its mean in NumPy, so that a million steps cost the writer thread little."""
        import numpy as np

        out: list[Fired] = []
        if not len(values):
            return out
        finite = np.isfinite(values)
        if self.is_loss(key):
            if not finite.all():
                bad = int(np.flatnonzero(~finite)[0])
                out += self._loss(key, int(steps[bad]), float(values[bad]))
            if finite.any():  # the block's mean stands for it in the smoothed loss, as a trainer's log point does
                out += self._loss(key, int(steps[-1]), float(values[finite].mean()))
        for rule in self.rules:
            if rule.key != key or rule.text in self.fired or (rule.from_seconds or 0.0) > seconds:
                continue
            hit = finite & ((values > rule.value) if rule.above else (values < rule.value))
            if rule.from_step is not None:
                hit &= steps >= rule.from_step
            if hit.any():
                i = int(np.flatnonzero(hit)[0])
                self.fired.add(rule.text)
                out.append(Fired(rule.text, f"{key} = {float(values[i]):.6g} at step {int(steps[i])} ({rule.text})",
                                 rule.action))
        return out

    def _loss(self, key: str, step: int, value: float) -> list[Fired]:
        if not math.isfinite(value):
            if NON_FINITE in self.fired:
                return []
            self.fired.add(NON_FINITE)
            return [Fired(NON_FINITE, f"{key} is {value} at step {step}")]
        state = self._losses.setdefault(key, _Loss())
        state.smoothed = value if state.seen == 0 else state.smoothed + SMOOTHING * (value - state.smoothed)
        state.seen += 1
        if state.seen == DIVERGE_AFTER:
            state.first = state.smoothed
        if state.seen >= DIVERGE_AFTER:
            state.best = min(state.best, state.smoothed)
            if DIVERGED not in self.fired and state.smoothed > DIVERGE_FACTOR * state.best \
                    and state.smoothed > state.first:
                self.fired.add(DIVERGED)
                return [Fired(DIVERGED, f"{key} diverged: {state.smoothed:.4g} (smoothed) at step {step}, "
                                        f"{state.smoothed / state.best:.0f}x its best {state.best:.4g}")]
        return []


class RunAlerts:
    """A run's watch, wired to where its alerts go: the store (once per rule), the run's log (``say``) and its
    control (a rule's pause or stop). Used by the trainer and by the logging API's writer thread; never raises."""

    def __init__(self, store: Store, run_id: str, rules: Sequence[Rule], say: Callable[[str], None],
                 started: float | None = None, plateau: tuple[str, str, int] | None = None):
        self.store, self.run_id, self.say = store, run_id, say
        self.watch = Watch(list(rules), plateau=plateau)
        self.started = time.monotonic() if started is None else started
        self.told = False  # an alert was recorded for this attempt: a failure that follows is explained by it

    def values(self, key: str, steps: Sequence[int], values: Sequence[float]) -> None:
        self._check(lambda: self.watch.values(key, steps, values, time.monotonic() - self.started))

    def evaluation(self, key: str, step: int, value: float) -> None:
        self._check(lambda: self.watch.evaluation(key, step, value))

    def block(self, key: str, steps: np.ndarray, values: np.ndarray) -> None:
        self._check(lambda: self.watch.block(key, steps, values, time.monotonic() - self.started))

    def _check(self, rules: Callable[[], list[Fired]]) -> None:
        try:
            fired = rules()
        except Exception:  # an odd value is no reason to stop watching, or to fail a run
            return
        for f in fired:
            self.record(f)

    def ended(self, status: str, message: str = "", reason: str = "") -> None:
        """The run's end: finished is told; a failure is, unless an alert already said why. (Not in the run's log:
        its end is the last thing there.)"""
        if status == Status.FINISHED:
            self.record(Fired(FINISHED, message or "finished"), log=False)
        elif status == Status.FAILED and reason == DIVERGED_REASON:
            self.record(Fired(NON_FINITE, message), log=False)
        elif status == Status.FAILED and not self.told:
            self.record(Fired(FAILED, message or "failed"), log=False)

    def record(self, fired: Fired, log: bool = True) -> None:
        try:
            if self.store.add_alert(self.run_id, fired.rule, fired.message, fired.action) is None:
                return  # told before (a resumed run, a second process)
            self.told = True
            if log:
                self.say(f"alert {fired.rule}: {fired.message}{DOING.get(fired.action, '')}")
            if fired.action in (PAUSE, STOP):
                self.store.request(self.run_id, fired.action)
        except Exception:  # a store that cannot be written loses the alert, never the run
            pass


DIVERGED_REASON = "diverged"  # RunEnded.reason of a run failed on a non-finite loss


def rules_for(meta: dict[str, Any], defaults: Sequence[str] = ()) -> tuple[list[Rule], list[str]]:
    """A run's rules (``meta["alerts"]``, as ``labdeck run --alert`` stored them) and the settings' defaults, with a
    line for each that does not parse (said in the run's log, never raised)."""
    rules, bad = [], []
    for text in [*defaults, *meta.get("alerts", [])]:
        try:
            rules.append(parse_rule(text))
        except ParamError as exc:
            bad.append(str(exc))
    return rules, bad
