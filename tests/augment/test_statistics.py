"""Statistical properties of the per-sample parameter draws and of the produced views."""

import math

import pytest
import torch

from byolbench.augment import create_augmentation
from byolbench.augment.presets import BYOL_VIEW1, BYOL_VIEW2
from byolbench.augment.view import ViewSpec, sample_view_params

N = 20_000


def _within_binomial(hits: torch.Tensor, p: float, n: int = N) -> None:
    """Empirical frequency within 5 standard errors (exact at p = 0 or 1)."""
    rate = hits.float().mean().item()
    if p in (0.0, 1.0):
        assert rate == p
    else:
        assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / n), (rate, p)


@pytest.mark.parametrize("spec", [BYOL_VIEW1, BYOL_VIEW2], ids=["view1", "view2"])
def test_each_random_op_fires_with_its_probability(spec: ViewSpec):
    params = sample_view_params(
        spec, N, 32, 32, torch.Generator().manual_seed(0), torch.device("cpu")
    )
    _within_binomial(params.blur, spec.blur_p)
    _within_binomial(params.solarize, spec.solarize_p)
    _within_binomial(params.grayscale, spec.grayscale_p)
    _within_binomial(params.flip, spec.flip_p)
    _within_binomial(params.jitter, spec.jitter_p)
    for position in range(4):  # each op comes first in a quarter of the samples
        _within_binomial(params.jitter_order[:, 0] == position, 0.25)


def test_paper_asymmetry():
    assert (BYOL_VIEW1.blur_p, BYOL_VIEW1.solarize_p) == (1.0, 0.0)
    assert (BYOL_VIEW2.blur_p, BYOL_VIEW2.solarize_p) == (0.1, 0.2)


def test_factor_and_crop_ranges():
    spec = ViewSpec(crop_scale=(0.2, 0.9))
    params = sample_view_params(
        spec, N, 224, 224, torch.Generator().manual_seed(1), torch.device("cpu")
    )
    top, left, h, w = params.boxes.unbind(1)
    area = h * w / (224 * 224)
    # rounding each side to whole pixels moves the area by at most ~1%
    assert area.min() >= 0.2 * 0.98 and area.max() <= 0.9 * 1.02
    ratio = w / h
    assert ratio.min() >= 0.75 * 0.98 and ratio.max() <= 4 / 3 * 1.02
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= 224).all() and (left + w <= 224).all()
    assert params.brightness.min() >= 0.6 and params.brightness.max() <= 1.4
    assert params.saturation.min() >= 0.8 and params.saturation.max() <= 1.2
    assert params.hue.abs().max() <= 0.1
    assert params.sigma.min() >= 0.1 and params.sigma.max() <= 2.0


def test_parameters_differ_between_samples_of_one_batch():
    params = sample_view_params(
        BYOL_VIEW1, 64, 32, 32, torch.Generator().manual_seed(2), torch.device("cpu")
    )
    assert torch.unique(params.boxes, dim=0).shape[0] > 32
    for factor in (params.brightness, params.contrast, params.saturation, params.hue, params.sigma):
        assert torch.unique(factor).numel() == 64
    assert 0 < params.flip.sum() < 64


def _batch(size: int = 32, n: int = 16) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(3), dtype=torch.uint8
    )


@pytest.mark.parametrize("preset, size", [("byol", 64), ("byol-small", 32)])
def test_views_shape_dtype_range_and_difference(preset, size):
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    transform = create_augmentation(preset, size, mean, std)
    images = _batch(size)
    v1, v2 = transform(images, torch.Generator().manual_seed(0))
    for view in (v1, v2):
        assert view.shape == (16, 3, size, size)
        assert view.dtype == torch.float32 and view.device == images.device
        unnormalised = view * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(
            1, 3, 1, 1
        )
        assert unnormalised.min() >= -1e-5 and unnormalised.max() <= 1 + 1e-5
    per_sample_diff = (v1 - v2).abs().flatten(1).amax(1)
    assert (per_sample_diff > 1e-3).all()


def test_fixed_seed_reproduces_views_and_other_seed_does_not():
    transform = create_augmentation("byol", 32, (0.5,) * 3, (0.25,) * 3)
    images = _batch()
    a = transform(images, torch.Generator().manual_seed(7))
    b = transform(images, torch.Generator().manual_seed(7))
    c = transform(images, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_grayscale_input_becomes_three_channels():
    transform = create_augmentation("byol-small", 28, (0.5,) * 3, (0.25,) * 3)
    gray = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    v1, _ = transform(gray, torch.Generator().manual_seed(0))
    assert v1.shape == (4, 3, 28, 28)


def test_none_preset_is_deterministic_and_unknown_name_suggests():
    transform = create_augmentation("none", 32, (0.5,) * 3, (0.25,) * 3)
    images = _batch()
    v1, v2 = transform(images, torch.Generator().manual_seed(0))
    assert torch.equal(v1, v2)
    from byolbench.errors import PluginError

    with pytest.raises(PluginError, match="byol-small"):
        create_augmentation("byol-smal", 32, (0.5,) * 3, (0.25,) * 3)
