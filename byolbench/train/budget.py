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


class BudgetPlanner:
    """Times optimizer steps and plans how many fit in a budget.

    Args:
        budget_seconds: The whole pretraining budget.
        spent_seconds: Budget already used by earlier sessions of a resumed run.
        clock: Monotonic clock in seconds (default ``now``).
        warmup_steps: First steps of this session left out of the timing.
        measure_steps: Steps timed after those; by default at least ``MIN_MEASURE_STEPS``
            and about 3% of the budget's expected steps, decided as steps come in.
    """

    def __init__(
        self,
        budget_seconds: float,
        spent_seconds: float = 0.0,
        clock: Callable[[], float] | None = None,
        warmup_steps: int = WARMUP_STEPS,
        measure_steps: int | None = None,
    ) -> None:
        self.budget = budget_seconds
        self.clock = clock or now
        self.warmup_steps = warmup_steps
        self.measure_steps = measure_steps
        started = self.clock()
        self._session_start = started - spent_seconds
        self._measure_start: float | None = started if warmup_steps <= 0 else None
        self._measure_first = 0
        self._session_steps = 0
        self._window = 0  # steps of the current timing window (0: the first, not fixed yet)
        self._plans = 0
        self.seconds_per_step = math.nan
        self.finished = False  # no more plans will come

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

    def after_step(self, step: int) -> int | None:
        """Called after each optimizer step (``step`` = steps done); returns the planned total
        when a timing window ends (the first plan, then each re-plan), else ``None``."""
        self._session_steps += 1
        current = self.clock()
        if self._session_steps == self.warmup_steps:
            self._measure_start = current
            self._measure_first = self._session_steps
            return None
        if self._measure_start is None or self.finished:
            return None
        measured = self._session_steps - self._measure_first
        seconds = current - self._measure_start
        if measured <= 0:
            return None
        if self._window == 0:
            if not self._enough_measured(measured, seconds):
                return None
            self._window = measured
        elif measured < self._window:
            return None
        self.seconds_per_step = seconds / measured
        remaining = self.budget - self.elapsed()
        planned = step + max(0, math.floor(remaining / self.seconds_per_step))
        self._plans += 1
        self._window *= 2
        self._measure_start, self._measure_first = current, self._session_steps
        self.accept(step, planned)
        return planned

    def accept(self, step: int, total: int) -> None:
        """Records the plan the run follows (with several processes: the one they agreed on);
        planning ends when the next window would reach past the first quarter of it."""
        self.finished = self._plans > REPLANS or step + self._window > REPLAN_WITHIN * total
