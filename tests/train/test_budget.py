"""Training to a time budget: parsing, planning from a patched clock, schedules, resume."""

import json
import math
from collections.abc import Callable

import pytest

from byolbench.augment.progressive import run_cost, view_size
from byolbench.errors import ConfigError, TrainingError
from byolbench.train import budget
from byolbench.train.accel import make_accelerator
from byolbench.train.budget import BudgetPlanner, format_duration, parse_duration
from byolbench.train.optim import planned_warmup_steps, warmup_cosine
from byolbench.train.trainer import Trainer
from tests.train.helpers import record_view_sizes, tiny_config


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0), ("600", 600.0), (" 2 M ", 120.0)],
)
def test_durations_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "10d", "-5m", "0s", "m"])
def test_bad_durations_are_one_line_errors(text):
    with pytest.raises(ConfigError) as info:
        parse_duration(text)
    assert "train.time_budget" in str(info.value) and "\n" not in str(info.value)


def test_durations_format_back():
    assert [format_duration(s) for s in (600, 90, 5400, 7.5)] == ["10m", "90s", "1.5h", "7.5s"]


class FakeClock:
    """Advances by ``dt`` seconds per optimizer step (the trainer's on_step ticks it)."""

    def __init__(self, dt: float) -> None:
        self.t = 1000.0
        self.dt = dt

    def __call__(self) -> float:
        return self.t

    def tick(self, *_: object) -> None:
        self.t += self.dt


def test_planner_fills_the_rest_of_the_budget():
    clock = FakeClock(0.5)
    planner = BudgetPlanner(20.0, clock=clock, warmup_steps=3, measure_steps=5)
    planned = None
    step = 0
    while planned is None:
        clock.tick()
        step += 1
        planned = planner.after_step(step)
    assert step == 8  # 3 warm-up steps, then 5 timed ones
    assert planner.seconds_per_step == pytest.approx(0.5)
    # 8 steps took 4 s of the 20 s: 32 more steps of 0.5 s fit
    assert planned == 8 + 32


def test_planner_plans_again_after_a_slow_first_window():
    # Another process slows the first timed steps 4x; the later, longer windows run at full
    # speed, and the last plan is made from them alone.
    clock = FakeClock(0.1)
    planner = BudgetPlanner(100.0, clock=clock, warmup_steps=2, measure_steps=10)
    plans: list[tuple[int, int]] = []
    step = 0
    while not planner.finished:
        clock.dt = 0.4 if 2 <= step < 12 else 0.1
        clock.tick()
        step += 1
        planned = planner.after_step(step)
        if planned is not None:
            plans.append((step, planned))
    first_step, first_plan = plans[0]
    assert first_step == 12 and first_plan == 12 + math.floor((100 - 4.2) / 0.4)
    assert [s for s, _ in plans] == [12, 32, 72, 152]  # windows of 10, 20, 40 and 80 steps
    last_step, last_plan = plans[-1]
    assert planner.seconds_per_step == pytest.approx(0.1)
    assert last_plan == pytest.approx(last_step + (100 - clock.t + 1000) / 0.1, abs=1)
    assert last_plan > 3 * first_plan
    assert planner.after_step(step + 1) is None  # no plan after the last


def test_planner_stops_planning_past_the_first_quarter():
    clock = FakeClock(1.0)
    planner = BudgetPlanner(40.0, clock=clock, warmup_steps=1, measure_steps=5)
    plans = []
    for step in range(1, 40):
        clock.tick()
        planned = planner.after_step(step)
        if planned is not None:
            plans.append(planned)
    # 40 steps fit; a second window (10 more steps) would end past step 10 = 40 / 4, so
    # planning ends at once, and the guard's checks on the steady clock keep the plan
    assert set(plans) == {40} and planner.finished


def test_planner_counts_budget_spent_by_earlier_sessions():
    clock = FakeClock(1.0)
    planner = BudgetPlanner(30.0, spent_seconds=20.0, clock=clock, warmup_steps=1, measure_steps=2)
    planned = None
    step = 100
    while planned is None:
        clock.tick()
        step += 1
        planned = planner.after_step(step)
    # 20 s spent before, 3 s this session: 7 steps of 1 s remain
    assert planned == step + 7


