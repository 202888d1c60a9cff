import torch

from byolbench.data import load_dataset
from byolbench.data.embedded import ASSET


def test_cifar10_mini_is_balanced_and_small():
    assert ASSET.stat().st_size < 10 * 1024 * 1024
    splits = load_dataset("cifar10-mini")
    assert splits.train.images.shape == (10_000, 3, 32, 32)
    assert splits.test.images.shape == (2_000, 3, 32, 32)
    assert torch.bincount(splits.train.labels).tolist() == [1000] * 10
    assert torch.bincount(splits.test.labels).tolist() == [200] * 10
    assert splits.info.class_names[0] == "airplane"
    # real photos, not blank: plenty of distinct pixel values
    assert splits.train.images[:100].float().std() > 30


def test_cifar10_mini_second_load_uses_the_cache(monkeypatch):
    first = load_dataset("cifar10-mini")
    from byolbench.data import embedded

    def fail(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(embedded, "_decode_split", fail)
    second = load_dataset("cifar10-mini")
    assert torch.equal(first.test.images, second.test.images)
