"""Progressive resizing: smaller views early in pretraining, the full size at the end.

With ``augment.progressive_min_size`` set, the random-resized-crop output grows linearly from
that side to the training size over the first ``augment.progressive_fraction`` of the
optimizer steps (in steps of ``augment.progressive_step`` pixels), then stays at the training
size, so the last part of training and all evaluation see full-size images. Early steps cost a
fraction of a full-size step, so a fixed time budget holds more of them: ``run_cost`` counts a
plan's steps in full-size steps (cost taken as proportional to the pixels of a view) for the
budget planner.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from byolbench.errors import ConfigError

SIZE_STEP = 4


def view_size(
    step: int,
    total_steps: int,
    min_size: int,
    full_size: int,
    fraction: float,
    size_step: int = SIZE_STEP,
) -> int:
    """The view side for optimizer step ``step`` of ``total_steps`` (sides snapped down to a
    multiple of ``size_step`` pixels on the way up)."""
    if min_size <= 0 or min_size >= full_size or total_steps <= 0:
        return full_size
    ramp = max(1.0, fraction * total_steps)
    progress = min(1.0, step / ramp)
    size = min_size + progress * (full_size - min_size)
    snapped = int(size // size_step) * size_step
    return full_size if progress >= 1.0 else max(min_size, min(full_size, snapped))


def run_cost(
    start: int,
    total: int,
    min_size: int,
    full_size: int,
    fraction: float,
    at_least: int = 0,
    size_step: int = SIZE_STEP,
) -> float:
    """Cost of steps ``start`` .. ``total - 1`` of a ``total``-step run, in full-size steps.

    A step with views of side ``v`` counts ``(v / full_size) ** 2``, ``v`` being
    ``view_size`` but at least ``at_least`` (views never shrink during a run). Exact, in time
    linear in the number of distinct sizes.
    """
    if start >= total:
        return 0.0
    if min_size <= 0 or min_size >= full_size or at_least >= full_size:
        return float(total - start)

    def size_at(step: int) -> int:
        return max(at_least, view_size(step, total, min_size, full_size, fraction, size_step))

    first_full = min(total, max(start, math.ceil(max(1.0, fraction * total))))
    cost = float(total - first_full)
    step = start
    while step < first_full:
        size = size_at(step)
        last = step + bisect.bisect_right(range(step, first_full), size, key=size_at)
        cost += (last - step) * (size / full_size) ** 2
        step = last
    return cost


def resizable(transform: Any, name: str) -> Any:
    """``transform`` if its output size can change between batches (``image_size``).

    Raises:
        ConfigError: For an augmentation (e.g. a plugin's) that has a fixed output size.
    """
    if not isinstance(getattr(transform, "image_size", None), int):
        raise ConfigError(
            f"augment.progressive_min_size needs an augmentation whose output size can change "
            f"(byolbench's byol, byol-small); {name!r} has none: set "
            "augment.progressive_min_size=0"
        )
    return transform
