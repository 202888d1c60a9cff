"""``imagefolder:PATH``: any folder of ``train/<class>/`` and ``val/`` or ``test/<class>/``.

Optional ``unlabeled/`` (any depth) is added to the pretraining images. Images of any size
are stored at a square side: their common size when they all share one (then trained at that
size, or at ``--image-size``); otherwise the training size (``--image-size``, default 224)
divided by crop_pct 0.875, so random resized crops keep some context and evaluation takes
the centre crop of the training size, as timm does (stored at 256, trained and evaluated at
224). Mean and std are measured on a seeded random sample of the whole training split.

A folder whose decoded images fit in half the free memory is held in memory (and cached as
one safetensors file). A larger one is decoded once into a memory-mapped file in the data
directory (``byolbench.data.mapped``), so ImageNet-sized folders need disk, not RAM.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch
from PIL import Image

from byolbench.data.base import DatasetInfo, DatasetSplits, ImageSplit
from byolbench.data.folder import FolderIndex, load_folder_split, scan_labelled, scan_unlabelled
from byolbench.data.mapped import load_mapped_split
from byolbench.data.registry import DATASETS, DatasetRequest
from byolbench.errors import DataError

DEFAULT_IMAGE_SIZE = 224
DEFAULT_CROP_PCT = 0.875
PROBE_FILES = 32
STATS_SAMPLE = 10_000
STATS_SEED = 0
STATS_CHUNK = 256
MEMORY_FRACTION = 0.5
EVAL_SPLITS = ("test", "val")
UNLABELLED_DIRS = ("unlabeled", "unlabelled")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Storage:
    """How a folder's images are stored and used.

    Attributes:
        size: Side length of the stored squares.
        train_size: Side length trained at when ``data.image_size`` is 0.
        crop_pct: timm's crop_pct: evaluation keeps the centre ``train_size`` crop of
            ``floor(train_size / crop_pct)`` = ``size``.
    """

    size: int
    train_size: int
    crop_pct: float


def probe_sizes(index: FolderIndex, count: int = PROBE_FILES, seed: int = 0) -> set:
    """``(width, height)`` of a seeded random sample of the files (the files are sorted by
    class, so the first ones would all come from one class)."""
    files = index.files
    picked = random.Random(seed).sample(range(len(files)), min(count, len(files)))
    sizes = set()
    for i in sorted(picked):
        try:
            with Image.open(files[i]) as image:
                sizes.add(image.size)
        except (OSError, Image.DecompressionBombError):  # skipped later, with a warning
            continue
    return sizes


def storage_for(sizes: set, requested: int) -> Storage:
    """The storage of images of ``sizes`` for a requested training size (0: default).

    Images that all share one square size are stored as they are (and trained at that size
    unless another is requested); other folders are stored at ``floor(train / 0.875)`` and
    evaluated on the centre crop of the training size.
    """
    if len(sizes) == 1:
        width, height = next(iter(sizes))
        if width == height and requested in (0, width):
            return Storage(width, width, 1.0)
    train = requested or DEFAULT_IMAGE_SIZE
    return Storage(math.floor(train / DEFAULT_CROP_PCT), train, DEFAULT_CROP_PCT)


def channel_stats(
    split: ImageSplit, sample: int = STATS_SAMPLE, seed: int = STATS_SEED
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """RGB mean and std of a seeded random sample of ``sample`` images spread over the whole
    split (all of them when it is smaller), accumulated in float64 a chunk at a time."""
    n = len(split)
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randperm(n, generator=generator)[: min(n, sample)].sort().values
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    pixels = 0
    for start in range(0, len(indices), STATS_CHUNK):
        chunk = split.images[indices[start : start + STATS_CHUNK]].double().div_(255.0)
        if chunk.shape[1] == 1:
            chunk = chunk.expand(-1, 3, -1, -1)
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
        pixels += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
    mean = total / pixels
    variance = (squares / pixels - mean.square()) * pixels / max(pixels - 1, 1)
    std = variance.clamp_min(0.0).sqrt().clamp_min(1e-3)
    return tuple(round(float(v), 4) for v in mean), tuple(round(float(v), 4) for v in std)


def _fits_in_memory(images: int, channels: int, size: int) -> bool:
    """Whether the decoded images take at most half the available RAM."""
    needed = images * channels * size * size
    return needed <= psutil.virtual_memory().available * MEMORY_FRACTION


def _load_splits(
    root: Path,
    indexes: tuple[FolderIndex, FolderIndex, FolderIndex | None],
    size: int,
    channels: int,
    cache: Path,
    load: Callable[[FolderIndex, int, int, Path], ImageSplit],
) -> tuple[ImageSplit, ImageSplit, ImageSplit]:
    """Pretrain, train and test splits, each decoded (and cached) by ``load``.

    Training and unlabelled images share one split (training images first), so the training
    split is a view of the pretraining one and nothing is copied.
    """
    train_index, eval_index, unlabelled_index = indexes
    test = load(eval_index, size, channels, cache)
    if unlabelled_index is None:
        train = load(train_index, size, channels, cache)
        return train, train, test
    both = FolderIndex(
        root,
        train_index.files + unlabelled_index.files,
        train_index.labels + unlabelled_index.labels,
        train_index.classes,
    )
    pretrain = load(both, size, channels, cache)
    labelled = int((pretrain.labels >= 0).sum())
    train = ImageSplit(pretrain.images[:labelled], pretrain.labels[:labelled])
    return pretrain, train, test


def load_image_folder(
    root: Path, request: DatasetRequest, name: str, channels: int = 3
) -> DatasetSplits:
    """Loads ``root/train`` and ``root/test`` (or ``root/val``), in memory or memory-mapped.

    Raises:
        DataError: For a missing root or split, or any structural problem of a split.
    """
    if not root.is_dir():
        raise DataError(
            f"image folder {root} does not exist; expected {root}/train/<class>/ and "
            f"{root}/test/<class>/ (or val/)"
        )
    eval_dir = next((root / s for s in EVAL_SPLITS if (root / s).is_dir()), None)
    if not (root / "train").is_dir() or eval_dir is None:
        found = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DataError(
            f"image folder {root} needs train/ and test/ (or val/) subfolders; found "
            f"{found or 'none'}"
        )
    train_index = scan_labelled(root / "train")
    eval_index = scan_labelled(eval_dir, classes=train_index.classes)
    unlabelled_dir = next((root / d for d in UNLABELLED_DIRS if (root / d).is_dir()), None)
    unlabelled_index = scan_unlabelled(unlabelled_dir) if unlabelled_dir is not None else None
    storage = storage_for(probe_sizes(train_index), request.image_size)
    size = storage.size
    counted = len(train_index.files) + len(eval_index.files)
    counted += len(unlabelled_index.files) if unlabelled_index is not None else 0
    load = load_folder_split
    if not _fits_in_memory(counted, channels, size):
        logger.info(
            "%s: %d images at %d px do not fit in half the free memory; using a memory-mapped "
            "copy in %s",
            root,
            counted,
            size,
            request.cache_dir,
        )
        load = load_mapped_split
    indexes = (train_index, eval_index, unlabelled_index)
    pretrain, train, test = _load_splits(root, indexes, size, channels, request.cache_dir, load)
    mean, std = channel_stats(train)
    info = DatasetInfo(
        name,
        size,
        channels,
        tuple(train_index.classes),
        mean,  # type: ignore[arg-type]
        std,  # type: ignore[arg-type]
        train_size=storage.train_size,
        crop_pct=storage.crop_pct,
    )
    return DatasetSplits(info, pretrain, train, test)


@DATASETS.register("imagefolder")
def imagefolder(request: DatasetRequest) -> DatasetSplits:
    """``imagefolder:PATH``."""
    if not request.argument:
        raise DataError(
            "imagefolder needs a path: --datasets imagefolder:/path/to/folder "
            "(with train/<class>/ and test/<class>/ or val/<class>/)"
        )
    return load_image_folder(Path(request.argument).expanduser(), request, request.name)
