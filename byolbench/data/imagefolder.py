"""``imagefolder:PATH``: any folder of ``train/<class>/`` and ``val/`` or ``test/<class>/``.

Optional ``unlabeled/`` (any depth) is added to the pretraining images. Images of any size
are stored at a square side: the common size when the first images all share one, otherwise
``--image-size`` (default 224) times 8/7, so random crops keep some context (256 for 224).
Mean and std are measured on the training images.
"""

from __future__ import annotations

from pathlib import Path

import psutil
import torch
from PIL import Image

from byolbench.data.base import DatasetInfo, DatasetSplits, ImageSplit
from byolbench.data.folder import FolderIndex, load_folder_split, scan_labelled, scan_unlabelled
from byolbench.data.registry import DATASETS, DatasetRequest
from byolbench.errors import DataError

DEFAULT_IMAGE_SIZE = 224
PROBE_FILES = 32
MEMORY_FRACTION = 0.5
EVAL_SPLITS = ("test", "val")
UNLABELLED_DIRS = ("unlabeled", "unlabelled")


def _storage_size(index: FolderIndex, requested: int) -> int:
    """The square side images are stored at."""
    sizes = set()
    for path in index.files[:PROBE_FILES]:
        try:
            with Image.open(path) as image:
                sizes.add(image.size)
        except OSError:
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


def _check_fits_in_memory(root: Path, images: int, channels: int, size: int) -> None:
    """Refuses folders whose decoded images would take more than half the available RAM."""
    needed = images * channels * size * size
    available = psutil.virtual_memory().available
    if needed > available * MEMORY_FRACTION:
        raise DataError(
            f"{root} holds {images:,} images, {needed / 2**30:.1f} GiB decoded at {size} px, "
            f"more than half of the {available / 2**30:.1f} GiB of free memory; byolbench keeps "
            "datasets in memory, so use a smaller --image-size or a subset of the folder"
        )


def load_image_folder(
    root: Path, request: DatasetRequest, name: str, channels: int = 3
) -> DatasetSplits:
    """Loads ``root/train`` and ``root/test`` (or ``root/val``) into memory.

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
    _check_fits_in_memory(root, counted, channels, size)
    cache = request.cache_dir
    train = load_folder_split(train_index, size, channels, cache)
    test = load_folder_split(eval_index, size, channels, cache)
    pretrain = train
    if unlabelled_index is not None:
        extra = load_folder_split(unlabelled_index, size, channels, cache)
        pretrain = ImageSplit(
            torch.cat([train.images, extra.images]), torch.cat([train.labels, extra.labels])
        )
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
