"""One augmented view: its settings, per-sample random parameters, and how they are applied."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from byolbench.augment import ops


@dataclass(frozen=True)
class ViewSpec:
    """Settings of one BYOL view (defaults: the paper's common settings).

    Attributes:
        crop_scale: Area fraction range of the random resized crop.
        crop_ratio: Aspect ratio range of the crop.
        flip_p: Probability of a horizontal flip.
        jitter_p: Probability of colour jitter (all four factors, in random order).
        brightness: Brightness factor drawn from ``[1 - b, 1 + b]``.
        contrast: Contrast factor drawn from ``[1 - c, 1 + c]``.
        saturation: Saturation factor drawn from ``[1 - s, 1 + s]``.
        hue: Hue shift drawn from ``[-h, h]``.
        grayscale_p: Probability of converting to grayscale.
        blur_p: Probability of Gaussian blur.
        blur_sigma: Range of the blur's sigma in pixels.
        blur_kernel_fraction: Blur kernel side as a fraction of the image side (made odd).
        solarize_p: Probability of solarisation (pixels >= 0.5 are inverted).
    """

    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 1.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_kernel_fraction: float = 0.1
    solarize_p: float = 0.0


@dataclass
class ViewParams:
    """Random parameters of one view, one row per sample (all tensors on one device).

    ``boxes`` are ``(top, left, height, width)`` in source pixels; ``jitter_order`` lists the
    order of brightness (0), contrast (1), saturation (2) and hue (3) for each sample.
    """

    boxes: torch.Tensor
    flip: torch.Tensor
    jitter: torch.Tensor
    jitter_order: torch.Tensor
    brightness: torch.Tensor
    contrast: torch.Tensor
    saturation: torch.Tensor
    hue: torch.Tensor
    grayscale: torch.Tensor
    blur: torch.Tensor
    sigma: torch.Tensor
    solarize: torch.Tensor

    def to(self, device: torch.device | str) -> ViewParams:
        """Returns the parameters moved to ``device``."""
        return ViewParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def blur_kernel_size(image_size: int, fraction: float) -> int:
    """Odd kernel side of about ``fraction`` of the image (23 at 224 px, 3 at 32 px)."""
    size = max(3, int(round(fraction * image_size)))
    return size if size % 2 == 1 else size + 1


def _uniform(
    n: int, low: float, high: float, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device) * (high - low) + low


def _bernoulli(n: int, p: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device) < p


def sample_crop_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator,
    device: torch.device,
    attempts: int = 10,
) -> torch.Tensor:
    """Random-resized-crop boxes, torchvision's rule vectorised over samples.

    Each sample tries up to ``attempts`` (area, aspect) draws and keeps the first that fits;
    samples with none fall back to the largest centred crop within ``ratio``.

    Returns:
        ``(n, 4)`` float tensor of ``(top, left, height, width)``.
    """
    area = float(height * width)
    target = area * _uniform(n * attempts, scale[0], scale[1], generator, device)
    log_ratio = _uniform(n * attempts, math.log(ratio[0]), math.log(ratio[1]), generator, device)
    aspect = torch.exp(log_ratio)
    w = torch.round(torch.sqrt(target * aspect)).view(n, attempts)
    h = torch.round(torch.sqrt(target / aspect)).view(n, attempts)
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.int().argmax(dim=1, keepdim=True)
    any_fit = fits.any(dim=1)
    w = w.gather(1, first).squeeze(1)
    h = h.gather(1, first).squeeze(1)

    in_ratio = width / height
    if in_ratio < ratio[0]:
        fb_w, fb_h = float(width), float(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        fb_h, fb_w = float(height), float(round(height * ratio[1]))
    else:
        fb_w, fb_h = float(width), float(height)
    w = torch.where(any_fit, w, torch.full_like(w, fb_w))
    h = torch.where(any_fit, h, torch.full_like(h, fb_h))

    u_top = torch.rand(n, generator=generator, device=device)
    u_left = torch.rand(n, generator=generator, device=device)
    top = torch.floor(u_top * (height - h + 1))
    left = torch.floor(u_left * (width - w + 1))
    top = torch.where(any_fit, top, torch.round((height - h) / 2.0))
    left = torch.where(any_fit, left, torch.round((width - w) / 2.0))
    return torch.stack((top, left, h, w), dim=1)


def sample_view_params(
    spec: ViewSpec,
    n: int,
    height: int,
    width: int,
    generator: torch.Generator,
    device: torch.device,
) -> ViewParams:
    """Draws every random parameter of one view independently for each of ``n`` samples."""
    boxes = sample_crop_boxes(n, height, width, spec.crop_scale, spec.crop_ratio, generator, device)
    order = torch.rand(n, 4, generator=generator, device=device).argsort(dim=1)
    return ViewParams(
        boxes=boxes,
        flip=_bernoulli(n, spec.flip_p, generator, device),
        jitter=_bernoulli(n, spec.jitter_p, generator, device),
        jitter_order=order,
        brightness=_uniform(n, 1 - spec.brightness, 1 + spec.brightness, generator, device),
        contrast=_uniform(n, 1 - spec.contrast, 1 + spec.contrast, generator, device),
        saturation=_uniform(n, 1 - spec.saturation, 1 + spec.saturation, generator, device),
        hue=_uniform(n, -spec.hue, spec.hue, generator, device),
        grayscale=_bernoulli(n, spec.grayscale_p, generator, device),
        blur=_bernoulli(n, spec.blur_p, generator, device),
        sigma=_uniform(n, spec.blur_sigma[0], spec.blur_sigma[1], generator, device),
        solarize=_bernoulli(n, spec.solarize_p, generator, device),
    )


def _apply_where(
    x: torch.Tensor, mask: torch.Tensor, fn: object, *args: torch.Tensor | int
) -> torch.Tensor:
    """Applies ``fn`` to the masked samples only (their parameters are sliced the same way)."""
    idx = mask.nonzero().squeeze(1)
    if idx.numel() == 0:
        return x
    sliced = [a[idx] if isinstance(a, torch.Tensor) else a for a in args]
    x[idx] = fn(x[idx], *sliced)  # type: ignore[operator]
    return x


def apply_view(images: torch.Tensor, params: ViewParams, spec: ViewSpec, size: int) -> torch.Tensor:
    """Applies one view's parameters to float RGB images in [0, 1].

    Order as in the paper: crop and resize (with flip), colour jitter, grayscale, blur,
    solarize. Returns float ``(N, 3, size, size)`` in [0, 1], not yet normalised.
    """
    x = ops.resized_crop(images, params.boxes, size, params.flip)
    if spec.jitter_p > 0:
        ones = torch.ones_like(params.brightness)
        for position in range(4):
            takes = [params.jitter & (params.jitter_order[:, position] == i) for i in range(4)]
            x = ops.jitter_blend(
                x,
                torch.where(takes[0], params.brightness, ones),
                torch.where(takes[1], params.contrast, ones),
                torch.where(takes[2], params.saturation, ones),
            )
            x = _apply_where(x, takes[3], ops.adjust_hue, params.hue)
    if spec.grayscale_p > 0:
        x = _apply_where(x, params.grayscale, ops.to_grayscale_rgb)
    if spec.blur_p > 0:
        kernel = blur_kernel_size(size, spec.blur_kernel_fraction)
        x = _apply_where(x, params.blur, ops.gaussian_blur, params.sigma, kernel)
    if spec.solarize_p > 0:
        x = _apply_where(x, params.solarize, ops.solarize)
    return x
