"""toy_convnet: timm registration, byolbench's backbone contract, the entry point."""

import pytest

pytest.importorskip(
    "byolbench_toyplugin",
    reason="byolbench-toyplugin is not installed: pip install -e plugins/byolbench-toyplugin",
)

import timm  # noqa: E402
import torch  # noqa: E402
from byolbench.models import backbone_spec, create_backbone  # noqa: E402
from byolbench.models.registry import BACKBONES  # noqa: E402

from byolbench_toyplugin.backbone import ToyConvNet, toy_convnet  # noqa: E402


def test_timm_builds_it_by_name():
    model = timm.create_model("toy_convnet", widths=(8, 16, 24))
    assert isinstance(model, ToyConvNet)
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 24)
    logits = timm.create_model("toy_convnet", num_classes=5)(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 5)


def test_timm_feature_interface():
    model = toy_convnet(in_chans=1).eval()
    images = torch.randn(2, 1, 32, 32)
    feature_map = model.forward_features(images)
    assert feature_map.shape == (2, 64, 8, 8)
    pooled = model.forward_head(feature_map, pre_logits=True)
    assert torch.allclose(pooled, model(images)) and torch.allclose(
        pooled, feature_map.mean(dim=(2, 3))
    )
    model.reset_classifier(7)
    assert model.get_classifier().out_features == 7
    assert model.forward_head(feature_map).shape == (2, 7)


def test_byolbench_builds_it_through_the_entry_point():
    assert "toy_convnet" in BACKBONES
    model = create_backbone("toy_convnet", 32)
    spec = backbone_spec(model)
    assert spec.num_features == 64 and spec.arch == "toy_convnet"
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 64)
    assert BACKBONES.get("toy_convnet") is toy_convnet


def test_registering_with_timm_is_not_a_clash():
    BACKBONES.get("toy_convnet")  # imported: timm now knows the name from this package
    assert timm.models.is_model("toy_convnet")
    info = next(i for i in BACKBONES.entries() if i.name == "toy_convnet")
    assert info.problem == "" and info.loaded
    assert info.distribution == "byolbench-toyplugin"


def test_pretrained_weights_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="no pretrained weights"):
        toy_convnet(pretrained=True)


def test_bad_widths_are_refused():
    with pytest.raises(ValueError, match="three positive"):
        ToyConvNet(widths=(8, 16))
