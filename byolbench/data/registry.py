"""The dataset registry (entry-point group ``byolbench.datasets``) and ``load_dataset``.

A dataset is a factory ``fn(request: DatasetRequest) -> DatasetSplits``. Names may carry an
argument after a colon, e.g. ``imagefolder:/data/pets``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byolbench.data.base import DatasetSplits, ImageSplit, data_root
from byolbench.errors import DataError, PluginError
from byolbench.registry import Registry

CACHE_DIRNAME = ".byolbench-cache"


@dataclass(frozen=True)
class DatasetRequest:
    """What a dataset factory is asked for.

    Attributes:
        name: The full name as given (``imagefolder:/data/pets``).
        argument: The text after the first colon, or ``""``.
        root: The data directory (downloads and caches go here).
        download: Whether downloading is allowed.
        image_size: Requested training size (0: the dataset's native size); folder datasets
            of mixed sizes store images at this size.
    """

    name: str
    argument: str
    root: Path
    download: bool = True
    image_size: int = 0

    @property
    def cache_dir(self) -> Path:
        """Folder for decoded-tensor caches."""
        return self.root / CACHE_DIRNAME


def _validate_dataset(name: str, factory: Any) -> None:
    if not callable(factory):
        raise PluginError(
            f"dataset plugin {name!r} must point to a factory "
            f"fn(request: DatasetRequest) -> DatasetSplits, got {type(factory).__name__}"
        )


DATASETS: Registry[Callable[[DatasetRequest], DatasetSplits]] = Registry(
    "dataset",
    "byolbench.datasets",
    validate=_validate_dataset,
    hint="See `byolbench list datasets`; a folder works as imagefolder:PATH.",
)


def split_name(name: str) -> tuple[str, str]:
    """``"imagefolder:/x"`` -> ``("imagefolder", "/x")``."""
    base, _, argument = name.partition(":")
    return base, argument


def _check_splits(name: str, splits: Any) -> DatasetSplits:
    if not isinstance(splits, DatasetSplits):
        raise PluginError(
            f"dataset {name!r} returned {type(splits).__name__}, not byolbench DatasetSplits"
        )
    for split_label in ("pretrain", "train", "test"):
        split = getattr(splits, split_label)
        if not isinstance(split, ImageSplit) or len(split) == 0:
            raise DataError(f"dataset {name!r} has an empty or missing {split_label} split")
    channels = splits.train.images.shape[1]
    if channels not in (1, 3) or channels != splits.info.channels:
        raise PluginError(
            f"dataset {name!r} declares {splits.info.channels} channels but its images have "
            f"{channels}; images must be uint8 (N, C, H, W) with C = 1 or 3"
        )
    labels = splits.train.labels
    if labels.numel() and (labels.min() < 0 or labels.max() >= splits.info.num_classes):
        raise PluginError(
            f"dataset {name!r} has training labels outside 0..{splits.info.num_classes - 1}"
        )
    return splits


def load_dataset(
    name: str, data_dir: str | Path | None = None, download: bool = True, image_size: int = 0
) -> DatasetSplits:
    """Loads a registered dataset into memory.

    Args:
        name: Registered name, optionally with ``:argument``.
        data_dir: Data directory (default ``$BYOLBENCH_DATA`` or ``~/.cache/byolbench/data``).
        download: Allow downloads.
        image_size: Requested training size (0: native).

    Raises:
        DataError: When the data is missing or malformed.
        PluginError: For an unknown name or a broken dataset plugin.
    """
    base, argument = split_name(name)
    factory = DATASETS.get(base)
    request = DatasetRequest(name, argument, data_root(data_dir), download, image_size)
    return _check_splits(name, factory(request))
