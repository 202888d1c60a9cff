import math

import pytest
import torch
import torch.nn.functional as F

from byolbench.eval.knn import knn_classify


def test_knn_weighted_votes_by_hand():
    # two training points per class on the unit circle, one query
    train = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    labels = torch.tensor([0, 0, 1, 1])
    query = torch.tensor([[0.6, 0.8]])
    result = knn_classify(
        train, labels, query, torch.tensor([1]), num_classes=2, k=3, temperature=0.1
    )
    sims = F.normalize(query, dim=1) @ F.normalize(train, dim=1).T
    top = sims[0].topk(3)
    votes = [0.0, 0.0]
    for s, i in zip(top.values.tolist(), top.indices.tolist(), strict=True):
        votes[int(labels[i])] += math.exp(s / 0.1)
    expected = 0 if votes[0] > votes[1] else 1
    assert result.top1 == (100.0 if expected == 1 else 0.0)
    assert result.top5 == 100.0  # two classes: always within the top 5


def test_knn_perfect_on_separable_clusters_and_chance_on_noise():
    torch.manual_seed(0)
    centres = torch.randn(5, 16) * 5
    labels = torch.arange(500) % 5
    train = centres[labels] + 0.1 * torch.randn(500, 16)
    test_labels = torch.arange(100) % 5
    test = centres[test_labels] + 0.1 * torch.randn(100, 16)
    assert knn_classify(train, labels, test, test_labels, 5, k=20).top1 == 100.0
    noise = knn_classify(torch.randn(500, 16), labels, torch.randn(100, 16), test_labels, 5, k=20)
    assert noise.top1 < 50.0


def test_knn_caps_k_at_training_size():
    result = knn_classify(
        torch.eye(3), torch.tensor([0, 1, 2]), torch.eye(3), torch.tensor([0, 1, 2]), 3, k=200
    )
    assert result.k == 3 and result.top1 == 100.0


def test_knn_sweep_equals_separate_knn_calls():
    from byolbench.eval.knn import knn_sweep

    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(6, 8, generator=generator)
    labels = torch.arange(300) % 6
    train = centres[labels] + 0.8 * torch.randn(300, 8, generator=generator)
    test_labels = torch.arange(120) % 6
    test = centres[test_labels] + 0.8 * torch.randn(120, 8, generator=generator)
    ks = (10, 20, 100, 200)
    swept = knn_sweep(train, labels, test, test_labels, 6, ks, 0.1, chunk_size=50)
    assert [r.k for r in swept] == list(ks)
    for result in swept:
        alone = knn_classify(train, labels, test, test_labels, 6, result.k, 0.1)
        assert (result.top1, result.top5) == (alone.top1, alone.top5)
        # an independent brute-force vote for this k
        sims = F.normalize(test, dim=1) @ F.normalize(train, dim=1).T
        top = sims.topk(result.k, dim=1)
        votes = torch.zeros(120, 6).scatter_add_(1, labels[top.indices], (top.values / 0.1).exp())
        assert result.top1 == pytest.approx(100.0 * (votes.argmax(1) == test_labels).float().mean())
    assert len({r.top1 for r in swept}) > 1  # the k really differ
