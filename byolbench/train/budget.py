"""Training to a wall-clock budget: parse ``10m`` and plan the run's optimizer steps.

With ``train.time_budget`` set, the trainer times its own steps for a while (after a few
warm-up steps that pay for caches and compilation), then fixes the run's total number of
optimizer steps so that the steps still to come fill the rest of the budget. The learning-rate
warm-up/cosine and the tau schedule are defined over that total, so they end exactly where the
budget ends, and training stops there. The planned total is saved in checkpoints, so a resumed
run keeps it.

One short timing window can be wrong (another process on the cores during exactly those
steps), so the plan is made again after windows twice, four and eight times as long, each from
the latest window alone, as long as that point lies in the first quarter of the plan; the
schedules follow the latest plan.

With progressive resizing the steps grow dearer as the views grow: the planner then counts
steps in full-size steps (``run_cost``), and plans again after every window (of at most a
twentieth of the plan) until one window ran entirely at full size, so the last plan is timed
on the steps that end the run.

Steps can still slow down after the last plan (end-of-epoch checkpoints, another process
arriving on the cores). So the rest of the run is checked ``GUARD_CHECKS`` times, at fixed
steps: when the steps since the last plan predict an end more than ``GUARD_TOLERANCE`` of the
budget away from it, the remaining steps are planned again from them (the schedules then
follow the new total).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable

from byolbench.errors import ConfigError

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*$", re.IGNORECASE)
WARMUP_STEPS = 3
MIN_MEASURE_STEPS = 5
MEASURE_FRACTION = 0.03
REPLANS = 3  # after timing windows 2x, 4x and 8x as long as the first one
REPLAN_WITHIN = 0.25  # only while the step is in the first quarter of the plan
GUARD_CHECKS = 10  # checks of the predicted end over the rest of the run
GUARD_TOLERANCE = 0.015  # re-plan when the predicted end misses the budget by more


def now() -> float:
    """The planner's clock (``time.perf_counter``; tests replace it)."""
    return time.perf_counter()


def parse_duration(text: str, key: str = "train.time_budget") -> float:
    """Seconds of a duration such as ``90s``, ``10m``, ``1.5h`` or ``600`` (seconds).

    Raises:
        ConfigError: When ``text`` is not a positive duration.
    """
    match = DURATION.match(str(text))
    if not match:
        raise ConfigError(
            f"{key}={text!r} is not a duration; use a number with s, m or h, e.g. 90s, 10m, "
            "1.5h (a plain number is seconds)"
        )
    seconds = float(match.group(1)) * UNITS[(match.group(2) or "s").lower()]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{key}={text!r} must be longer than 0 seconds, e.g. 10m")
    return seconds


def format_duration(seconds: float) -> str:
    """``600`` -> ``10m``, ``90`` -> ``90s``, ``5400`` -> ``1.5h``."""
    if seconds >= 3600 and seconds % 1800 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def step_cost_model(windows: list[tuple[int, float, float]]) -> tuple[float, float]:
    """Seconds per step as ``overhead + per_full_step * cost`` from timing windows.

    Each window is (steps, their cost in full-size steps, seconds). A least-squares line
    through the windows' seconds per step against their mean cost (weighted by steps) gives
    both terms once the windows' sizes differ; before that (or where the line would give a
    negative overhead) time is taken as proportional to cost alone, and where larger views
    were not slower, as the same for every step.
    """
    steps = sum(n for n, _, _ in windows)
    cost = sum(c for _, c, _ in windows)
    seconds = sum(t for _, _, t in windows)
    proportional = (0.0, seconds / max(cost, 1e-9))
    mean_x, mean_y = cost / steps, seconds / steps
    spread = sum(n * (c / n - mean_x) ** 2 for n, c, _ in windows)
    if spread < 1e-6 * steps:
        return proportional
    slope = sum(n * (c / n - mean_x) * (t / n - mean_y) for n, c, t in windows) / spread
    if slope <= 0:  # larger views were not slower: the same time per step
        return mean_y, 0.0
    overhead = mean_y - slope * mean_x
    return (overhead, slope) if overhead >= 0 else proportional


