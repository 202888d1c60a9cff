"""Datasets torchvision downloads: CIFAR-10/100 (also read from an ImageFolder copy), STL-10,
MNIST and Fashion-MNIST. Grayscale sets keep one stored channel; the augmentation and
evaluation transforms replicate it to RGB on the device, so every backbone (and timm's
pretrained weights) sees three channels without special cases.

Downloads run through torchvision into the data directory. Offline with no copy present, the
error says where byolbench looked and how to provide the data.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from byolbench.data.base import DatasetInfo, DatasetSplits, ImageSplit
from byolbench.data.catalog import CIFAR10_CLASSES
from byolbench.data.imagefolder import load_image_folder
from byolbench.data.registry import DATASETS, DatasetRequest
from byolbench.errors import DataError

logger = logging.getLogger(__name__)


def _to_split(images: Any, labels: Any, channels_last_input: bool = True) -> ImageSplit:
    array = torch.as_tensor(np.asarray(images), dtype=torch.uint8)
    if array.ndim == 3:  # (N, H, W) grayscale
        array = array.unsqueeze(1)
    elif channels_last_input:
        array = array.permute(0, 3, 1, 2)
    return ImageSplit(array.contiguous(), torch.as_tensor(np.asarray(labels), dtype=torch.int64))


def fetch_torchvision(
    name: str,
    request: DatasetRequest,
    build: Callable[[bool], Any],
    looked_for: str,
) -> Any:
    """Opens a torchvision dataset, downloading it when allowed and missing.

    Args:
        name: Dataset name for messages.
        request: The dataset request (root, download permission).
        build: ``build(download)`` constructs the torchvision dataset object.
        looked_for: What was looked for, named in the error.

    Raises:
        DataError: When it is missing and cannot be downloaded.
    """
    try:
        return build(False)
    except RuntimeError:
        pass  # not there yet
    if not request.download:
        raise DataError(
            f"{name} not found in {request.root} (looked for {looked_for}) and downloads are "
            "off; allow them or put a copy there (--data-dir or BYOLBENCH_DATA)"
        )
    try:
        return build(True)
    except Exception as exc:  # network failures surface as many exception types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"{name} not found in {request.root} (looked for {looked_for}) and the download "
            f"failed ({reason}); download it once with network access, or put a copy there "
            "(--data-dir or BYOLBENCH_DATA)"
        ) from exc


def _folder_copy(request: DatasetRequest, name: str, classes: tuple[str, ...]) -> Path | None:
    """An ImageFolder copy of ``name`` in the data directory, if there is one."""
    for candidate in (request.root / name, request.root / f"{name}-jpeg", request.root):
        train = candidate / "train"
        if train.is_dir() and (candidate / "test").is_dir():
            found = {p.name for p in train.iterdir() if p.is_dir()}
            if found == set(classes):
                return candidate
    return None


def _cifar(
    request: DatasetRequest,
    name: str,
    tv_class: str,
    folder: str,
    mean: tuple,
    std: tuple,
    classes: tuple[str, ...] | None,
) -> DatasetSplits:
    import torchvision.datasets as tvd

    copy = _folder_copy(request, name, classes) if classes else None
    if copy is not None:
        logger.info("reading %s from the ImageFolder copy in %s", name, copy)
        # Stored at the native 32 px like torchvision's arrays, whatever --image-size asks:
        # the transforms resize to the training size, so both sources give the same tensors.
        splits = load_image_folder(copy, dataclasses.replace(request, image_size=0), name)
        shape = tuple(splits.train.images.shape[-2:])
        if shape != (32, 32):
            raise DataError(
                f"the ImageFolder copy of {name} in {copy} holds {shape[1]}x{shape[0]} images, "
                "not CIFAR's 32x32; point --data-dir at an unmodified copy"
            )
        info = DatasetInfo(name, 32, 3, splits.info.class_names, mean, std)
        return DatasetSplits(info, splits.train, splits.train, splits.test)
    looked = f"{folder}/ or {name}/train/<class>/ and {name}/test/<class>/"
    classes_found, train, test = _train_test(request, name, getattr(tvd, tv_class), looked)
    info = DatasetInfo(name, 32, 3, classes_found, mean, std)
    return DatasetSplits(info, train, train, test)


def _train_test(
    request: DatasetRequest, name: str, cls: Any, looked: str
) -> tuple[tuple[str, ...], ImageSplit, ImageSplit]:
    """Class names, train and test splits of a torchvision dataset with a ``train`` flag."""

    def build(train: bool) -> Callable[[bool], Any]:
        return lambda download: cls(str(request.root), train=train, download=download)

    train_set = fetch_torchvision(name, request, build(True), looked)
    test_set = fetch_torchvision(name, request, build(False), looked)
    classes = tuple(str(c) for c in train_set.classes)
    train = _to_split(train_set.data, train_set.targets)
    return classes, train, _to_split(test_set.data, test_set.targets)


@DATASETS.register("cifar10")
def cifar10(request: DatasetRequest) -> DatasetSplits:
    """CIFAR-10 (Krizhevsky 2009): 50,000 train / 10,000 test, 32 px, 10 classes."""
    return _cifar(
        request,
        "cifar10",
        "CIFAR10",
        "cifar-10-batches-py",
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        CIFAR10_CLASSES,
    )


@DATASETS.register("cifar100")
def cifar100(request: DatasetRequest) -> DatasetSplits:
    """CIFAR-100: 50,000 train / 10,000 test, 32 px, 100 classes."""
    return _cifar(
        request,
        "cifar100",
        "CIFAR100",
        "cifar-100-python",
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
        None,
    )


@DATASETS.register("stl10")
def stl10(request: DatasetRequest) -> DatasetSplits:
    """STL-10: pretrain on train+unlabeled (105,000 images), evaluate on train (5,000) and
    test (8,000); 96 px, 10 classes."""
    import torchvision.datasets as tvd

    looked = "stl10_binary/"

    def build(split: str) -> Callable[[bool], Any]:
        return lambda download: tvd.STL10(str(request.root), split=split, download=download)

    train_set = fetch_torchvision("stl10", request, build("train"), looked)
    test_set = fetch_torchvision("stl10", request, build("test"), looked)
    unlabeled_set = fetch_torchvision("stl10", request, build("unlabeled"), looked)
    train = _to_split(train_set.data, train_set.labels, channels_last_input=False)
    test = _to_split(test_set.data, test_set.labels, channels_last_input=False)
    extra = _to_split(unlabeled_set.data, unlabeled_set.labels, channels_last_input=False)
    pretrain = ImageSplit(
        torch.cat([train.images, extra.images]), torch.cat([train.labels, extra.labels.fill_(-1)])
    )
    info = DatasetInfo(
        "stl10", 96, 3, tuple(train_set.classes), (0.4467, 0.4398, 0.4066), (0.2603, 0.2566, 0.2713)
    )
    return DatasetSplits(info, pretrain, train, test)


def _mnist_like(
    request: DatasetRequest, name: str, tv_class: str, folder: str, mean: float, std: float
) -> DatasetSplits:
    import torchvision.datasets as tvd

    classes, train, test = _train_test(request, name, getattr(tvd, tv_class), f"{folder}/raw/")
    info = DatasetInfo(name, 28, 1, classes, (mean,) * 3, (std,) * 3)
    return DatasetSplits(info, train, train, test)


@DATASETS.register("mnist")
def mnist(request: DatasetRequest) -> DatasetSplits:
    """MNIST: 60,000 / 10,000 grayscale digits, 28 px (replicated to RGB on the device)."""
    return _mnist_like(request, "mnist", "MNIST", "MNIST", 0.1307, 0.3081)


@DATASETS.register("fashion_mnist")
def fashion_mnist(request: DatasetRequest) -> DatasetSplits:
    """Fashion-MNIST: 60,000 / 10,000 grayscale clothing images, 28 px."""
    return _mnist_like(request, "fashion_mnist", "FashionMNIST", "FashionMNIST", 0.2860, 0.3530)
