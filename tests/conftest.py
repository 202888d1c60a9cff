"""Shared fixtures: tiny synthetic datasets and an isolated data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from byolbench.data.base import DatasetInfo, DatasetSplits, ImageSplit

# Tiny models run faster on one thread, and the suite shares two cores with other work.
torch.set_num_threads(1)

# pytest-xdist starts its workers with COLUMNS=80 and LINES=24; the CLI's consoles would take
# that width for every table, where a plain `pytest` (no COLUMNS) lets each test choose its own.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own BYOLBENCH_DATA so caches never touch the user's home."""
    monkeypatch.setenv("BYOLBENCH_DATA", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("BYOLBENCH_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("BYOLBENCH_BLOCK_PLUGINS", raising=False)


def make_splits(
    n_train: int = 64, n_test: int = 32, size: int = 16, classes: int = 4, seed: int = 0
) -> DatasetSplits:
    """Random images whose class shifts the mean colour, so features can separate them."""
    generator = torch.Generator().manual_seed(seed)

    def split(n: int) -> ImageSplit:
        labels = torch.arange(n) % classes
        base = torch.randint(0, 120, (n, 3, size, size), generator=generator)
        images = (base + labels.view(-1, 1, 1, 1) * 40).clamp(0, 255).to(torch.uint8)
        return ImageSplit(images, labels)

    train = split(n_train)
    info = DatasetInfo(
        "synthetic",
        size,
        3,
        tuple(f"c{i}" for i in range(classes)),
        (0.5, 0.5, 0.5),
        (0.25, 0.25, 0.25),
    )
    return DatasetSplits(info, train, train, split(n_test))


@pytest.fixture
def tiny_splits() -> DatasetSplits:
    """64 train / 32 test images of 16 px, 4 classes."""
    return make_splits()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny finished runs of ``test_resnet`` and ``test_vit`` (made once per session)."""
    from tests.export_helpers import tiny_runs

    return tiny_runs(tmp_path_factory.getbasetemp())
