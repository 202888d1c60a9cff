"""Target-network momentum: the cosine tau schedule and a fused EMA update."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def tau_schedule(step: int, total_steps: int, tau_base: float, tau_final: float = 1.0) -> float:
    """``tau_k = tau_final - (tau_final - tau_base) * (cos(pi k / K) + 1) / 2``.

    With ``tau_final = 1`` this is the paper's schedule (Grill et al. 2020); solo-learn calls
    the end value ``final_tau``, and ``tau_final = tau_base`` keeps tau fixed (Lightly's
    benchmarks).

    Args:
        step: Optimizer step ``k`` (not micro-batch), starting at 0.
        total_steps: Total optimizer steps ``K``.
        tau_base: ``tau`` at step 0.
        tau_final: ``tau`` at step ``K``.
    """
    if total_steps <= 0:
        return tau_final
    k = min(max(step, 0), total_steps)
    return tau_final - (tau_final - tau_base) * (math.cos(math.pi * k / total_steps) + 1.0) / 2.0


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
