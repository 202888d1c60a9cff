"""Batched image ops with one parameter per sample.

Images are float tensors ``(N, 3, H, W)`` in [0, 1]; factors are ``(N,)`` tensors on the same
device. Each op matches the torchvision per-image functional op of the same name for the
same parameters (see tests/augment/test_equivalence.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights


def _expand(factor: torch.Tensor) -> torch.Tensor:
    return factor.reshape(-1, 1, 1, 1)


def to_float_rgb(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` with C in {1, 3} to float RGB in [0, 1] (gray is replicated)."""
    x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma ``(N, 1, H, W)`` with torchvision's weights (one fused contraction)."""
    weights = torch.tensor(GRAY_WEIGHTS, dtype=x.dtype, device=x.device)
    return torch.einsum("nchw,c->nhw", x, weights).unsqueeze(1)


def _blend(x: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    ratio = _expand(ratio)
    return (ratio * x + (1.0 - ratio) * other).clamp_(0.0, 1.0)


def jitter_blend(
    x: torch.Tensor,
    brightness: torch.Tensor,
    contrast: torch.Tensor,
    saturation: torch.Tensor,
) -> torch.Tensor:
    """Applies, per sample, at most one of brightness, contrast or saturation in one pass.

    Each is a blend ``clamp(f * x + (1 - f) * other)`` with ``other`` = 0, the mean luma or
    the luma image; a factor of exactly 1 leaves a sample unchanged, so callers pass 1 for
    the ops a sample does not take at this position.
    """
    gray = grayscale(x)
    mean = gray.mean(dim=(1, 2, 3), keepdim=True)
    other = torch.addcmul(_expand(1.0 - contrast) * mean, _expand(1.0 - saturation), gray)
    scale = _expand(brightness * contrast * saturation)
    return torch.addcmul(other, scale, x).clamp_(0.0, 1.0)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``clamp(x * factor)``."""
    return (x * _expand(factor)).clamp_(0.0, 1.0)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blends with the mean luma of each image."""
    mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean, factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blends with each image's grayscale version."""
    return _blend(x, grayscale(x), factor)


def adjust_hue(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Rotates hue by ``factor`` (in [-0.5, 0.5]) turns, keeping HSV saturation and value.

    Works in hue sextants without a full HSV round trip: the maximum channel (value) and the
    chroma (max - min) are unchanged, and each output channel is
    ``max - chroma * clamp(min(k, 4 - k), 0, 1)`` with ``k = (n + 6 h) mod 6``.
    """
    r, g, b = x.unbind(dim=1)
    maxc, _ = x.max(dim=1)
    minc, _ = x.min(dim=1)
    chroma = maxc - minc
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    hue = torch.where(
        maxc == r,
        torch.remainder((g - b) / safe, 6.0),
        torch.where(maxc == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0),
    )
    hue = hue + 6.0 * factor.reshape(-1, 1, 1).to(x.dtype)
    offsets = torch.tensor((5.0, 3.0, 1.0), device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    k = torch.remainder(offsets + hue.unsqueeze(1), 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return maxc.unsqueeze(1) - chroma.unsqueeze(1) * ramp


def to_grayscale_rgb(x: torch.Tensor) -> torch.Tensor:
    """Three-channel grayscale."""
    return grayscale(x).expand(-1, 3, -1, -1)


def solarize(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Inverts pixels at or above ``threshold``."""
    return torch.where(x >= threshold, 1.0 - x, x)


def gaussian_kernels(sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Normalised 1-D Gaussian kernels, one row per sigma: ``(N, kernel_size)``."""
    half = (kernel_size - 1) * 0.5
    t = torch.linspace(-half, half, kernel_size, device=sigma.device, dtype=torch.float32)
    k = torch.exp(-0.5 * (t.unsqueeze(0) / sigma.float().unsqueeze(1)) ** 2)
    return k / k.sum(dim=1, keepdim=True)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Separable Gaussian blur with a sigma per sample and reflect padding (as torchvision)."""
    n, c, h, w = x.shape
    k = gaussian_kernels(sigma, kernel_size).to(x.dtype)
    k = k.repeat_interleave(c, dim=0)  # (N*C, K)
    pad = kernel_size // 2
    y = F.pad(x.reshape(1, n * c, h, w), (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(y, k.view(n * c, 1, 1, kernel_size), groups=n * c)
    y = F.conv2d(y, k.view(n * c, 1, kernel_size, 1), groups=n * c)
    return y.reshape(n, c, h, w)


def _source_coords(
    start: torch.Tensor, length: torch.Tensor, size: int, full: int, device: torch.device
) -> torch.Tensor:
    """Normalised sampling coordinates of ``size`` outputs over ``[start, start + length)``.

    Pixel centres map as in bilinear resizing of the crop alone (half-pixel offsets) and are
    clamped to the crop, so no pixel outside it leaks in, exactly like crop-then-resize.
    """
    out = torch.arange(size, device=device, dtype=torch.float32).unsqueeze(0) + 0.5
    src = start.unsqueeze(1) + out * (length / size).unsqueeze(1) - 0.5
    src = torch.maximum(src, start.unsqueeze(1))
    src = torch.minimum(src, (start + length - 1).unsqueeze(1))
    return (2.0 * src + 1.0) / full - 1.0


def resized_crop(
    x: torch.Tensor, boxes: torch.Tensor, size: int, flip: torch.Tensor | None = None
) -> torch.Tensor:
    """Crops a box per sample and resizes it to ``size`` x ``size`` (bilinear).

    Matches ``torchvision...resized_crop(antialias=False)`` (and the antialiased op whenever
    the crop is enlarged, as for 32 px images). A horizontal flip is folded into the same
    resampling at no cost.

    Args:
        x: Float images ``(N, C, H, W)``.
        boxes: ``(N, 4)`` float boxes as ``(top, left, height, width)`` in pixels.
        size: Output side length.
        flip: Optional ``(N,)`` bool; flipped samples are mirrored left-right.
    """
    n, _, h, w = x.shape
    top, left, bh, bw = boxes.to(torch.float32).unbind(dim=1)
    gx = _source_coords(left, bw, size, w, x.device)
    gy = _source_coords(top, bh, size, h, x.device)
    if flip is not None:
        gx = torch.where(flip.unsqueeze(1), gx.flip(1), gx)
    grid = torch.stack(
        (gx.unsqueeze(1).expand(n, size, size), gy.unsqueeze(2).expand(n, size, size)), dim=-1
    )
    return F.grid_sample(
        x, grid.to(x.dtype), mode="bilinear", padding_mode="border", align_corners=False
    )
