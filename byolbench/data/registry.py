"""The dataset registry (entry-point group ``byolbench.datasets``) and ``load_dataset``.

A dataset is a factory ``fn(request: DatasetRequest) -> DatasetSplits``. Names may carry an
argument after a colon, e.g. ``imagefolder:/data/pets``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byolbench.data.base import DatasetInfo, DatasetSplits, ImageSplit, data_root
from byolbench.errors import DataError, PluginError
from byolbench.registry import Registry, signature_problem

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


FACTORY_CALL = "fn(request: DatasetRequest) -> DatasetSplits"


def _validate_dataset(name: str, factory: Any) -> None:
    """The load-time contract: a callable taking the request as its one positional argument."""
    del name
    if not callable(factory):
        raise PluginError(
            f"the entry point must name a factory {FACTORY_CALL}, got a "
            f"{type(factory).__name__}; point it at the function (module:function)"
        )
    problem = signature_problem(factory, positional=1)
    if problem:
        raise PluginError(f"{problem}; a dataset factory is called as {FACTORY_CALL}")


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
    """The build-time contract: ``DatasetSplits`` with metadata that matches the images."""
    base = split_name(name)[0]
    if not isinstance(splits, DatasetSplits):
        raise DATASETS.contract_error(
            base, f"the factory returned {type(splits).__name__}, not byolbench DatasetSplits"
        )
    info = splits.info
    if not isinstance(info, DatasetInfo) or info.num_classes == 0:
        raise DATASETS.contract_error(
            base, "`info` must be a DatasetInfo with at least one class name"
        )
    if len(info.mean) != 3 or len(info.std) != 3 or min(info.std) <= 0:
        raise DATASETS.contract_error(
            base,
            f"info.mean and info.std must be 3 RGB values with std > 0; got "
            f"{tuple(info.mean)} and {tuple(info.std)}",
        )
    for split_label in ("pretrain", "train", "test"):
        split = getattr(splits, split_label)
        if not isinstance(split, ImageSplit) or len(split) == 0:
            raise DataError(f"dataset {name!r} has an empty or missing {split_label} split")
        channels = split.images.shape[1]
        if channels not in (1, 3) or channels != info.channels:
            raise DATASETS.contract_error(
                base,
                f"info declares {info.channels} channels but its {split_label} images "
                f"have {channels}; images must be uint8 (N, C, H, W) with C = 1 or 3",
            )
    for split_label in ("train", "test"):
        labels = getattr(splits, split_label).labels
        if labels.min() < 0 or labels.max() >= info.num_classes:
            raise DATASETS.contract_error(
                base,
                f"{split_label} labels must lie in 0..{info.num_classes - 1} "
                f"(one per class name); got {int(labels.min())}..{int(labels.max())}",
            )
    _check_classes(name, splits)
    return splits


def _check_classes(name: str, splits: DatasetSplits) -> None:
    """At least two classes with training images, and none tested without training images
    (either makes the accuracies meaningless: 100% for any network, or a class no probe can
    learn)."""
    classes = splits.info.class_names
    trained = set(splits.train.labels.unique().tolist())
    if len(trained) < 2:
        shown = ", ".join(repr(classes[i]) for i in sorted(trained)) or "none"
        raise DataError(
            f"dataset {name!r} has training images of {len(trained)} class(es) ({shown}); kNN "
            "and linear accuracy need at least 2 classes (one class scores 100% for any "
            "network); add classes"
        )
    untrained = sorted(set(splits.test.labels.unique().tolist()) - trained)
    if untrained:
        shown = ", ".join(repr(classes[i]) for i in untrained[:5])
        raise DataError(
            f"dataset {name!r}: class(es) {shown} have test images but no training images; "
            "add training images for them or remove them from the test split"
        )


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
    with DATASETS.guard(base, "to load"):
        splits = factory(request)
    return _check_splits(name, splits)
