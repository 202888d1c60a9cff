"""Writers of small image folders and fake torchvision dataset files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


def write_image(path: Path, size: tuple[int, int] = (32, 32), colour: int = 0,
                fmt: str = "PNG") -> None:
    """Writes a small solid-with-noise RGB image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(colour)
    array = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(array).save(path, format=fmt)


def write_image_folder(root: Path, classes: tuple[str, ...], per_class: int = 2,
                       splits: tuple[str, ...] = ("train", "test"),
                       size: tuple[int, int] = (32, 32)) -> Path:
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
        return {"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
                "labels": [i % 10 for i in range(n)]}

    per_batch = n_train // 5
    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "wb") as handle:
            pickle.dump(batch(per_batch), handle)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump(batch(n_test), handle)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": list(CIFAR10_CLASSES)}, handle)
    return root
