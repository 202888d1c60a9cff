"""Writers of small image folders and fake torchvision dataset files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from byolbench.data.catalog import CIFAR10_CLASSES

__all__ = ["CIFAR10_CLASSES"]


def write_image(
    path: Path, size: tuple[int, int] = (32, 32), colour: int = 0, fmt: str = "PNG"
) -> None:
    """Writes a small solid-with-noise RGB image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(colour)
    array = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(array).save(path, format=fmt)


def write_image_folder(
    root: Path,
    classes: tuple[str, ...],
    per_class: int = 2,
    splits: tuple[str, ...] = ("train", "test"),
    size: tuple[int, int] = (32, 32),
) -> Path:
    """``root/<split>/<class>/<i>.png``."""
    for split in splits:
        for c, name in enumerate(classes):
            for i in range(per_class):
                write_image(root / split / name / f"{i}.png", size, colour=c * 100 + i)
    return root


def write_fake_cifar10(root: Path, n_train: int = 20, n_test: int = 10) -> Path:
    """torchvision's ``cifar-10-batches-py`` layout with random images (no real data)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(n: int) -> dict:
        return {
            "data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
            "labels": [i % 10 for i in range(n)],
        }

    per_batch = n_train // 5
    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "wb") as handle:
            pickle.dump(batch(per_batch), handle)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump(batch(n_test), handle)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": list(CIFAR10_CLASSES)}, handle)
    return root


def write_fake_mnist(root: Path, folder: str = "MNIST", n_train: int = 12, n_test: int = 6) -> Path:
    """torchvision's raw IDX files for MNIST-like datasets (random digits)."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)

    def images(path: Path, n: int) -> None:
        header = np.array([2051, n, 28, 28], dtype=">i4").tobytes()
        path.write_bytes(header + rng.integers(0, 255, (n, 28, 28), dtype=np.uint8).tobytes())

    def labels(path: Path, n: int) -> None:
        header = np.array([2049, n], dtype=">i4").tobytes()
        path.write_bytes(header + (np.arange(n) % 10).astype(np.uint8).tobytes())

    images(raw / "train-images-idx3-ubyte", n_train)
    labels(raw / "train-labels-idx1-ubyte", n_train)
    images(raw / "t10k-images-idx3-ubyte", n_test)
    labels(raw / "t10k-labels-idx1-ubyte", n_test)
    return root


def write_fake_stl10(root: Path, n_train: int = 10, n_test: int = 5, n_unlabeled: int = 7) -> Path:
    """torchvision's ``stl10_binary`` layout with random images."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for split, n in (("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled)):
        data = rng.integers(0, 255, (n, 3, 96, 96), dtype=np.uint8)
        (folder / f"{split}_X.bin").write_bytes(data.tobytes())
        if split != "unlabeled":
            (folder / f"{split}_y.bin").write_bytes(
                (np.arange(n) % 10 + 1).astype(np.uint8).tobytes()
            )
    (folder / "class_names.txt").write_text("\n".join(f"class{i}" for i in range(10)))
    (folder / "fold_indices.txt").write_text("")
    return root


COLOURS = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230)}
MIXED_SIZES = ((40, 30), (30, 40), (48, 48), (36, 36), (50, 34), (64, 40))


def write_coloured_folder(
    root: Path, sizes: tuple[tuple[int, int], ...] = MIXED_SIZES, test_per_class: int = 2
) -> Path:
    """``root/{train,test}/<colour>/<i>.png``: one solid colour per class (with a little
    noise); the training images of each class take the given sizes in turn."""
    rng = np.random.default_rng(0)
    for split, count in (("train", len(sizes)), ("test", test_per_class)):
        for name, colour in COLOURS.items():
            for i in range(count):
                width, height = sizes[i % len(sizes)]
                noise = rng.integers(-10, 11, size=(height, width, 3))
                array = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
                path = root / split / name / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(path)
    return root
