"""``imagefolder:PATH``: any folder of ``train/<class>/`` and ``val/`` or ``test/<class>/``.

Optional ``unlabeled/`` (any depth) is added to the pretraining images. Images of any size
are stored at a square side: the common size when the first images all share one, otherwise
``--image-size`` (default 224) times 8/7, so random crops keep some context (256 for 224).
Mean and std are measured on the training images.

A folder whose decoded images fit in half the free memory is held in memory (and cached as
one safetensors file). A larger one is decoded once into a memory-mapped file in the data
directory (``byolbench.data.mapped``), so ImageNet-sized folders need disk, not RAM.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import psutil
from PIL import Image

from byolbench.data.base import DatasetInfo, DatasetSplits, ImageSplit
from byolbench.data.folder import FolderIndex, load_folder_split, scan_labelled, scan_unlabelled
from byolbench.data.mapped import load_mapped_split
from byolbench.data.registry import DATASETS, DatasetRequest
from byolbench.errors import DataError

DEFAULT_IMAGE_SIZE = 224
PROBE_FILES = 32
MEMORY_FRACTION = 0.5
EVAL_SPLITS = ("test", "val")
UNLABELLED_DIRS = ("unlabeled", "unlabelled")

logger = logging.getLogger(__name__)


def _storage_size(index: FolderIndex, requested: int) -> int:
    """The square side images are stored at."""
    sizes = set()
    for path in index.files[:PROBE_FILES]:
        try:
            with Image.open(path) as image:
                sizes.add(image.size)
        except (OSError, Image.DecompressionBombError):  # skipped later, with a warning
            continue
    if requested == 0 and len(sizes) == 1:
        width, height = sizes.pop()
        if width == height:
            return width
    size = requested or DEFAULT_IMAGE_SIZE
    return size if len(sizes) == 1 and (size, size) in sizes else round(size * 8 / 7)


def _channel_stats(split: ImageSplit) -> tuple[tuple[float, ...], tuple[float, ...]]:
    sample = split.images[: min(len(split), 5000)].float().div_(255.0)
    if sample.shape[1] == 1:
        sample = sample.expand(-1, 3, -1, -1)
    mean = sample.mean(dim=(0, 2, 3))
    std = sample.std(dim=(0, 2, 3)).clamp_min(1e-3)
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
    size = _storage_size(train_index, request.image_size)
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
    mean, std = _channel_stats(train)
    info = DatasetInfo(name, size, channels, tuple(train_index.classes), mean, std)  # type: ignore[arg-type]
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
