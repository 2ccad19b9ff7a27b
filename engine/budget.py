"""What a run's budget promises, and how a run keeps it.

``--budget S`` (``wall``): the whole run, from its start to its result (loading its data, measuring its speed,
training, every evaluation), takes S seconds; a dataset's first decode, which later runs reuse, comes on top. Each
epoch is evaluated on a part of the held-out set sized to a tenth of the epoch's training time; the whole set is
evaluated once, at the end, on the final weights, and that time is kept for it from the start. ``--train-budget S``
(``train``): S seconds of training steps, as speed-run benchmarks count them; evaluations come on top.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

WALL, TRAIN = "wall", "train"
ONE_TIME = ("download", "decode")  # data stages whose work later runs reuse: a wall budget waits for them
KINDS = (WALL, TRAIN)
EVAL_SHARE = 0.1  # of an epoch's training time, for its evaluation (wall budgets)
MIN_EVAL_ITEMS = 256  # an epoch's evaluation reads at least this many held-out items: fewer say nothing
PROBE_ITEMS = 1024  # held-out items timed at the start, to plan the evaluations (a vision batch and then some)
FINAL_SAFETY = 1.15  # the final evaluation's time is kept with this much to spare
MARGIN, MARGIN_SHARE = 0.3, 0.01  # seconds, and a share of the budget, kept for the run's end (events, checkpoint)


def fit(left: float, epoch: float, end: float, efficiency: float) -> float:
    """The most training (seconds) that fits in ``left`` wall seconds from an epoch's start, where an epoch trains
    ``epoch`` seconds at ``efficiency`` and each epoch's end but the last takes ``end``: training k epoch ends
    in reaches at most (k + 1) epochs, and (left - k * end) * efficiency."""
    if left <= 0:
        return 0.0
    crossing = max(0.0, (left * efficiency - epoch) / (epoch + end * efficiency))
    best = 0.0
    for k in {0, int(crossing), int(crossing) + 1}:
        fits = min((k + 1) * epoch, (left - k * end) * efficiency)
        if k == 0 or fits > k * epoch:
            best = max(best, fits)
    return max(0.0, best)


def describe(kind: str, budget: float) -> str:
    return f"{budget:g} s for the whole run" if kind == WALL else f"{budget:g} s of training"


@dataclass
class Plan:
    """How a run spends its budget. ``train_seconds`` is the training time the learning-rate schedule is fitted
    to; ``eval_items`` the held-out items each epoch's evaluation reads (None: all).

    A wall budget's time left, less the final evaluation's and the end's, goes to training and to each epoch's end
    but the last (whose held-out metrics are the final evaluation's): its evaluation and checkpoint. The plan
    learns from each epoch what it really cost: its training seconds, the share of its wall time that trained
    (the rest loads batches and logs), and what its end took."""

    kind: str
    budget: float
    deadline: float | None  # time.monotonic() by which the run has its result (wall budgets)
    train_seconds: float
    eval_items: int | None
    eval_size: int
    per_item: float  # seconds an evaluation takes per held-out item
    final_cost: float  # the final evaluation's cost, in evaluations of every item
    epoch_train: float = 1.0  # training seconds of one epoch
    epoch_end: float = 0.0  # wall seconds an epoch's end takes: its evaluation, its checkpoint
    efficiency: float = 1.0  # of an epoch's wall time before its end, the share that trains
    _mark: tuple[float, float] = (0.0, 0.0)  # (time.monotonic(), seconds trained) as the current epoch began
    _start: float = 0.0  # time.monotonic() as training began
    _begun: float = 0.0  # the schedule's progress then (a resumed run's)

    @property
    def final_seconds(self) -> float:
        return self.per_item * self.eval_size * self.final_cost

    @classmethod
    def make(cls, kind: str, budget: float, deadline: float | None, step_seconds: float, steps_per_epoch: int,
             eval_size: int, per_item: float, final_cost: float, trained: float = 0.0,
             now: float | None = None, begun: float = 0.0) -> Plan:
        """The plan at the start of training (``trained``: seconds a resumed run has trained already, ``begun``:
        its schedule's progress; ``now``: time.monotonic())."""
        if kind == TRAIN or deadline is None:
            return cls(kind, budget, None, budget, None, eval_size, per_item, final_cost)
        now = time.monotonic() if now is None else now
        plan = cls(kind, budget, deadline, budget, None, eval_size, per_item, final_cost, _start=now,
                   _begun=min(max(begun, 0.0), 1.0))
        plan.epoch_train = max(step_seconds * steps_per_epoch, 1e-3)
        items = min(eval_size, max(MIN_EVAL_ITEMS, int(EVAL_SHARE * plan.epoch_train / max(per_item, 1e-9))))
        plan.eval_items = None if items >= eval_size else items
        plan.epoch_end = items * per_item
        plan.replan(now, trained)
        return plan

    def _training_ends(self) -> float:
        """When training must end (time.monotonic()): the deadline, less the final evaluation and the run's end."""
        assert self.deadline is not None
        return self.deadline - self.final_seconds * FINAL_SAFETY - MARGIN - MARGIN_SHARE * self.budget

    def _left(self, now: float) -> float:
        """Seconds left for training and its epochs' ends."""
        return self._training_ends() - now

    def progress(self, now: float, trained: float) -> float:
        """How far the learning-rate schedule is, 0 to 1. A wall budget's is the further of its training against
        the plan and its wall clock against the time training has: the schedule ends in time however the epochs'
        costs turn out."""
        by_training = trained / max(self.train_seconds, 1e-9)
        if self.deadline is None:
            return min(1.0, by_training)
        span = self._training_ends() - self._start
        by_wall = self._begun + (1.0 - self._begun) * (now - self._start) / span if span > 0 else 1.0
        return min(1.0, max(by_training, by_wall))

    def replan(self, now: float, trained: float) -> None:
        """Fit the training time to what is left, as an epoch begins."""
        self._mark = (now, trained)
        if self.deadline is None:
            return
        self.train_seconds = trained + fit(self._left(now), self.epoch_train, self.epoch_end, self.efficiency)

    def after_epoch(self, now: float, trained: float, ended: float, eval_seconds: float, items: int) -> None:
        """An epoch's training ended at ``ended`` with ``trained`` seconds of training so far; its end (an
        evaluation of ``items`` in ``eval_seconds``, its checkpoint) was done at ``now``."""
        if items and eval_seconds > 0:
            self.per_item = 0.5 * self.per_item + 0.5 * eval_seconds / items
        since, trained_then = self._mark
        if trained > trained_then and ended > since:
            self.epoch_train = trained - trained_then
            self.efficiency = min(1.0, self.epoch_train / (ended - since))
        self.epoch_end = max(0.0, now - ended)
        self.replan(now, trained)

    def hold(self, seconds: float) -> None:
        """The run was paused, or its process stopped, for ``seconds``: none of it was the run's."""
        if self.deadline is not None:
            self.deadline += seconds
        self._mark = (self._mark[0] + seconds, self._mark[1])
        self._start += seconds

    def last_epoch(self, now: float) -> bool:
        """Whether the epoch ending now is the last: after its evaluation, less training would be left than the
        evaluation took (its end is the final evaluation's then)."""
        return self.deadline is not None and self._left(now) < 2 * self.epoch_end

    def out_of_time(self, now: float) -> bool:
        """Whether training must end now for the final evaluation to fit (the machine got slower than planned)."""
        return self.deadline is not None and self._left(now) <= 0

    def leaves_no_training(self, trained: float) -> bool:
        """Whether loading and measuring used up what the final evaluation leaves of a wall budget."""
        return self.deadline is not None and self.train_seconds <= trained

    def too_short(self, spent: float) -> str:
        """Why the run cannot train, after ``spent`` seconds of loading and measuring, and what to ask instead."""
        final = self.final_seconds * FINAL_SAFETY
        enough = math.ceil(2 * (spent + final) + 1)
        return (f"budget too short: {spent:.1f} s went to starting up, loading data and measuring speed, and the "
                f"final evaluation needs about {final:.1f} s, which leaves no training in {self.budget:g} s; give it "
                f"at least {enough} s")

    def says(self) -> str:
        """The plan, for the run's log."""
        if self.deadline is None:
            return f"budget: {describe(self.kind, self.budget)}; every evaluation reads all {self.eval_size:,} items"
        part = (f"{self.eval_items:,} of {self.eval_size:,}" if self.eval_items else f"all {self.eval_size:,}")
        return (f"budget: {describe(self.kind, self.budget)}: about {_seconds(self.train_seconds)} of training, "
                f"each epoch evaluated on {part} held-out items, and about "
                f"{_seconds(self.final_seconds * FINAL_SAFETY)} kept for the final evaluation on all of them")


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"
