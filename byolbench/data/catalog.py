"""Facts about built-in datasets known without loading them (for listings and dry runs)."""

from __future__ import annotations

from dataclasses import dataclass

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


@dataclass(frozen=True)
class CatalogEntry:
    """What ``byolbench list datasets`` and ``--dry-run`` show.

    Attributes:
        image_size: Native side length.
        pretrain_images: Images BYOL pretrains on.
        train_images: Labelled training images for evaluation.
        test_images: Test images.
        classes: Number of classes.
        description: One line.
    """

    image_size: int
    pretrain_images: int
    train_images: int
    test_images: int
    classes: int
    description: str


CATALOG: dict[str, CatalogEntry] = {
    "cifar10-mini": CatalogEntry(
        32, 10_000, 10_000, 2_000, 10, "embedded CIFAR-10 subset, no download"
    ),
    "cifar10": CatalogEntry(32, 50_000, 50_000, 10_000, 10, "CIFAR-10 (torchvision)"),
    "cifar100": CatalogEntry(32, 50_000, 50_000, 10_000, 100, "CIFAR-100 (torchvision)"),
    "stl10": CatalogEntry(
        96, 105_000, 5_000, 8_000, 10, "STL-10: pretrain on train+unlabeled (torchvision)"
    ),
    "mnist": CatalogEntry(28, 60_000, 60_000, 10_000, 10, "MNIST, grayscale (torchvision)"),
    "fashion_mnist": CatalogEntry(
        28, 60_000, 60_000, 10_000, 10, "Fashion-MNIST, grayscale (torchvision)"
    ),
}
