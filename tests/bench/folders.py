"""Image folders for matrix tests: a corrupt one that fails when loaded, a small valid one."""

from __future__ import annotations

from pathlib import Path

from tests.export_helpers import write_image_folder


def write_corrupt_folder(root: Path) -> Path:
    """An image folder whose layout is right (so it passes the pre-flight checks) but whose
    files are not images: it fails only when loaded."""
    for split in ("train", "test"):
        for label in ("a", "b"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for index in range(20):  # 40 training files: more than one batch of 32
                (folder / f"{index}.png").write_bytes(b"not a png")
    return root


def write_small_folder(root: Path) -> str:
    """A valid 16 px image folder (4 classes, 192 training and 32 test images) as a dataset
    name: a tiny cell on it trains and evaluates in about a second, where cifar10-mini's
    10,000-image kNN bank alone takes over ten."""
    return f"imagefolder:{write_image_folder(root, classes=4, train=48, test=8, size=16)}"
