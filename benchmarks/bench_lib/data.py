"""In-memory training images for benchmarks: the embedded cifar10-mini, tiled if needed."""

from __future__ import annotations

from byolbench.data import load_dataset
from byolbench.data.base import DatasetSplits, ImageSplit


def training_images(n: int = 10_000) -> DatasetSplits:
    """``cifar10-mini`` with its pretraining split cut or tiled to ``n`` images.

    Tiling (for a CIFAR-10-sized 50,000-image epoch) repeats the 10,000 real images; it keeps
    the compute of a real epoch, not its statistics.
    """
    splits = load_dataset("cifar10-mini")
    images, labels = splits.pretrain.images, splits.pretrain.labels
    repeats = -(-n // images.shape[0])
    images = images.repeat(repeats, 1, 1, 1)[:n]
    labels = labels.repeat(repeats)[:n]
    pretrain = ImageSplit(images.contiguous(), labels.contiguous())
    return DatasetSplits(splits.info, pretrain, splits.train, splits.test)
