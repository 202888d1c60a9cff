"""toy-shapes: deterministic, valid splits, loaded through byolbench."""

import pytest

pytest.importorskip(
    "byolbench_toyplugin",
    reason="byolbench-toyplugin is not installed: pip install -e plugins/byolbench-toyplugin",
)

import torch  # noqa: E402
from byolbench.data import DATASETS, load_dataset  # noqa: E402
from byolbench.errors import DataError  # noqa: E402

from byolbench_toyplugin.shapes import CLASSES, generate, toy_shapes  # noqa: E402


def test_loads_through_byolbench():
    splits = load_dataset("toy-shapes")
    assert splits.info.class_names == CLASSES and splits.info.image_size == 32
    assert splits.train.images.shape == (256, 3, 32, 32)
    assert splits.test.images.shape == (128, 3, 32, 32)
    assert splits.train.images.dtype == torch.uint8 and splits.pretrain is splits.train
    assert torch.equal(splits.train.labels.bincount(), torch.full((4,), 64))
    assert all(0 < m < 1 for m in splits.info.mean) and all(s > 0 for s in splits.info.std)
    assert DATASETS.get("toy-shapes") is toy_shapes


def test_generation_is_deterministic_and_splits_differ():
    a, b = generate(4, 16, seed=0), generate(4, 16, seed=0)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, generate(4, 16, seed=1).images)


def test_classes_differ_in_shape_not_just_noise():
    split = generate(16, 32, seed=0)
    bright = (split.images.float().mean(dim=1) > 0.4 * 255).float()  # the shape's pixels
    area = [bright[split.labels == c].mean().item() for c in range(len(CLASSES))]
    assert max(area) - min(area) > 0.02  # e.g. a cross covers less than a square
    assert all(a > 0.05 for a in area)  # every image shows a shape


def test_requested_image_size_is_generated_natively():
    splits = load_dataset("toy-shapes", image_size=48)
    assert splits.train.images.shape[-2:] == (48, 48) and splits.info.image_size == 48


def test_an_argument_is_refused():
    with pytest.raises(DataError, match="takes no argument"):
        load_dataset("toy-shapes:big")
