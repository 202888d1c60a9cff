"""Few-shot linear probe: the linear probe trained on a small, class-balanced part of the labels.

As in the semi-supervised table of the BYOL paper (Grill et al. 2020, Table 2: 1% and 10% of
ImageNet's labels), the probe sees only a fraction of the labelled training split. The subset
takes the same number of images from every class (``round(fraction * N / C)``, at least one,
at most what the class has), drawn with a seeded generator, so a seed always gives the same
subset. The L2 strength is chosen on a held-out part OF THAT SUBSET (never on the rest of the
training split, never on the test set); the probe is refit on the whole subset and tested once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from byolbench.eval.linear import linear_probe


@dataclass(frozen=True)
class FewShotResult:
    """Accuracies in percent, the subset and what was chosen."""

    top1: float
    top5: float
    fraction: float
    labels: int
    per_class: int
    l2: float
    val_top1: float

    @property
    def variant(self) -> str:
        """``labels=1%``: the row's protocol variant."""
        return f"labels={fraction_label(self.fraction)}"


def fraction_label(fraction: float) -> str:
    """``0.01`` -> ``1%``, ``0.125`` -> ``12.5%``."""
    return f"{fraction * 100:g}%"


def fewshot_indices(
    labels: torch.Tensor, fraction: float, num_classes: int, seed: int = 0
) -> torch.Tensor:
    """Indices of a class-balanced, seeded subset of about ``fraction`` of ``labels``.

    Every class contributes ``max(1, round(fraction * N / num_classes))`` images (or all it
    has, when it has fewer); within a class the images are a seeded random choice.

    Args:
        labels: ``(N,)`` labels in ``[0, num_classes)``.
        fraction: Part of the labels to keep, in ``(0, 1]``.
        num_classes: Number of classes.
        seed: Seed of the choice.

    Returns:
        Sorted int64 indices into ``labels``.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    labels = labels.cpu()
    per_class = max(1, round(fraction * labels.shape[0] / num_classes))
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in range(num_classes):
        members = (labels == label).nonzero().squeeze(1)
        order = torch.randperm(members.shape[0], generator=generator)
        chosen.append(members[order[:per_class]])
    return torch.cat(chosen).sort().values


def fewshot_probe(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int,
    fractions: Sequence[float] = (0.01, 0.1),
    l2_grid: Sequence[float] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2),
    val_fraction: float = 0.2,
    max_iter: int = 200,
    seed: int = 0,
) -> list[FewShotResult]:
    """The linear probe on each labelled fraction; one result per fraction, in order.

    Args:
        train_features: ``(N, D)`` frozen features of the labelled training split.
        train_labels: ``(N,)`` labels.
        test_features: ``(M, D)`` frozen features of the test split.
        test_labels: ``(M,)`` labels.
        num_classes: Number of classes.
        fractions: Parts of the labels, e.g. ``(0.01, 0.1)``.
        l2_grid: Candidate L2 strengths.
        val_fraction: Part of each subset held out to choose the L2 strength.
        max_iter: L-BFGS iterations per fit.
        seed: Seed of the subsets and of the held-out split.
    """
    results = []
    for fraction in fractions:
        idx = fewshot_indices(train_labels, fraction, num_classes, seed).to(train_features.device)
        y = train_labels.to(train_features.device)[idx]
        probe = linear_probe(
            train_features[idx],
            y,
            test_features,
            test_labels,
            num_classes,
            l2_grid,
            val_fraction,
            max_iter,
            seed,
        )
        per_class = int(torch.bincount(y.cpu(), minlength=num_classes).max())
        results.append(
            FewShotResult(
                probe.top1,
                probe.top5,
                fraction,
                int(idx.shape[0]),
                per_class,
                probe.l2,
                probe.val_top1,
            )
        )
    return results
