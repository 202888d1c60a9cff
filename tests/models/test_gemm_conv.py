"""GemmConv2d computes the same convolution and gradients as nn.Conv2d."""

import copy

import pytest
import torch
from torch import nn

from byolbench.models import gemm_conv
from byolbench.models.gemm_conv import GemmConv2d, use_gemm_convs


def _pair(cin, cout, k, stride, bias):
    torch.manual_seed(0)
    reference = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)
    converted = copy.deepcopy(reference)
    assert use_gemm_convs(converted) == 1 and isinstance(converted, GemmConv2d)
    return reference, converted


@pytest.mark.parametrize(
    ("cin", "cout", "size", "k", "stride", "bias"),
    [
        (16, 24, 4, 3, 1, False),  # every pass as a matrix product
        (16, 24, 8, 3, 2, True),  # strided, 4 x 4 output, with bias
        (16, 32, 8, 1, 2, False),  # 1 x 1 downsampling
        (8, 8, 8, 3, 1, False),  # 8 x 8: only the weight gradient as a product
        (8, 8, 16, 3, 1, False),  # large map: plain conv2d everywhere
    ],
)
def test_outputs_and_gradients_match_conv2d_in_bf16(cin, cout, size, k, stride, bias):
    reference, converted = _pair(cin, cout, k, stride, bias)
    x = torch.randn(4, cin, size, size).to(torch.bfloat16).float()
    x = x.contiguous(memory_format=torch.channels_last)
    x_ref = x.clone().requires_grad_(True)
    x_new = x.clone().requires_grad_(True)
    grad = torch.randn(4, cout, (size - 1) // stride + 1, (size - 1) // stride + 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_ref = reference(x_ref)
        y_new = converted(x_new)
    assert y_new.shape == y_ref.shape and y_new.dtype == y_ref.dtype == torch.bfloat16
    (y_ref.float() * grad).sum().backward()
    (y_new.float() * grad).sum().backward()

    def close(a, b):
        scale = b.abs().max().item() + 1e-6
        assert (a.float() - b.float()).abs().max().item() <= 0.02 * scale

    close(y_new, y_ref)
    close(x_new.grad, x_ref.grad)
    close(converted.weight.grad, reference.weight.grad)
    if bias:
        close(converted.bias.grad, reference.bias.grad)


def test_the_matrix_path_is_taken_only_where_it_pays(monkeypatch):
    calls = []
    original = gemm_conv._patches
    monkeypatch.setattr(gemm_conv, "_patches", lambda *a: calls.append(a[0].shape) or original(*a))
    _, small = _pair(8, 8, 3, 1, False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        small(torch.randn(2, 8, 4, 4))
    assert len(calls) == 1
    calls.clear()
    small(torch.randn(2, 8, 4, 4))  # fp32: plain conv2d
    with torch.autocast("cpu", dtype=torch.bfloat16):
        small(torch.randn(2, 8, 32, 32))  # large map: plain conv2d
    assert calls == []


def test_conversion_keeps_parameters_and_state_dict_keys():
    from byolbench.models.backbone import create_backbone

    backbone = create_backbone("test_resnet", 32)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    converted = use_gemm_convs(backbone)
    assert converted > 0
    after = backbone.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(type(m) is nn.Conv2d for m in backbone.modules())