class BudgetPlanner:
    """Times optimizer steps and plans how many fit in a budget.

    Args:
        budget_seconds: The whole pretraining budget.
        spent_seconds: Budget already used by earlier sessions of a resumed run.
        clock: Monotonic clock in seconds (default ``now``).
        warmup_steps: First steps of this session left out of the timing.
        measure_steps: Steps timed after those; by default at least ``MIN_MEASURE_STEPS``
            and about 3% of the budget's expected steps, decided as steps come in.
        run_cost: ``run_cost(start, total)``: the cost of steps ``start`` .. ``total - 1`` of a
            ``total``-step plan, in full-size steps, when steps differ in cost (progressive
            resizing); ``None``: every step costs the same.
    """

    def __init__(
        self,
        budget_seconds: float,
        spent_seconds: float = 0.0,
        clock: Callable[[], float] | None = None,
        warmup_steps: int = WARMUP_STEPS,
        measure_steps: int | None = None,
        run_cost: Callable[[int, int], float] | None = None,
    ) -> None:
        self.budget = budget_seconds
        self.run_cost = run_cost
        self.clock = clock or now
        self.warmup_steps = warmup_steps
        self.measure_steps = measure_steps
        started = self.clock()
        self._session_start = started - spent_seconds
        self._measure_start: float | None = started if warmup_steps <= 0 else None
        self._measure_first = 0
        self._session_steps = 0
        self._window = 0  # steps of the current timing window (0: the first, not fixed yet)
        self._first_window = 0
        self._window_cost = 0.0  # full-size steps in the current window
        self._full_size_window = False  # the latest plan was timed on full-size steps only
        self._windows: list[tuple[int, float, float]] = []  # (steps, full-size steps, seconds)
        self._plans = 0
        self.seconds_per_step = math.nan  # per full-size step
        self.finished = False  # planning is over; only the guard checks remain
        self._total = 0  # the plan the run follows
        self._guard_every = 0  # steps between guard checks (fixed when planning ends)
        self._guard_from = (0, 0.0, 0.0)  # (step, clock, full-size steps) of the last plan
        self._guard_cost = 0.0  # full-size steps since planning ended

    def elapsed(self) -> float:
        """Budget used so far (earlier sessions included)."""
        return self.clock() - self._session_start

    def _enough_measured(self, measured: int, seconds: float) -> bool:
        if self.measure_steps is not None:
            return measured >= self.measure_steps
        if measured < MIN_MEASURE_STEPS:
            return False
        expected_steps = self.budget / max(seconds / measured, 1e-9)
        return measured >= min(expected_steps * MEASURE_FRACTION, 50)

    def after_step(self, step: int, cost: float = 1.0) -> int | None:
        """Called after each optimizer step (``step`` = steps done; ``cost``: that step in
        full-size steps); returns the planned total when a timing window ends (the first plan,
        then each re-plan), else ``None``."""
        self._session_steps += 1
        current = self.clock()
        if self._session_steps == self.warmup_steps:
            self._measure_start = current
            self._measure_first = self._session_steps
            return None
        if self.finished:
            return self._guard(step, cost, current)
        if self._measure_start is None:
            return None
        self._window_cost += cost
        measured = self._session_steps - self._measure_first
        seconds = current - self._measure_start
        if measured <= 0:
            return None
        if self._window == 0:
            if not self._enough_measured(measured, seconds):
                return None
            self._window = self._first_window = measured
        elif measured < self._window:
            return None
        self._windows.append((measured, self._window_cost, seconds))
        self._full_size_window = self._window_cost >= measured - 1e-6
        if self.run_cost is None or self._full_size_window:
            overhead, per_full_step = 0.0, seconds / max(self._window_cost, 1e-9)
        else:
            overhead, per_full_step = step_cost_model(self._windows)
        self.seconds_per_step = overhead + per_full_step
        planned = self._fit(step, self.budget - self.elapsed(), overhead, per_full_step)
        self._plans += 1
        self._window *= 2
        self._measure_start, self._measure_first = current, self._session_steps
        self._window_cost = 0.0
        self.accept(step, planned)
        return planned

    def _fit(self, step: int, seconds: float, overhead: float, per_full_step: float) -> int:
        """The largest total whose steps from ``step`` on are predicted to take at most
        ``seconds`` (``overhead`` per step plus ``per_full_step`` per full-size step)."""
        if overhead + per_full_step <= 0:  # a clock that did not move must not plan forever
            overhead = 1e-9
        if self.run_cost is None:
            return step + max(0, math.floor(seconds / (overhead + per_full_step)))
        run_cost = self.run_cost

        def fits(steps: int) -> bool:
            return overhead * steps + per_full_step * run_cost(step, step + steps) <= seconds

        if not fits(1):
            return step
        low, high = 1, 2  # ``low`` steps fit; find a ``high`` that does not
        while fits(high):
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(middle) else (low, middle)
        return step + low

    def _guard(self, step: int, cost: float, current: float) -> int | None:
        """At a guard check, the total that the steps since the last plan predict (the plan
        as it is when its predicted end is within ``GUARD_TOLERANCE`` of the budget); between
        checks ``None``."""
        start_step, start_time, start_cost = self._guard_from
        self._guard_cost += cost
        if step >= self._total or (step - start_step) % self._guard_every:
            return None
        per_full_step = (current - start_time) / max(self._guard_cost - start_cost, 1e-9)
        remaining = self._remaining_cost(step, self._total) * per_full_step
        seconds_left = self.budget - self.elapsed()
        if abs(remaining - seconds_left) <= GUARD_TOLERANCE * self.budget:
            return self._total
        self.seconds_per_step = per_full_step
        planned = self._fit(step, seconds_left, 0.0, per_full_step)
        self.accept(step, planned)
        return planned

    def _remaining_cost(self, step: int, total: int) -> float:
        """Full-size steps of a plan's steps ``step`` .. ``total - 1``."""
        return float(total - step) if self.run_cost is None else self.run_cost(step, total)

    def accept(self, step: int, total: int) -> None:
        """Records the plan the run follows (with several processes: the one they agreed on).

        Steps of equal cost: planning ends when the next window would reach past the first
        quarter of the plan. Steps of growing cost: windows of at most a twentieth of the plan
        go on until one ran at full size, or no window fits before the end. Then the guard
        checks start, from the steps after this plan.
        """
        changed, self._total = total != self._total, total
        if self.finished:  # a guard check: a new plan is timed on the steps after it
            if changed:
                self._guard_from = (step, self.clock(), self._guard_cost)
            return
        if self.run_cost is None:
            self.finished = self._plans > REPLANS or step + self._window > REPLAN_WITHIN * total
        else:
            self._window = min(self._window, max(self._first_window, total // 20))
            self.finished = self._full_size_window or step + self._window > total
        if self.finished:
            self._guard_every = max(self._first_window, (total - step) // GUARD_CHECKS, 1)
            self._guard_cost = 0.0
            self._guard_from = (step, self.clock(), 0.0)
