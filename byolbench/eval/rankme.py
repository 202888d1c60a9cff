"""RankMe: the effective rank of an embedding, a label-free quality signal.

Garrido et al. 2023, "RankMe: Assessing the downstream performance of pretrained
self-supervised representations by their rank": with the singular values ``s`` of the
``(N, D)`` embedding matrix, ``p_k = s_k / sum(s) + eps`` and ``RankMe = exp(-sum p_k log p_k)``.
It lies in ``[1, min(N, D)]``: 1 for a collapsed (constant) embedding, close to ``D`` for an
embedding spread evenly over all its dimensions. The matrix is not centred, as in the paper.
"""

from __future__ import annotations

import torch

# Garrido et al. 2023, eq. 1.
RANKME_EPS = 1e-7


@torch.no_grad()
def rankme(features: torch.Tensor, max_samples: int = 0, seed: int = 0) -> float:
    """The RankMe of ``features``.

    Args:
        features: ``(N, D)`` embeddings (any float dtype, any device).
        max_samples: Use at most this many rows, a seeded random subset (0: all).
        seed: Seed of that subset.

    Returns:
        ``exp`` of the entropy of the normalised singular values; 1.0 for an all-zero matrix
        (it has no direction at all, the limit of a collapse); NaN for non-finite features.
    """
    x = features.detach()
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"rankme needs a non-empty (N, D) matrix, got shape {tuple(x.shape)}")
    if 0 < max_samples < x.shape[0]:
        generator = torch.Generator().manual_seed(seed)
        keep = torch.randperm(x.shape[0], generator=generator)[:max_samples]
        x = x[keep.to(x.device)]
    x = x.to("cpu", torch.float64)
    if not torch.isfinite(x).all():
        return float("nan")
    singular = torch.linalg.svdvals(x)
    total = singular.sum()
    if total <= 0:
        return 1.0
    p = singular / total + RANKME_EPS
    return float(torch.exp(-(p * p.log()).sum()))
