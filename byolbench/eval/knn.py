"""Weighted kNN classifier on L2-normalised features (Wu et al. 2018, InstDisc).

Each of the ``k`` nearest training features (cosine similarity) votes for its label with
weight ``exp(similarity / temperature)``; the class with the largest total wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class KnnResult:
    """Accuracies in percent and the protocol's settings."""

    top1: float
    top5: float
    k: int
    temperature: float


@torch.no_grad()
def knn_classify(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk_size: int = 1024,
) -> KnnResult:
    """Classifies ``test_features`` by weighted votes of their ``k`` nearest neighbours.

    Args:
        train_features: ``(N, D)`` features of the labelled training split.
        train_labels: ``(N,)`` labels in ``[0, num_classes)``.
        test_features: ``(M, D)`` features to classify.
        test_labels: ``(M,)`` true labels.
        num_classes: Number of classes.
        k: Neighbours per query (capped at N).
        temperature: Vote weight is ``exp(sim / temperature)``.
        chunk_size: Queries per similarity matrix block.
    """
    return knn_sweep(
        train_features,
        train_labels,
        test_features,
        test_labels,
        num_classes,
        (k,),
        temperature,
        chunk_size,
    )[0]


@torch.no_grad()
def knn_sweep(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int,
    ks: Sequence[int] = (10, 20, 100, 200),
    temperature: float = 0.1,
    chunk_size: int = 1024,
) -> list[KnnResult]:
    """The kNN classifier for several ``k`` in one pass over the features.

    Each block of queries gets one similarity matrix and one ``topk`` of the largest ``k``;
    the neighbours of every smaller ``k`` are the first columns of that sorted result. Each
    result equals a separate ``knn_classify`` call with that ``k``.

    Args:
        train_features: ``(N, D)`` features of the labelled training split.
        train_labels: ``(N,)`` labels in ``[0, num_classes)``.
        test_features: ``(M, D)`` features to classify.
        test_labels: ``(M,)`` true labels.
        num_classes: Number of classes.
        ks: Neighbour counts (each capped at N); results come back in this order.
        temperature: Vote weight is ``exp(sim / temperature)``.
        chunk_size: Queries per similarity matrix block.
    """
    if not ks:
        raise ValueError("knn_sweep needs at least one k")
    train = F.normalize(train_features.float(), dim=1)
    test = F.normalize(test_features.float(), dim=1)
    train_labels = train_labels.to(train.device)
    test_labels = test_labels.to(train.device)
    capped = [min(int(k), train.shape[0]) for k in ks]
    largest = max(capped)
    top_n = min(5, num_classes)
    correct1 = [0] * len(capped)
    correct5 = [0] * len(capped)
    for start in range(0, test.shape[0], chunk_size):
        sims = test[start : start + chunk_size] @ train.T
        top_sims, top_idx = sims.topk(largest, dim=1)
        weights = (top_sims / temperature).exp()
        neighbour_labels = train_labels[top_idx]
        truth = test_labels[start : start + chunk_size].unsqueeze(1)
        for i, k in enumerate(capped):
            votes = torch.zeros(sims.shape[0], num_classes, device=train.device)
            votes.scatter_add_(1, neighbour_labels[:, :k], weights[:, :k])
            predictions = votes.topk(top_n, dim=1).indices
            correct1[i] += int((predictions[:, :1] == truth).sum())
            correct5[i] += int((predictions == truth).any(dim=1).sum())
    total = test.shape[0]
    return [
        KnnResult(100.0 * c1 / total, 100.0 * c5 / total, k, temperature)
        for c1, c5, k in zip(correct1, correct5, capped, strict=True)
    ]
