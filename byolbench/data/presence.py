"""What can be known about a dataset without loading it: is it on disk, how big is it.

Used before any cell starts (``byolbench.bench.preflight``), so it reads only folder listings:
an image folder's layout and classes (stopping at the first image of each class) and, for the
torchvision datasets, whether their files are in the data directory. Nothing is decoded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from byolbench.data.catalog import CATALOG, CIFAR10_CLASSES
from byolbench.data.folder import IMAGE_EXTENSIONS
from byolbench.data.imagefolder import EVAL_SPLITS, UNLABELLED_DIRS

# Where torchvision keeps each dataset's files below the data directory.
TORCHVISION_FILES = {
    "cifar10": "cifar-10-batches-py",
    "cifar100": "cifar-100-python",
    "stl10": "stl10_binary",
    "mnist": "MNIST/raw",
    "fashion_mnist": "FashionMNIST/raw",
}
EMBEDDED = frozenset({"cifar10-mini"})


@dataclass
class DatasetFacts:
    """What is known about a dataset before loading it.

    Attributes:
        problems: One line each: what is missing or wrong, and how to fix it.
        notes: Things worth saying that are not problems (e.g. a download will happen).
        pretrain_images: Pretraining images (an image folder's are counted up to the limit
            the checks need, so a large folder reports that limit); ``None`` when unknown.
        train_images: Labelled training images (same convention).
        classes: Classes with training images; ``None`` when unknown.
        image_size: Native side length; ``None`` when unknown.
    """

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pretrain_images: int | None = None
    train_images: int | None = None
    classes: int | None = None
    image_size: int | None = None


def _is_image(entry: os.DirEntry[str]) -> bool:
    name = entry.name
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _images(folder: Path) -> Iterator[str]:
    """Image file paths below ``folder`` (any depth), lazily, in no particular order."""
    stack = [str(folder)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=True):
                    if not entry.name.startswith("."):
                        stack.append(entry.path)
                elif _is_image(entry):
                    yield entry.path
            except OSError:
                continue


def count_images(folder: Path, limit: int) -> int:
    """Image files below ``folder``, counting at most ``limit``."""
    count = 0
    for _ in _images(folder):
        count += 1
        if count >= limit:
            break
    return count


def _class_dirs(split: Path) -> list[Path]:
    try:
        return sorted(p for p in split.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def image_folder_facts(root: Path, name: str, count_limit: int) -> DatasetFacts:
    """Checks an ``imagefolder:`` layout: train/ and test/ (or val/) with class folders, at
    least two classes with training images, and no test class without training images.

    Args:
        root: The folder.
        name: The dataset name as given, for messages.
        count_limit: Count images up to this many (enough for the batch and kNN checks).
    """
    facts = DatasetFacts()
    layout = f"{root}/train/<class>/ and {root}/test/<class>/ (or val/)"
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        facts.problems.append(f"dataset {name}: folder {root} {what}; expected {layout}")
        return facts
    eval_dir = next((root / s for s in EVAL_SPLITS if (root / s).is_dir()), None)
    if not (root / "train").is_dir() or eval_dir is None:
        found = sorted(p.name for p in _class_dirs(root))
        facts.problems.append(
            f"dataset {name}: {root} needs train/ and test/ (or val/) subfolders; found "
            f"{found or 'none'}; expected {layout}"
        )
        return facts
    with_images = [d.name for d in _class_dirs(root / "train") if count_images(d, 1)]
    if len(with_images) < 2:
        facts.problems.append(
            f"dataset {name}: {root}/train has {len(with_images)} class folder(s) with images "
            f"({', '.join(with_images) or 'none'}); kNN and linear accuracy need at least 2 "
            "classes (one class scores 100% for any network); add class folders"
        )
    known = set(with_images)
    eval_classes = [d for d in _class_dirs(eval_dir) if count_images(d, 1)]
    if not eval_classes:
        facts.problems.append(
            f"dataset {name}: no images in {eval_dir}/<class>/; add the evaluation images"
        )
    orphans = [d.name for d in eval_classes if d.name not in known]
    if orphans:
        shown = ", ".join(orphans[:5]) + (", ..." if len(orphans) > 5 else "")
        facts.problems.append(
            f"dataset {name}: class(es) {shown} of {eval_dir} have no training images in "
            f"{root}/train; add training images or remove the class from {eval_dir.name}/"
        )
    facts.classes = len(with_images)
    counted = 0
    for class_name in with_images:  # stop as soon as there are enough (ImageNet has 1.28M files)
        counted += count_images(root / "train" / class_name, count_limit - counted)
        if counted >= count_limit:
            break
    facts.train_images = counted
    facts.pretrain_images = counted
    unlabelled = next((root / d for d in UNLABELLED_DIRS if (root / d).is_dir()), None)
    if unlabelled is not None and facts.pretrain_images < count_limit:
        facts.pretrain_images += count_images(unlabelled, count_limit - facts.pretrain_images)
    return facts


def _folder_copy_present(root: Path, name: str) -> bool:
    """Whether an ImageFolder copy of CIFAR-10 is in the data directory (as the loader finds
    it)."""
    if name != "cifar10":
        return False
    for candidate in (root / name, root / f"{name}-jpeg", root):
        train = candidate / "train"
        classes = {p.name for p in _class_dirs(train)} if train.is_dir() else set()
        if (candidate / "test").is_dir() and classes == set(CIFAR10_CLASSES):
            return True
    return False


def dataset_facts(name: str, data_root: Path, download: bool, count_limit: int) -> DatasetFacts:
    """What is known about dataset ``name`` (``base:argument``) before loading it.

    Datasets of plugins are not inspected (their factories are the only judge).
    """
    base, _, argument = name.partition(":")
    if base == "imagefolder":
        if not argument:
            return DatasetFacts(
                problems=[
                    "dataset imagefolder needs a path: --datasets imagefolder:/path/to/folder "
                    "(with train/<class>/ and test/<class>/ or val/<class>/)"
                ]
            )
        return image_folder_facts(Path(argument).expanduser(), name, count_limit)
    entry = CATALOG.get(base)
    facts = DatasetFacts()
    if entry is not None:
        facts.pretrain_images = entry.pretrain_images
        facts.train_images = entry.train_images
        facts.classes = entry.classes
        facts.image_size = entry.image_size
    if base in EMBEDDED or base not in TORCHVISION_FILES:
        return facts
    if data_root.exists() and not data_root.is_dir():
        facts.problems.append(
            f"dataset {name}: the data directory {data_root} is a file; pass a folder with "
            "--data-dir (or BYOLBENCH_DATA)"
        )
        return facts
    present = (data_root / TORCHVISION_FILES[base]).is_dir() or _folder_copy_present(
        data_root, base
    )
    if present:
        return facts
    looked = data_root / TORCHVISION_FILES[base]
    if not download:
        facts.problems.append(
            f"dataset {name} is not in {data_root} (looked for {looked}) and data.download is "
            "false; put a copy there (--data-dir or BYOLBENCH_DATA) or allow the download "
            "with --set data.download=true"
        )
    else:
        facts.notes.append(f"{name} is not in {data_root} yet: it will be downloaded there")
    return facts
