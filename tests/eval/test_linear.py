import torch

from byolbench.eval import linear as linear_module
from byolbench.eval.linear import linear_probe


def _blobs(n: int, seed: int, noise: float = 1.0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(4, 8, generator=torch.Generator().manual_seed(99)) * 2
    labels = torch.arange(n) % 4
    return centres[labels] + noise * torch.randn(n, 8, generator=generator), labels


def test_probe_learns_separable_classes():
    x, y = _blobs(400, 0, noise=0.3)
    xt, yt = _blobs(200, 1, noise=0.3)
    result = linear_probe(x, y, xt, yt, 4, max_iter=100)
    assert result.top1 > 95.0 and result.top5 == 100.0


def test_regularisation_is_chosen_without_seeing_the_test_set(monkeypatch):
    x, y = _blobs(300, 0)
    xt, yt = _blobs(100, 1)
    seen_sizes = []
    original = linear_module._fit

    def spy(features, labels, *args, **kwargs):
        seen_sizes.append(features.shape[0])
        return original(features, labels, *args, **kwargs)

    monkeypatch.setattr(linear_module, "_fit", spy)
    grid = (1e-4, 1e-2, 1.0)
    result = linear_probe(x, y, xt, yt, 4, l2_grid=grid, val_fraction=0.1, max_iter=50)
    # one fit per grid value on 90% of train, then one refit on all of train; never on test
    assert seen_sizes == [270, 270, 270, 300]
    assert result.l2 in grid
    # changing only the test set cannot change the chosen regularisation
    xt2, yt2 = _blobs(100, 7)
    assert linear_probe(x, y, xt2, yt2, 4, l2_grid=grid, max_iter=50).l2 == result.l2
