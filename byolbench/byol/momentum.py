"""Target-network momentum: the cosine tau schedule and a fused EMA update."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def tau_schedule(step: int, total_steps: int, tau_base: float) -> float:
    """``tau_k = 1 - (1 - tau_base) * (cos(pi k / K) + 1) / 2`` (Grill et al. 2020).

    Args:
        step: Optimizer step ``k`` (not micro-batch), starting at 0.
        total_steps: Total optimizer steps ``K``.
        tau_base: ``tau`` at step 0; it rises to 1.0 at step ``K``.
    """
    if total_steps <= 0:
        return 1.0
    k = min(max(step, 0), total_steps)
    return 1.0 - (1.0 - tau_base) * (math.cos(math.pi * k / total_steps) + 1.0) / 2.0


@torch.no_grad()
def ema_update_(target: Sequence[torch.Tensor], online: Sequence[torch.Tensor], tau: float) -> None:
    """In place: ``target = tau * target + (1 - tau) * online``, one fused kernel per dtype.

    Args:
        target: Target parameters, updated in place.
        online: Matching online parameters.
        tau: EMA rate in [0, 1].
    """
    if not target:
        return
    if tau == 0.0:
        torch._foreach_copy_(list(target), list(online))
        return
    torch._foreach_lerp_(list(target), list(online), 1.0 - tau)
