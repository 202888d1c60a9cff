"""``model.patch_drop_rate`` (PatchDropout for ViTs while pretraining, every token otherwise)
and ``model.global_pool``."""

import torch

from byolbench.config import RunConfig, from_dict
from byolbench.export.rebuild import build_backbone
from byolbench.models.backbone import (
    backbone_spec,
    create_backbone,
    model_kwargs,
    model_kwargs_problem,
)
from byolbench.train.trainer import build_model


def _config(rate: float, backbone: str = "test_vit", pool: str = "") -> RunConfig:
    return from_dict(
        {"model": {"backbone": backbone, "patch_drop_rate": rate, "global_pool": pool}}
    )


def test_training_forward_drops_tokens_and_evaluation_keeps_them():
    torch.manual_seed(0)
    dropping = create_backbone("test_vit", 32, **model_kwargs(_config(0.5)))
    full = create_backbone("test_vit", 32)
    full.load_state_dict(dropping.state_dict())
    x = torch.randn(4, 3, 32, 32)
    dropping.eval(), full.eval()
    torch.testing.assert_close(dropping(x), full(x))  # eval: every token
    seen: list[int] = []
    dropping.blocks[0].register_forward_hook(lambda m, i, o: seen.append(o.shape[1]))
    full.blocks[0].register_forward_hook(lambda m, i, o: seen.append(o.shape[1]))
    dropping.train(), full.train()
    dropping(x), full(x)
    tokens_dropping, tokens_full = seen
    patches = tokens_full - dropping.num_prefix_tokens
    assert tokens_dropping == dropping.num_prefix_tokens + patches // 2  # half the patches


def test_rebuilt_and_exported_backbones_do_not_drop_patches():
    model = build_model(_config(0.5), 32)
    spec = backbone_spec(model.backbone)
    assert "patch_drop_rate" not in spec.timm_kwargs
    rebuilt = build_backbone(spec)
    assert rebuilt.patch_drop.__class__.__name__ == "Identity"
    assert model.target_backbone.patch_drop.prob == 0.5  # the target's views drop too


def test_zero_rate_builds_the_plain_model_and_convnets_are_refused():
    assert model_kwargs(_config(0.0)) == {}
    assert model_kwargs_problem("test_vit", 32, patch_drop_rate=0.5) == ""
    problem = model_kwargs_problem("test_resnet", 32, patch_drop_rate=0.5)
    assert "patch_drop_rate" in problem and "\n" not in problem


def test_average_pooling_of_a_vit_is_kept_by_rebuilds():
    torch.manual_seed(0)
    model = build_model(_config(0.0, pool="avg"), 32)
    backbone = model.backbone.eval()
    x = torch.randn(3, 3, 32, 32)
    tokens = backbone.forward_features(x)
    expected = backbone.fc_norm(tokens[:, backbone.num_prefix_tokens :].mean(dim=1))
    torch.testing.assert_close(backbone(x), expected)  # the mean of the patch tokens
    spec = backbone_spec(backbone)
    assert spec.timm_kwargs["global_pool"] == "avg"
    rebuilt = build_backbone(spec).eval()
    rebuilt.load_state_dict(backbone.state_dict())
    torch.testing.assert_close(rebuilt(x), backbone(x))


def test_new_settings_at_their_defaults_keep_existing_run_hashes():
    # The hash of the default config before model.global_pool and model.patch_drop_rate
    # existed; finished runs are found by it, so it must not change.
    assert RunConfig().config_hash() == "1abf3d7a7990"
    assert _config(0.5).config_hash() != _config(0.0).config_hash()
    assert _config(0.0, pool="avg").config_hash() != _config(0.0).config_hash()


def test_stage_widths_narrow_a_resnet_and_survive_a_rebuild():
    config = from_dict({"model": {"backbone": "resnet10t", "channels": "16,32,64,128"}})
    assert config.model.channels == (16, 32, 64, 128)
    model = build_model(config, 32)
    spec = backbone_spec(model.backbone)
    assert spec.num_features == 128 and spec.timm_kwargs["channels"] == (16, 32, 64, 128)
    assert model.backbone.layer1[0].conv1.out_channels == 16
    rebuilt = build_backbone(spec).eval()
    rebuilt.load_state_dict(model.backbone.state_dict())
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(rebuilt(x), model.backbone.eval()(x))
    full_width = RunConfig().replace({"model.backbone": "resnet10t"})
    assert config.config_hash() != full_width.config_hash()


def test_stage_widths_must_name_every_stage():
    # timm would silently build a three-stage network from three widths
    problem = model_kwargs_problem("resnet10t", 32, channels=(32, 64, 128))
    assert problem == (
        "model.channels=32,64,128: 'resnet10t' has 4 stages, so it takes 4 widths "
        "(e.g. 32,64,128,256)"
    )


def test_a_stem_width_narrows_a_deep_stem_and_survives_a_rebuild():
    config = from_dict(
        {"model": {"backbone": "resnet10t", "channels": "32,64,128,256", "stem_width": 16}}
    )
    model = build_model(config, 32)
    assert model.backbone.conv1.out_channels == 32  # the small-image stem: twice the width
    assert model.backbone.layer1[0].downsample is None  # no shortcut conv from 64 to 32
    spec = backbone_spec(model.backbone)
    assert spec.timm_kwargs["stem_width"] == 16
    rebuilt = build_backbone(spec).eval()
    rebuilt.load_state_dict(model.backbone.state_dict())
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(rebuilt(x), model.backbone.eval()(x))
    plain = from_dict({"model": {"backbone": "resnet10t", "channels": "32,64,128,256"}})
    assert config.config_hash() != plain.config_hash()
    assert plain.config_hash() == plain.replace({"model.stem_width": 0}).config_hash()


def test_a_stem_width_on_a_one_conv_stem_is_refused():
    # timm builds resnet18's 7x7 stem 64 wide whatever stem_width says
    problem = model_kwargs_problem("resnet18", 32, stem_width=16)
    assert problem == (
        "model.stem_width=16: 'resnet18' has a one-conv stem, which timm builds 64 wide "
        "whatever the stem width; it works with ResNets whose stem is deep (resnet10t, "
        "resnet26d, ...); drop --set model.stem_width"
    )
    assert model_kwargs_problem("resnet10t", 32, stem_width=16) == ""
