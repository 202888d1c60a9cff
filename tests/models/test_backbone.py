import pytest
import torch
from torch import nn

from byolbench.errors import ConfigError
from byolbench.models.backbone import backbone_spec, create_backbone, vit_patch_size

FAMILIES = [
    "test_resnet",
    "test_vit",
    "test_convnext",
    "test_efficientnet",
    "mobilenetv3_small_050",
]


@pytest.mark.parametrize("size", [32, 224])
@pytest.mark.parametrize("name", FAMILIES)
def test_backbone_contract(name, size):
    model = create_backbone(name, size).eval()
    spec = backbone_spec(model)
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, spec.num_features)
    assert spec.num_features > 0 and spec.image_size == size


def test_resnet_gets_cifar_stem_at_small_sizes():
    small = create_backbone("resnet18", 32)
    assert backbone_spec(small).cifar_stem
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, nn.Identity)
    big = create_backbone("resnet18", 224)
    assert not backbone_spec(big).cifar_stem
    assert big.conv1.kernel_size == (7, 7) and big.conv1.stride == (2, 2)
    forced_off = create_backbone("resnet18", 32, small_image_stem="off")
    assert forced_off.conv1.kernel_size == (7, 7)


def test_vit_patch_keeps_at_least_8x8_tokens():
    vit = create_backbone("vit_tiny", 32)
    assert vit.patch_embed.patch_size == (4, 4)
    assert vit.patch_embed.num_patches == 64
    assert backbone_spec(vit).timm_kwargs == {"img_size": 32, "patch_size": 4}
    assert create_backbone("vit_tiny", 224).patch_embed.patch_size == (16, 16)
    assert vit_patch_size(96, 16) == 8  # 96 / 16 = 6 tokens per side is too few
    assert vit_patch_size(128, 16) == 16


def test_aliases_resolve_to_timm_models():
    assert backbone_spec(create_backbone("vit_small", 32)).arch == "vit_small_patch16_224"
    assert backbone_spec(create_backbone("resnet50", 32)).num_features == 2048


def test_unknown_name_lists_close_matches():
    with pytest.raises(ConfigError) as info:
        create_backbone("resnet_18", 32)
    message = str(info.value)
    assert "resnet18" in message and "\n" not in message
