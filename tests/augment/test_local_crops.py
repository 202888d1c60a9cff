"""Multi-crop: the small views, their loss, and training with them."""

import pytest
import torch

from byolbench.augment.local_crops import local_crops, local_size_for
from byolbench.augment.presets import create_augmentation
from byolbench.augment.transforms import IdentityTwoView
from byolbench.byol.loss import multicrop_byol_loss, regression_loss, symmetric_byol_loss
from byolbench.byol.model import BYOL
from byolbench.config import RunConfig
from byolbench.errors import ConfigError
from byolbench.models.backbone import backbone_spec, create_backbone
from byolbench.train.accel import make_accelerator
from byolbench.train.trainer import Trainer
from byolbench.validation import config_problems
from tests.train.helpers import tiny_config

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _images(n: int = 6, size: int = 32) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)


def _small_views(count: int = 3, size: int = 16):
    transform = create_augmentation("byol-small", 32, MEAN, STD)
    return local_crops(transform, count, size, (0.05, 0.4), "byol-small")


def test_small_views_have_their_size_count_and_normalisation():
    crops = _small_views()
    views = crops(_images(), torch.Generator().manual_seed(0))
    assert len(views) == 3
    assert all(v.shape == (6, 3, 16, 16) and v.dtype == torch.float32 for v in views)
    lowest, highest = (0 - 0.5) / 0.25, (1 - 0.5) / 0.25
    assert all(lowest - 1e-5 <= v.min() and v.max() <= highest + 1e-5 for v in views)
    assert crops(_images(), torch.Generator(), size=8)[0].shape[-1] == 8  # a smaller side


def test_small_views_are_seeded_and_differ_from_each_other():
    images = _images()
    a = _small_views()(images, torch.Generator().manual_seed(3))
    b = _small_views()(images, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.allclose(a[0], a[1])


def test_small_views_take_the_crop_scale_and_alternate_the_two_view_settings():
    crops = _small_views(count=3)
    transform = create_augmentation("byol-small", 32, MEAN, STD)
    assert all(spec.crop_scale == (0.05, 0.4) for spec in crops.specs)
    assert crops.specs[0].blur_p == transform.view1.blur_p
    assert crops.specs[1].solarize_p == transform.view2.solarize_p
    assert crops.specs[2].blur_p == transform.view1.blur_p


def test_off_and_an_augmentation_without_view_settings():
    transform = create_augmentation("byol-small", 32, MEAN, STD)
    assert local_crops(transform, 0, 16, (0.05, 0.4), "byol-small") is None
    with pytest.raises(ConfigError, match="augment.local_crops=2") as info:
        local_crops(IdentityTwoView(32, MEAN, STD), 2, 16, (0.05, 0.4), "none")
    assert "\n" not in str(info.value)
    assert local_size_for(0, 32) == 16 and local_size_for(0, 12) == 8
    assert local_size_for(12, 32) == 12


def test_multicrop_loss_is_the_pair_mean_times_two():
    torch.manual_seed(0)
    p1, p2, t1, t2, a, b = (torch.randn(5, 8) for _ in range(6))
    assert torch.equal(multicrop_byol_loss(p1, p2, t1, t2, []), symmetric_byol_loss(p1, p2, t1, t2))
    pairs = [(p1, t2), (p2, t1), (a, t1), (a, t2), (b, t1), (b, t2)]
    expected = 2 * sum(regression_loss(p, t) for p, t in pairs) / len(pairs)
    assert multicrop_byol_loss(p1, p2, t1, t2, [a, b]) == pytest.approx(expected.item())
    agree = multicrop_byol_loss(t1, t1, t1, t1, [t1, 3 * t1])  # perfect agreement: 0
    assert agree.item() == pytest.approx(0.0, abs=1e-6)
    opposed = multicrop_byol_loss(t1, t1, -t1, -t1, [t1, t1])  # the most: 8
    assert opposed.item() == pytest.approx(8.0, abs=1e-5)


def test_small_views_reach_the_online_network_only():
    torch.manual_seed(0)
    backbone = create_backbone("test_resnet", 16)
    model = BYOL(backbone, backbone_spec(backbone).num_features, 32, 16, 32)
    seen: dict[str, list[tuple[int, ...]]] = {"online": [], "target": []}
    model.backbone.register_forward_hook(lambda m, i, o: seen["online"].append(i[0].shape))
    model.target_backbone.register_forward_hook(lambda m, i, o: seen["target"].append(i[0].shape))
    views = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
    small = [torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)]
    out = model(*views, small)
    assert seen["target"] == [(4, 3, 16, 16)] * 2
    assert seen["online"] == [(4, 3, 16, 16)] * 2 + [(8, 3, 8, 8)]  # small views in one pass
    out.loss.backward()
    assert all(p.grad is None for p in model.target_parameters())
    plain = model(*views).loss
    assert 0 <= out.loss.item() <= 8 and not torch.isclose(out.loss, plain)


def test_training_with_small_views(tiny_splits, monkeypatch):
    from byolbench.byol import model as byol_model

    sides: list[list[int]] = []
    original = byol_model.BYOL.forward

    def recording(self, view1, view2, local_views=()):
        sides.append([view1.shape[-1], *(v.shape[-1] for v in local_views)])
        return original(self, view1, view2, local_views)

    monkeypatch.setattr(byol_model.BYOL, "forward", recording)
    config = tiny_config(**{"augment.local_crops": 2, "augment.local_size": 8})
    result = Trainer(config, tiny_splits, make_accelerator("no"), None).fit()
    assert result.state.step == 8 and sides[0] == [16, 8, 8]
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    assert all(0 <= row["loss"] <= 8 for row in result.history)


def test_small_views_never_exceed_the_growing_full_views(tiny_splits, monkeypatch):
    from byolbench.byol import model as byol_model

    sides: list[tuple[int, int]] = []
    original = byol_model.BYOL.forward

    def recording(self, view1, view2, local_views=()):
        sides.append((view1.shape[-1], local_views[0].shape[-1]))
        return original(self, view1, view2, local_views)

    monkeypatch.setattr(byol_model.BYOL, "forward", recording)
    overrides = {"augment.local_crops": 1, "augment.local_size": 12}
    overrides |= {"augment.progressive_min_size": 8, "train.epochs": 2}
    Trainer(tiny_config(**overrides), tiny_splits, make_accelerator("no"), None).fit()
    assert sides[0] == (8, 8) and sides[-1] == (16, 12)
    assert all(small <= full for full, small in sides)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("augment.local_crops", -1),
        ("augment.local_crops", 17),
        ("augment.local_size", 4),
        ("augment.local_crop_scale", (0.5, 0.1)),
        ("augment.local_crop_scale", (0.1,)),
    ],
)
def test_bad_small_view_settings_are_one_line_problems(key, value):
    problems = config_problems(RunConfig().replace({key: value}))
    assert len(problems) == 1 and problems[0].startswith(f"{key}=") and "\n" not in problems[0]
