"""toy-mild: the two-view contract and its milder, asymmetric settings."""

import pytest

pytest.importorskip(
    "byolbench_toyplugin",
    reason="byolbench-toyplugin is not installed: pip install -e plugins/byolbench-toyplugin",
)

import torch  # noqa: E402
from byolbench.augment import AUGMENTATIONS, create_augmentation  # noqa: E402

from byolbench_toyplugin.augment import MILD_VIEW1, MILD_VIEW2, toy_mild  # noqa: E402

MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


def _batch(n: int = 8, size: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)


def test_builds_through_byolbench_and_returns_two_normalised_views():
    transform = create_augmentation("toy-mild", 24, MEAN, STD)
    v1, v2 = transform(_batch(), torch.Generator().manual_seed(0))
    assert v1.shape == v2.shape == (8, 3, 24, 24)
    assert v1.dtype == torch.float32 and not torch.equal(v1, v2)
    # normalised: [0, 1] maps to [-2, 2] with mean 0.5 and std 0.25
    assert v1.min() >= -2.0 - 1e-4 and v1.max() <= 2.0 + 1e-4
    assert AUGMENTATIONS.get("toy-mild") is toy_mild


def test_same_generator_seed_gives_the_same_views():
    transform = toy_mild(32, MEAN, STD)
    first = transform(_batch(), torch.Generator().manual_seed(7))
    second = transform(_batch(), torch.Generator().manual_seed(7))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_views_are_milder_than_byol_and_asymmetric():
    assert MILD_VIEW1.crop_scale[0] == 0.3 and MILD_VIEW1.blur_p == 0.0
    assert MILD_VIEW1.brightness < 0.4 and MILD_VIEW1.jitter_p < 0.8
    assert (MILD_VIEW1.solarize_p, MILD_VIEW2.solarize_p) == (0.0, 0.1)


def test_crop_min_scale_setting_does_not_override_the_preset():
    transform = create_augmentation("toy-mild", 32, MEAN, STD, crop_min_scale=0.08)
    assert transform.view1.crop_scale == (0.3, 1.0)
