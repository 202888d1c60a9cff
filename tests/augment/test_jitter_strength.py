"""``augment.jitter_strength``: SimCLR's colour jitter strength ``s`` on the built-in views."""

import dataclasses

import pytest
import torch

from byolbench.augment.presets import create_augmentation, jitter_strength_problem
from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.preflight import check_cells
from byolbench.errors import ConfigError
from byolbench.train.accel import make_accelerator
from byolbench.train.trainer import Trainer
from tests.train.helpers import tiny_config

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _images(n: int = 256) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


@pytest.mark.parametrize("preset", ["byol", "byol-small"])
@pytest.mark.parametrize("strength", [0.5, 2.0])
def test_the_strength_scales_every_jitter_range_of_both_views(preset, strength):
    transform = create_augmentation(preset, 16, MEAN, STD, jitter_strength=strength)
    default = create_augmentation(preset, 16, MEAN, STD)
    for view, base in ((transform.view1, default.view1), (transform.view2, default.view2)):
        assert view.brightness == pytest.approx(base.brightness * strength)
        assert view.contrast == pytest.approx(base.contrast * strength)
        assert view.saturation == pytest.approx(base.saturation * strength)
        assert view.hue == pytest.approx(base.hue * strength)
        assert (view.jitter_p, view.grayscale_p) == (base.jitter_p, base.grayscale_p)
    params, _ = transform.sample(_images(), torch.Generator().manual_seed(0))
    spread = (params.brightness - 1).abs().max().item()
    assert 0.4 * strength * 0.9 < spread <= 0.4 * strength + 1e-6


def test_strength_zero_gives_the_views_of_no_colour_jitter():
    images, seed = _images(32), 3
    plain = create_augmentation("byol-small", 16, MEAN, STD, jitter_strength=0.0)
    v1, v2 = plain(images, torch.Generator().manual_seed(seed))
    off = create_augmentation("byol-small", 16, MEAN, STD)
    off.view1 = dataclasses.replace(off.view1, jitter_p=0.0)
    off.view2 = dataclasses.replace(off.view2, jitter_p=0.0)
    w1, w2 = off(images, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(v1, w1, atol=1e-4, rtol=0)
    torch.testing.assert_close(v2, w2, atol=1e-4, rtol=0)


def test_the_trainer_builds_its_views_with_the_configured_strength(monkeypatch, tiny_splits):
    import byolbench.train.trainer as trainer_module

    seen: list[float] = []
    build = trainer_module.create_augmentation

    def spy(*args, **kwargs):
        transform = build(*args, **kwargs)
        seen.append(transform.view1.brightness)
        return transform

    monkeypatch.setattr(trainer_module, "create_augmentation", spy)
    config = tiny_config(**{"augment.jitter_strength": 0.5, "train.max_steps": 1})
    Trainer(config, tiny_splits, make_accelerator("no"), None).fit()
    assert seen == [pytest.approx(0.2)]


@pytest.mark.parametrize("value", ["-0.1", "3"])
def test_a_strength_outside_zero_to_two_and_a_half_is_refused(value):
    with pytest.raises(ConfigError, match=r"augment.jitter_strength.*\[0, 2.5\]"):
        tiny_config(**{"augment.jitter_strength": value}).validate()


def test_an_augmentation_without_colour_jitter_refuses_a_strength_before_training():
    assert jitter_strength_problem("none", 1.0) == ""  # the default suits every augmentation
    assert "'none' takes none" in jitter_strength_problem("none", 0.5)
    with pytest.raises(ConfigError, match="augment.jitter_strength=0.5"):
        create_augmentation("none", 16, MEAN, STD, jitter_strength=0.5)
    spec = MatrixSpec(["test_resnet"], ["cifar10-mini"], augmentations=["none"])
    spec.sets = {"augment.jitter_strength": 0.5}
    report = check_cells(expand(spec, validate=False))
    assert any("augment.jitter_strength=0.5" in line for line in report.problems)
