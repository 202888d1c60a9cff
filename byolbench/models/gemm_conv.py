"""Convolutions as matrix products for small feature maps, where CPU conv kernels are slow.

On CPUs with bf16 matrix units (AMX), oneDNN's convolution kernels are fast for large
feature maps but slow for the last stages of a network at small input sizes: at 32 px a
ResNet's 512-channel stage works on 4 x 4 maps, where the forward pass runs at about a quarter
and the weight gradient at about a tenth of the matrix peak (``benchmarks/throughput.py
--levers`` measures it). There the same convolution written as one large matrix product of
its patches (an explicit im2col: the ``k x k`` shifted views of the channels-last input side by
side) runs near the peak, because the product has ``N x H x W`` rows, ``k x k x C_in`` columns
and no padding logic.

``GemmConv2d`` is an ``nn.Conv2d`` (same parameters, state dict and ``repr``) that takes that
path on the CPU for bf16 inputs with small output maps, per pass: forward, input gradient and
weight gradient each use the implementation that measured faster for the map size
(``GEMM_ALL_MAX_PIXELS``, ``GEMM_WEIGHT_GRAD_MAX_PIXELS``), and anything else (GPUs, fp32,
groups, dilation, other paddings) goes through ``F.conv2d`` unchanged.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# Output maps of at most this many pixels use the matrix-product path in every pass.
GEMM_ALL_MAX_PIXELS = 16
# Up to this many output pixels only the weight gradient uses it.
GEMM_WEIGHT_GRAD_MAX_PIXELS = 64


def _patches(x_nhwc: torch.Tensor, k: int, stride: int, pad: int) -> torch.Tensor:
    """``(N, H, W, C)`` -> ``(N * Ho * Wo, k * k * C)``, columns ordered (kh, kw, C)."""
    n, h, w, c = x_nhwc.shape
    ho = (h + 2 * pad - k) // stride + 1
    wo = (w + 2 * pad - k) // stride + 1
    padded = F.pad(x_nhwc, (0, 0, pad, pad, pad, pad)) if pad else x_nhwc
    views = [
        padded[:, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride]
        for i in range(k)
        for j in range(k)
    ]
    if len(views) == 1:
        return views[0].reshape(n * ho * wo, c)
    return torch.stack(views, dim=3).reshape(n * ho * wo, k * k * c)


def _fold(
    grad_cols: torch.Tensor, shape: tuple[int, int, int, int], k: int, stride: int, pad: int
) -> torch.Tensor:
    """The adjoint of ``_patches``: sums patch gradients back into ``(N, H, W, C)``."""
    n, h, w, c = shape
    ho = (h + 2 * pad - k) // stride + 1
    wo = (w + 2 * pad - k) // stride + 1
    grad = grad_cols.view(n, ho, wo, k * k, c)
    out = grad_cols.new_zeros(n, h + 2 * pad, w + 2 * pad, c)
    for index in range(k * k):
        i, j = divmod(index, k)
        window = out[
            :, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride
        ]
        window.add_(grad[:, :, :, index, :])
    return out[:, pad : pad + h, pad : pad + w, :] if pad else out


def _weight_matrix(weight: torch.Tensor) -> torch.Tensor:
    """``(C_out, C_in, k, k)`` -> ``(k * k * C_in, C_out)``, rows ordered (kh, kw, C_in)."""
    c_out = weight.shape[0]
    return weight.permute(2, 3, 1, 0).reshape(-1, c_out)


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    """The ``(N, H, W, C)`` view of a channels-last ``(N, C, H, W)`` tensor (copies otherwise)."""
    return x.permute(0, 2, 3, 1).contiguous()


class _GemmConv(torch.autograd.Function):
    """Convolution with ``k x k`` kernel, ``k // 2`` padding, one group, any stride."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
        k = weight.shape[-1]
        pad = k // 2
        n, _, h, w = x.shape
        ho = (h + 2 * pad - k) // stride + 1
        wo = (w + 2 * pad - k) // stride + 1
        ctx.save_for_backward(x, weight)
        ctx.stride = stride
        if ho * wo <= GEMM_ALL_MAX_PIXELS:
            out = _patches(_nhwc(x), k, stride, pad) @ _weight_matrix(weight)
            return out.view(n, ho, wo, -1).permute(0, 3, 1, 2)
        return F.conv2d(x, weight, stride=stride, padding=pad)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        stride = ctx.stride
        k = weight.shape[-1]
        pad = k // 2
        n, c_in, h, w = x.shape
        pixels = grad_out.shape[-1] * grad_out.shape[-2]
        grad_nhwc = _nhwc(grad_out).reshape(-1, weight.shape[0])
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            if pixels <= GEMM_ALL_MAX_PIXELS:
                cols = grad_nhwc @ _weight_matrix(weight).t()
                grad_x = _fold(cols, (n, h, w, c_in), k, stride, pad).permute(0, 3, 1, 2)
            else:
                grad_x = torch.nn.grad.conv2d_input(
                    x.shape, weight, grad_out, stride=stride, padding=pad
                )
        if ctx.needs_input_grad[1]:
            if pixels <= GEMM_WEIGHT_GRAD_MAX_PIXELS:
                matrix = _patches(_nhwc(x), k, stride, pad).t() @ grad_nhwc
                grad_w = matrix.view(k, k, c_in, -1).permute(3, 2, 0, 1)
            else:
                grad_w = torch.nn.grad.conv2d_weight(
                    x, weight.shape, grad_out, stride=stride, padding=pad
                )
            grad_w = grad_w.contiguous()
        return grad_x, grad_w, None


class GemmConv2d(nn.Conv2d):
    """``nn.Conv2d`` that multiplies patch matrices for small maps on the CPU in bf16."""

    def _gemm_ok(self, x: torch.Tensor) -> bool:
        k = self.kernel_size[0]
        return (
            x.device.type == "cpu"
            and self.groups == 1
            and self.dilation == (1, 1)
            and self.kernel_size == (k, k)
            and self.padding == (k // 2, k // 2)
            and k % 2 == 1
            and self.stride[0] == self.stride[1]
            and self.padding_mode == "zeros"
            and x.shape[-1] * x.shape[-2] <= GEMM_WEIGHT_GRAD_MAX_PIXELS * self.stride[0] ** 2
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolves ``x``; see the module docstring for which implementation runs."""
        bf16 = x.dtype == torch.bfloat16 or (
            torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        )
        if not bf16 or not self._gemm_ok(x):
            return super().forward(x)
        weight = self.weight.to(torch.bfloat16)
        out = _GemmConv.apply(x.to(torch.bfloat16), weight, self.stride[0])
        if self.bias is not None:
            out = out + self.bias.to(out.dtype).view(1, -1, 1, 1)
        return out


@lru_cache(maxsize=1)
def cpu_has_amx() -> bool:
    """Whether this CPU has AMX-BF16 tiles (``amx_bf16`` in ``/proc/cpuinfo``), the kind where
    the matrix-product path was measured to pay; ``False`` where that file does not exist."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(
        line.startswith("flags") and "amx_bf16" in line.split() for line in text.splitlines()
    )


def use_gemm_convs(model: nn.Module) -> int:
    """Turns every plain ``nn.Conv2d`` of ``model`` into a ``GemmConv2d`` in place (same
    parameters); returns how many were converted."""
    converted = 0
    for module in model.modules():
        if type(module) is nn.Conv2d:
            module.__class__ = GemmConv2d
            converted += 1
    return converted
