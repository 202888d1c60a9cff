"""RankMe: collapsed embeddings score 1, spread-out ones close to their width."""

import math

import pytest
import torch

from byolbench.eval.rankme import rankme


def test_collapsed_constant_embedding_has_rankme_one():
    constant = torch.randn(1, 64).repeat(2048, 1)
    assert rankme(constant) == pytest.approx(1.0, abs=1e-2)
    assert rankme(torch.zeros(100, 16)) == 1.0


def test_isotropic_gaussian_is_close_to_its_dimension():
    generator = torch.Generator().manual_seed(0)
    gaussian = torch.randn(4096, 64, generator=generator)
    value = rankme(gaussian)
    assert 0.95 * 64 < value <= 64


def test_rank_k_embedding_is_at_most_k_and_subsets_are_seeded():
    generator = torch.Generator().manual_seed(1)
    low_rank = torch.randn(1000, 4, generator=generator) @ torch.randn(4, 32, generator=generator)
    assert 1.5 < rankme(low_rank) <= 4.0 + 1e-3
    wide = torch.randn(5000, 16, generator=generator)
    assert rankme(wide, max_samples=500, seed=3) == rankme(wide, max_samples=500, seed=3)
    assert rankme(wide, max_samples=500, seed=3) != rankme(wide, max_samples=500, seed=4)


def test_non_finite_features_give_nan_and_bad_shapes_are_refused():
    bad = torch.randn(10, 4)
    bad[0, 0] = math.nan
    assert math.isnan(rankme(bad))
    with pytest.raises(ValueError):
        rankme(torch.zeros(0, 4))
