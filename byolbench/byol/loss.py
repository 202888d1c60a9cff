"""The BYOL regression loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def regression_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``||normalize(p) - normalize(z')||^2 = 2 - 2 cos(p, z')``.

    The target side is detached, so no gradient reaches the target network.

    Args:
        prediction: Online predictions ``p`` of shape ``(B, D)``.
        target: Target projections ``z'`` of shape ``(B, D)``.
    """
    p = F.normalize(prediction.float(), dim=-1)
    z = F.normalize(target.detach().float(), dim=-1)
    return (2.0 - 2.0 * (p * z).sum(dim=-1)).mean()


def symmetric_byol_loss(
    p1: torch.Tensor, p2: torch.Tensor, z1_target: torch.Tensor, z2_target: torch.Tensor
) -> torch.Tensor:
    """The BYOL loss: both directions SUMMED (not averaged), each a batch mean.

    Args:
        p1: Online prediction of view 1.
        p2: Online prediction of view 2.
        z1_target: Target projection of view 1.
        z2_target: Target projection of view 2.
    """
    return regression_loss(p1, z2_target) + regression_loss(p2, z1_target)


def multicrop_byol_loss(
    p1: torch.Tensor,
    p2: torch.Tensor,
    z1_target: torch.Tensor,
    z2_target: torch.Tensor,
    local_predictions: Sequence[torch.Tensor],
) -> torch.Tensor:
    """The BYOL loss with small views: every (online view, other view's target) pair.

    The two full-size views give the symmetric loss's two pairs; each small view adds one
    pair per full-size target. The result is the pairs' mean times 2, so it equals
    ``symmetric_byol_loss`` without small views and keeps its range (0 to 8) with them.

    Args:
        p1: Online prediction of full-size view 1.
        p2: Online prediction of full-size view 2.
        z1_target: Target projection of view 1.
        z2_target: Target projection of view 2.
        local_predictions: Online predictions of the small views (the target sees none).
    """
    loss = symmetric_byol_loss(p1, p2, z1_target, z2_target)
    if not local_predictions:
        return loss
    for p in local_predictions:
        loss = loss + regression_loss(p, z1_target) + regression_loss(p, z2_target)
    return loss * (2.0 / (2 + 2 * len(local_predictions)))
