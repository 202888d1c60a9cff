"""Weighted kNN classifier on L2-normalised features (Wu et al. 2018, InstDisc).

Each of the ``k`` nearest training features (cosine similarity) votes for its label with
weight ``exp(similarity / temperature)``; the class with the largest total wins.
"""

from __future__ import annotations

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
    train = F.normalize(train_features.float(), dim=1)
    test = F.normalize(test_features.float(), dim=1)
    train_labels = train_labels.to(train.device)
    test_labels = test_labels.to(train.device)
    k = min(k, train.shape[0])
    top_n = min(5, num_classes)
    correct1 = 0
    correct5 = 0
    for start in range(0, test.shape[0], chunk_size):
        sims = test[start : start + chunk_size] @ train.T
        top_sims, top_idx = sims.topk(k, dim=1)
        weights = (top_sims / temperature).exp()
        votes = torch.zeros(sims.shape[0], num_classes, device=train.device)
        votes.scatter_add_(1, train_labels[top_idx], weights)
        predictions = votes.topk(top_n, dim=1).indices
        truth = test_labels[start : start + chunk_size].unsqueeze(1)
        correct1 += int((predictions[:, :1] == truth).sum())
        correct5 += int((predictions == truth).any(dim=1).sum())
    total = test.shape[0]
    return KnnResult(100.0 * correct1 / total, 100.0 * correct5 / total, k, temperature)
