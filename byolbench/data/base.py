"""What every dataset provides: metadata and in-memory uint8 splits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

DATA_ENV = "BYOLBENCH_DATA"
DEFAULT_DATA_DIR = Path("~/.cache/byolbench/data")
UNLABELED = -1


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``data_dir``, else ``$BYOLBENCH_DATA``, else the default."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_ENV, "").strip()
    return Path(env).expanduser() if env else DEFAULT_DATA_DIR.expanduser()


@dataclass(frozen=True)
class DatasetInfo:
    """Metadata every dataset declares.

    Attributes:
        name: Registered name.
        image_size: Side length of the stored images.
        channels: Stored channels (1 for grayscale datasets, replicated to RGB on the device
            so every backbone sees three channels).
        class_names: Label names in label order.
        mean: RGB normalisation mean.
        std: RGB normalisation std.
        train_size: Side length the images are trained at when ``data.image_size`` is 0;
            0 means ``image_size``. A folder of mixed-size images is stored larger than it
            is trained (256 px for 224), so random crops keep some context.
        crop_pct: Evaluation resizes to ``floor(size / crop_pct)`` and takes the centre
            ``size`` crop (timm's convention); 1.0 resizes the whole image to ``size``.
    """

    name: str
    image_size: int
    channels: int
    class_names: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    train_size: int = 0
    crop_pct: float = 1.0

    @property
    def num_classes(self) -> int:
        """Number of labelled classes."""
        return len(self.class_names)

    @property
    def training_size(self) -> int:
        """The side length images are trained (and evaluated) at by default."""
        return self.train_size or self.image_size


@dataclass
class ImageSplit:
    """One split held in memory.

    Attributes:
        images: uint8 ``(N, C, H, W)``.
        labels: int64 ``(N,)``; ``-1`` marks unlabelled images.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        assert self.images.dtype == torch.uint8 and self.images.ndim == 4, self.images.shape
        assert self.labels.shape == (self.images.shape[0],), (self.labels.shape, self.images.shape)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, indices: torch.Tensor) -> ImageSplit:
        """The samples at ``indices``."""
        return ImageSplit(self.images[indices], self.labels[indices])


@dataclass
class DatasetSplits:
    """A dataset ready for BYOL: images to pretrain on, labelled train and test splits.

    ``pretrain`` may be the same object as ``train`` (CIFAR) or a larger unlabelled set (STL-10).
    """

    info: DatasetInfo
    pretrain: ImageSplit
    train: ImageSplit
    test: ImageSplit


def subsample(split: ImageSplit, n: int, seed: int = 0) -> ImageSplit:
    """A fixed random subset of ``n`` samples (all of them when ``n`` is 0 or too large)."""
    if n <= 0 or n >= len(split):
        return split
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randperm(len(split), generator=generator)[:n].sort().values
    return split.subset(indices)


def limit_pretrain_samples(splits: DatasetSplits, n: int) -> DatasetSplits:
    """Caps the PRETRAINING split at ``n`` images (a seeded random subset).

    The labelled training and test splits that kNN and the probes use are untouched, so a
    quick pretraining run is still evaluated on the whole training split.
    """
    if n <= 0 or n >= len(splits.pretrain):
        return splits
    return DatasetSplits(splits.info, subsample(splits.pretrain, n), splits.train, splits.test)


def limit_labelled_samples(splits: DatasetSplits, n: int) -> DatasetSplits:
    """Caps the labelled training split (the kNN bank and probe data) at ``n`` images.

    For quick evaluation checks only (``byolbench evaluate --max-train-samples``); the rows
    record the reduced size in ``train_samples``.
    """
    if n <= 0 or n >= len(splits.train):
        return splits
    train = subsample(splits.train, n)
    pretrain = train if splits.pretrain is splits.train else splits.pretrain
    return DatasetSplits(splits.info, pretrain, train, splits.test)
