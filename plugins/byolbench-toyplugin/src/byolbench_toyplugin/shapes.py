"""``toy-shapes``: a deterministic generated dataset of coloured shapes in four classes.

Each image is one square, circle, triangle or cross of random colour, size and position on a
darker random background, with a little pixel noise. 64 training and 32 test images per
class at 32 px (or at the requested ``image_size``), generated in a few milliseconds.
"""

from __future__ import annotations

import torch
from byolbench.data import DatasetInfo, DatasetRequest, DatasetSplits, ImageSplit
from byolbench.errors import DataError

__all__ = ["CLASSES", "generate", "toy_shapes"]

CLASSES = ("square", "circle", "triangle", "cross")
TRAIN_PER_CLASS = 64
TEST_PER_CLASS = 32
DEFAULT_SIZE = 32
TRAIN_SEED = 0
TEST_SEED = 1


def _masks(labels: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Boolean ``(N, size, size)`` masks of each sample's shape at a random place and size."""
    n = labels.numel()
    radius = (0.18 + 0.14 * torch.rand(n, generator=generator)) * size
    centre = size / 2 + (torch.rand(n, 2, generator=generator) - 0.5) * (size - 2 * radius)[:, None]
    grid = torch.arange(size, dtype=torch.float32) + 0.5
    dy = (grid.view(1, -1, 1) - centre[:, 0].view(-1, 1, 1)) / radius.view(-1, 1, 1)
    dx = (grid.view(1, 1, -1) - centre[:, 1].view(-1, 1, 1)) / radius.view(-1, 1, 1)
    square = (dx.abs() <= 0.8) & (dy.abs() <= 0.8)
    circle = dx**2 + dy**2 <= 1.0
    triangle = (dy >= -1.0) & (dy <= 0.8) & (dx.abs() <= (dy + 1.0) / 1.8)
    cross = ((dx.abs() <= 0.3) & (dy.abs() <= 1.0)) | ((dy.abs() <= 0.3) & (dx.abs() <= 1.0))
    stacked = torch.stack((square, circle, triangle, cross))
    return stacked[labels, torch.arange(n)]


def generate(per_class: int, size: int, seed: int) -> ImageSplit:
    """Generates ``per_class`` images of each class as a uint8 ``(N, 3, size, size)`` split.

    The same arguments always give the same images.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(CLASSES)).repeat_interleave(per_class)
    labels = labels[torch.randperm(labels.numel(), generator=generator)]
    n = labels.numel()
    masks = _masks(labels, size, generator).unsqueeze(1)
    background = 0.35 * torch.rand(n, 3, 1, 1, generator=generator)
    foreground = 0.45 + 0.55 * torch.rand(n, 3, 1, 1, generator=generator)
    noise = 0.04 * torch.randn(n, 3, size, size, generator=generator)
    images = torch.where(masks, foreground, background) + noise
    return ImageSplit((images.clamp(0, 1) * 255).round().to(torch.uint8), labels)


def _stats(split: ImageSplit) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    x = split.images.float() / 255.0
    mean = x.mean(dim=(0, 2, 3)).tolist()
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
    return (
        (round(mean[0], 4), round(mean[1], 4), round(mean[2], 4)),
        (round(std[0], 4), round(std[1], 4), round(std[2], 4)),
    )


def toy_shapes(request: DatasetRequest) -> DatasetSplits:
    """byolbench's dataset factory contract: the request in, in-memory splits out.

    Raises:
        DataError: When the name carries an argument (``toy-shapes:x``); there is none.
    """
    if request.argument:
        raise DataError(
            f"toy-shapes takes no argument, got {request.name!r}; use plain 'toy-shapes'"
        )
    size = request.image_size or DEFAULT_SIZE
    train = generate(TRAIN_PER_CLASS, size, TRAIN_SEED)
    test = generate(TEST_PER_CLASS, size, TEST_SEED)
    mean, std = _stats(train)
    info = DatasetInfo("toy-shapes", size, 3, CLASSES, mean, std)
    return DatasetSplits(info, train, train, test)
