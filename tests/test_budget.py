"""How a wall budget is spent: the plan's arithmetic, on its own."""

import pytest

from labdeck.engine import budget
from labdeck.engine.budget import Plan, fit


def test_training_shorter_than_an_epoch_needs_no_epoch_end():
    assert fit(10.0, epoch=30.0, end=5.0, efficiency=1.0) == 10.0  # one partial epoch: its end is the final's
    assert fit(10.0, epoch=30.0, end=5.0, efficiency=0.5) == 5.0


def test_each_epoch_end_but_the_last_comes_out_of_the_training():
    # 100 s left, 10 s epochs, 2 s ends: k ends and k+1 epochs fit while 10 (k+1) + 2 k <= 100: k = 7, 80 s
    # of training (8 epochs, 7 ends: 94 s); or a ninth epoch cut short to what is left: 100 - 8 * 2 = 84 s
    assert fit(100.0, epoch=10.0, end=2.0, efficiency=1.0) == pytest.approx(84.0)
    assert fit(0.0, 10.0, 2.0, 1.0) == 0.0 and fit(-3.0, 10.0, 2.0, 1.0) == 0.0
    # whatever fits, training and its ends stay within what is left
    for left in (1.0, 9.9, 10.0, 10.1, 33.3, 250.0):
        trained = fit(left, 10.0, 2.0, 0.8)
        ends = max(0, -(-trained // 10.0) - 1)
        assert trained / 0.8 + ends * 2.0 <= left + 1e-9


def test_the_plan_keeps_the_final_evaluation_and_learns_from_an_epoch():
    now = 1000.0
    plan = Plan.make(budget.WALL, 60.0, now + 60.0, step_seconds=0.01, steps_per_epoch=500, eval_size=10_000,
                     per_item=1e-4, final_cost=2.0, now=now)
    # 60 s less the final evaluation (10,000 x 0.1 ms x 2, with 15% to spare) and the end's margin
    left = 60.0 - 2.0 * budget.FINAL_SAFETY - budget.MARGIN - budget.MARGIN_SHARE * 60.0
    assert plan.eval_items == 5000  # a tenth of a 5 s epoch: 0.5 s of evaluation
    assert 0 < plan.train_seconds < left
    assert "60 s for the whole run" in plan.says() and "5,000 of 10,000" in plan.says()
    # the epoch really trained 5 s in 10 s of wall time (slow batches) and its end took 1 s: less training fits
    before = plan.train_seconds
    plan.after_epoch(now + 11.0, 5.0, now + 10.0, 0.5, 5000)
    assert plan.efficiency == pytest.approx(0.5) and plan.epoch_end == pytest.approx(1.0)
    assert plan.train_seconds < before
    assert not plan.out_of_time(now + 11.0) and plan.out_of_time(now + 58.0)
    # an epoch ending with less time left than two of its ends: evaluating it would cost more than it leaves
    assert not plan.last_epoch(now + 11.0) and plan.last_epoch(plan._training_ends() - 1.5)


def test_a_pause_moves_the_deadline_and_is_not_the_epochs_time():
    plan = Plan.make(budget.WALL, 60.0, 1060.0, 0.01, 500, 10_000, 1e-4, 2.0, now=1000.0)
    plan.hold(30.0)
    assert plan.deadline == 1090.0
    plan.after_epoch(1040.0, 5.0, 1040.0, 0.0, 0)  # 40 s of wall, 30 of them paused: 10 s for 5 s of training
    assert plan.efficiency == pytest.approx(0.5)


def test_a_train_budget_is_its_training_seconds():
    plan = Plan.make(budget.TRAIN, 30.0, None, 0.01, 500, 10_000, 1e-4, 2.0)
    assert plan.train_seconds == 30.0 and plan.eval_items is None and not plan.out_of_time(1e12)