def _run_equal_steps(
    budget_s: float, dt_at: Callable[[int, bool], float], agree: bool = True
) -> tuple[float, list[tuple[int, int]]]:
    """Steps of ``dt_at(step, planning_over)`` seconds until the plan's end: the seconds spent
    and the plans as (step, total). ``agree``: the caller accepts each plan again, as the
    trainer does after the processes agreed on it (a loop of one process need not)."""
    clock = FakeClock(0.0)
    planner = BudgetPlanner(budget_s, clock=clock, warmup_steps=3, measure_steps=10)
    total, step, plans = 10**9, 0, []
    while step < total:
        clock.dt = dt_at(step, planner.finished)
        clock.tick()
        step += 1
        planned = planner.after_step(step)
        if planned is not None:
            total = max(planned, step)
            if agree:
                planner.accept(step, total)
            plans.append((step, total))
    return clock.t - 1000.0, plans


@pytest.mark.parametrize("agree", [True, False])
def test_guard_plans_again_when_steps_slow_down_after_the_plan(agree):
    # 0.5 s steps while planning, then 20% slower (an end-of-epoch checkpoint, another
    # process): the plan alone would overrun by about 15%; the guard brings the end back.
    spent, plans = _run_equal_steps(600.0, lambda step, over: 0.6 if over else 0.5, agree)
    assert spent == pytest.approx(600.0, rel=0.02)
    planning_total = plans[0][1]
    assert plans[-1][1] < 0.9 * planning_total  # fewer steps than first planned
    totals = [total for _, total in plans]
    assert totals == sorted(totals, reverse=True)  # it does not swing back to the old plan


def test_guard_keeps_a_plan_that_is_on_time():
    spent, plans = _run_equal_steps(600.0, lambda step, over: 0.5)
    assert spent == pytest.approx(600.0, rel=0.01)
    assert {total for _, total in plans} == {1200}  # the checks return the same plan
    assert len(plans) > 5  # the guard checked, at fixed steps


def test_guard_fills_the_budget_when_steps_speed_up():
    spent, plans = _run_equal_steps(600.0, lambda step, over: 0.4 if over else 0.5)
    assert spent == pytest.approx(600.0, rel=0.02)
    assert plans[-1][1] > plans[0][1]


def _budget_run(
    tiny_splits, monkeypatch, dt, run_dir=None, stop_at_step=None, slow_from=None, **overrides
):
    clock = FakeClock(dt)
    monkeypatch.setattr(budget, "now", clock)
    config = tiny_config(
        **{
            "train.time_budget": "10s",
            "train.epochs": 1,
            "train.log_every": 1,
            "train.checkpoint_every": 4,
            "optim.warmup_epochs": 1.0,
            **overrides,
        }
    )

    def on_step(step: int, total: int) -> None:
        if slow_from is not None and step >= slow_from[0]:
            clock.dt = slow_from[1]
        clock.tick()
        if stop_at_step is not None and step == stop_at_step:
            raise KeyboardInterrupt

    trainer = Trainer(config, tiny_splits, make_accelerator("no"), run_dir, on_step=on_step)
    return trainer.fit()


