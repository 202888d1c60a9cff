"""Linear probe: multinomial logistic regression on frozen, standardised features.

The L2 strength is chosen on a held-out part of the training split (never on the test set),
then the probe is refit on the whole training split and scored once on the test split.
Fitting is full-batch L-BFGS, so it runs on the training device and needs no extra library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LinearProbeResult:
    """Accuracies in percent and what was chosen."""

    top1: float
    top5: float
    l2: float
    val_top1: float


def _fit(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    l2: float,
    max_iter: int,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimises mean cross-entropy + ``l2 / 2 * ||W||^2`` with L-BFGS."""
    if init is None:
        weight = torch.zeros(x.shape[1], num_classes, device=x.device)
        bias = torch.zeros(num_classes, device=x.device)
    else:
        weight, bias = (t.clone() for t in init)
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        tolerance_grad=1e-6,
        tolerance_change=1e-9,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, y) + 0.5 * l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return weight.detach(), bias.detach()


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    top_n = min(5, logits.shape[1])
    predictions = logits.topk(top_n, dim=1).indices
    top1 = (predictions[:, 0] == y).float().mean().item() * 100.0
    top5 = (predictions == y.unsqueeze(1)).any(dim=1).float().mean().item() * 100.0
    return top1, top5


def linear_probe(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int,
    l2_grid: Sequence[float] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2),
    val_fraction: float = 0.1,
    max_iter: int = 200,
    seed: int = 0,
) -> LinearProbeResult:
    """Chooses the L2 strength on a held-out split, refits on all training data, tests once.

    Args:
        train_features: ``(N, D)`` frozen features of the training split.
        train_labels: ``(N,)`` labels.
        test_features: ``(M, D)`` frozen features of the test split.
        test_labels: ``(M,)`` labels.
        num_classes: Number of classes.
        l2_grid: Candidate L2 strengths (on standardised features, mean-loss scale).
        val_fraction: Part of the training split held out for the choice.
        max_iter: L-BFGS iterations per fit.
        seed: Seed of the held-out split.
    """
    x = train_features.float()
    y = train_labels.to(x.device)
    mean = x.mean(dim=0, keepdim=True)
    std = x.std(dim=0, keepdim=True).clamp_min(1e-6)
    x = (x - mean) / std
    x_test = (test_features.float().to(x.device) - mean) / std
    y_test = test_labels.to(x.device)

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(x.shape[0], generator=generator).to(x.device)
    n_val = max(1, int(round(val_fraction * x.shape[0])))
    val_idx, fit_idx = order[:n_val], order[n_val:]

    best_l2, best_acc = l2_grid[0], -1.0
    init = None
    for l2 in sorted(l2_grid, reverse=True):  # strong to weak, warm-started
        init = _fit(x[fit_idx], y[fit_idx], num_classes, l2, max_iter, init)
        accuracy, _ = _accuracy(x[val_idx] @ init[0] + init[1], y[val_idx])
        if accuracy > best_acc:
            best_l2, best_acc = l2, accuracy
    weight, bias = _fit(x, y, num_classes, best_l2, max_iter)
    top1, top5 = _accuracy(x_test @ weight + bias, y_test)
    return LinearProbeResult(top1, top5, best_l2, best_acc)