def test_planned_steps_follow_the_clock_and_schedules_end_there(tiny_splits, monkeypatch):
    # 64 images, batch 8: 8 steps per epoch; 10 s at 0.25 s per step is about 40 steps, i.e.
    # several epochs although train.epochs is 1.
    result = _budget_run(tiny_splits, monkeypatch, dt=0.25)
    assert 37 <= result.state.planned_steps <= 41
    assert result.state.step == result.state.planned_steps == result.total_steps
    assert result.state.epoch >= 4
    last = result.history[-1]
    assert last["step"] == result.state.step
    assert last["tau"] == pytest.approx(1.0)  # tau reaches 1 exactly at the planned end
    assert last["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine reaches 0 there too
    slower = _budget_run(tiny_splits, monkeypatch, dt=0.5)
    assert 17 <= slower.state.planned_steps <= 21  # half as fast: half the steps


def test_steps_that_slow_down_late_end_the_run_at_the_budget(tiny_splits, monkeypatch):
    # 0.25 s steps until step 16 (past the planning), then 0.4 s: the first plan's 40 steps
    # would take 13.6 s; the guard's new plan ends near 10 s, and the schedules end there.
    result = _budget_run(tiny_splits, monkeypatch, dt=0.25, slow_from=(16, 0.4))
    steps = result.state.planned_steps
    assert result.state.step == steps == result.total_steps
    assert 16 * 0.25 + (steps - 16) * 0.4 == pytest.approx(10.0, abs=0.5)
    last = result.history[-1]
    assert last["tau"] == pytest.approx(1.0)
    assert last["lr"] == pytest.approx(0.0, abs=1e-12)


def test_warmup_keeps_its_share_of_the_run_under_a_budget(tiny_splits, monkeypatch):
    # A recipe's warm-up of 1 epoch in 10 is a tenth of the planned steps (about 4 of 39),
    # not one nominal epoch (8 steps of 8 images) nor half the planned steps: once planned,
    # the LR follows warm-up/cosine with that warm-up to the planned end.
    result = _budget_run(
        tiny_splits, monkeypatch, dt=0.25, **{"train.epochs": 10, "optim.warmup_epochs": 1.0}
    )
    planned = result.state.planned_steps
    warmup = planned_warmup_steps(1.0, 10, planned)
    assert warmup == round(planned / 10)
    lrs = {row["step"]: row["lr"] for row in result.history}
    anchor = planned - 10
    for step in range(planned - 20, planned):
        expected = warmup_cosine(step, planned, warmup, 1.0) / warmup_cosine(
            anchor, planned, warmup, 1.0
        )
        assert lrs[step] / lrs[anchor] == pytest.approx(expected, rel=1e-6)


def test_planned_warmup_share_and_cap():
    assert planned_warmup_steps(20.0, 200, 1000) == 100
    assert planned_warmup_steps(10.0, 10, 1000) == 500  # never more than half
    assert planned_warmup_steps(0.0, 10, 1000) == 0


def test_resume_keeps_the_planned_steps(tiny_splits, monkeypatch, tmp_path):
    with pytest.raises(TrainingError):
        _budget_run(tiny_splits, monkeypatch, dt=0.25, run_dir=tmp_path, stop_at_step=14)
    saved = sorted((tmp_path / "checkpoints").iterdir())[-1]
    planned = json.loads((saved / "state.json").read_text())["state"]["planned_steps"]
    assert 37 <= planned <= 41
    # The resumed session runs four times slower; it must not plan again.
    result = _budget_run(tiny_splits, monkeypatch, dt=1.0, run_dir=tmp_path)
    assert result.resumed_from
    assert result.state.planned_steps == planned == result.state.step
    assert math.isclose(result.history[-1]["tau"], 1.0)


def test_the_online_probe_follows_the_planned_steps(tiny_splits, monkeypatch, tmp_path):
    # The nominal run is 1 epoch (8 steps); the budget plans about 40: the probe's cosine
    # ends at the planned end, also after a resume.
    probe = {"eval.protocols": "knn,online-linear"}
    result = _budget_run(tiny_splits, monkeypatch, dt=0.25, **probe)
    planned = result.state.planned_steps
    assert 37 <= planned <= 41 and result.online_probe.total_steps == planned
    assert result.online_probe.lr_at(planned) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(TrainingError):
        _budget_run(tiny_splits, monkeypatch, dt=0.25, run_dir=tmp_path, stop_at_step=14, **probe)
    resumed = _budget_run(tiny_splits, monkeypatch, dt=0.25, run_dir=tmp_path, **probe)
    assert resumed.resumed_from
    assert resumed.online_probe.total_steps == resumed.state.planned_steps


def test_time_budget_is_validated_with_the_config():
    with pytest.raises(ConfigError, match="train.time_budget='soon'"):
        tiny_config(**{"train.time_budget": "soon"}).validate()


def _simulate_progressive(budget_s: float, overhead: float, per_full_step: float):
    """A budgeted run with views growing from 16 to 32 px over 3/4 of the plan, on a clock
    where a step costs ``overhead`` plus a part proportional to the view's pixels."""
    full, fraction = 32, 0.75

    sizes: list[int] = []

    def cost(start: int, total: int) -> float:
        return run_cost(start, total, 16, full, fraction, at_least=max(sizes, default=0))

    clock = FakeClock(0.0)
    planner = BudgetPlanner(budget_s, clock=clock, warmup_steps=3, run_cost=cost)
    total, step, plans = 3124, 0, []
    while step < total:
        size = max(view_size(step, total, 16, full, fraction), max(sizes, default=0))
        sizes.append(size)
        clock.dt = overhead + per_full_step * (size / full) ** 2
        clock.tick()
        step += 1
        planned = planner.after_step(step, (size / full) ** 2)
        if planned is not None:
            total = max(planned, step)
            plans.append((step, total))
    return clock.t - 1000.0, sizes, plans


@pytest.mark.parametrize("overhead", [0.0, 0.02, 0.1])
def test_progressive_resizing_under_a_budget_ends_at_the_budget(overhead):
    # Small early steps are cheap; the plan is made on them and made again as views grow,
    # until a window of full-size steps: the run ends within 2% of the budget either way,
    # also where a fixed per-step overhead makes small steps dearer than their pixels.
    spent, sizes, plans = _simulate_progressive(600.0, overhead, 0.4)
    assert spent == pytest.approx(600.0, rel=0.02)
    assert sizes[0] == 16 and sizes[-40:] == [32] * 40 and sizes == sorted(sizes)
    assert len(plans) > 2
    flat_steps = 600.0 / (overhead + 0.4)
    assert plans[-1][1] > 1.2 * flat_steps  # more steps than at full size all the way


def test_steps_of_equal_cost_plan_as_before_with_a_cost_model():
    # run_cost of equal steps: the same plans as without one.
    def flat(start: int, total: int) -> float:
        return float(total - start)

    clock = FakeClock(0.5)
    planner = BudgetPlanner(20.0, clock=clock, warmup_steps=3, measure_steps=5, run_cost=flat)
    step, planned = 0, None
    while planned is None:
        clock.tick()
        step += 1
        planned = planner.after_step(step)
    assert planned == 8 + 32 and planner.finished  # timed on full-size steps: final


def test_budgeted_run_with_progressive_resizing_trains_to_its_plan(tiny_splits, monkeypatch):
    seen = record_view_sizes(monkeypatch)
    result = _budget_run(
        tiny_splits,
        monkeypatch,
        dt=0.25,
        **{"augment.progressive_min_size": 8, "augment.progressive_fraction": 0.5},
    )
    # The fake clock charges 0.25 s per step whatever the size: the plans made on small
    # views promise too many steps, and the plans on full-size views bring it back to 40.
    assert 36 <= result.state.planned_steps <= 42
    assert result.state.step == result.state.planned_steps == result.total_steps
    assert seen[0] == 8 and seen[-1] == 16 and seen == sorted(seen)
    assert result.history[-1]["tau"] == pytest.approx(1.0)
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_step_cost_model_separates_overhead_from_pixels():
    from byolbench.train.budget import step_cost_model

    # 0.1 s per step plus 0.4 s per full-size step, windows at 16 px and at 20 px
    windows = [(50, 50 * 0.25, 50 * (0.1 + 0.4 * 0.25)), (80, 80 * 0.39, 80 * (0.1 + 0.4 * 0.39))]
    assert step_cost_model(windows) == pytest.approx((0.1, 0.4))
    # one size only: proportional to pixels
    assert step_cost_model(windows[:1]) == pytest.approx((0.0, 0.2 / 0.25))
    # larger views not slower: the same time per step
    flat = [(50, 12.5, 10.0), (50, 20.0, 9.5)]
    assert step_cost_model(flat) == pytest.approx((0.195, 0.0))
