"""The two-view transform the trainer runs on batches, and the evaluation transform."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from byolbench.augment import ops
from byolbench.augment.view import ViewParams, ViewSpec, apply_view, sample_view_params


def normalize_inplace(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """In place: only for a fresh tensor the transform owns (the output of a view)."""
    return x.sub_(mean.to(x.device)).div_(std.to(x.device))


def _normalized(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Out of place: ``x`` may alias the caller's images."""
    return (x - mean.to(x.device)) / std.to(x.device)


class TwoViewTransform:
    """Turns a uint8 batch ``(N, C, H, W)`` into two normalised float views of ``size``.

    Every random parameter is drawn per sample from ``generator`` on the batch's device, so
    the work runs where the batch lives (CPU or GPU) and a seeded generator reproduces the
    exact same views.

    Args:
        view1: Settings of the first view.
        view2: Settings of the second view.
        image_size: Output side length.
        mean: Per-channel normalisation mean (RGB).
        std: Per-channel normalisation std (RGB).
    """

    def __init__(
        self,
        view1: ViewSpec,
        view2: ViewSpec,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        self.view1 = view1
        self.view2 = view2
        self.image_size = image_size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def sample(
        self, images: torch.Tensor, generator: torch.Generator
    ) -> tuple[ViewParams, ViewParams]:
        """Draws the parameters of both views for a batch (on the batch's device)."""
        n, _, h, w = images.shape
        p1 = sample_view_params(self.view1, n, h, w, generator, images.device)
        p2 = sample_view_params(self.view2, n, h, w, generator, images.device)
        return p1, p2

    def apply(
        self, images: torch.Tensor, params: tuple[ViewParams, ViewParams]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Applies given parameters; returns two normalised views."""
        x = ops.to_float_rgb(images)
        v1 = apply_view(x, params[0], self.view1, self.image_size)
        v2 = apply_view(x, params[1], self.view2, self.image_size)
        mean, std = self.mean, self.std
        return normalize_inplace(v1, mean, std), normalize_inplace(v2, mean, std)

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples parameters and applies them."""
        return self.apply(images, self.sample(images, generator))


class EvalTransform:
    """Deterministic transform for evaluation: to float RGB, resize, centre crop, normalise.

    With ``crop_pct`` below 1 it follows timm's evaluation transform: resize the shorter side
    to ``floor(image_size / crop_pct)``, then take the centre ``image_size`` crop (224 of 256
    for crop_pct 0.875). With ``crop_pct`` 1 the whole image is resized to ``image_size``.

    Args:
        image_size: Output side length (resizing is bilinear with antialiasing).
        mean: Per-channel normalisation mean (RGB).
        std: Per-channel normalisation std (RGB).
        crop_pct: Fraction of the resized image kept by the centre crop.
    """

    def __init__(
        self,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        crop_pct: float = 1.0,
    ) -> None:
        self.image_size = image_size
        self.crop_pct = crop_pct
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Maps a uint8 batch to normalised float images."""
        x = ops.to_float_rgb(images)
        size = self.image_size
        if self.crop_pct >= 1.0:
            return _normalized(_resize(x, (size, size)), self.mean, self.std)
        scale = math.floor(size / self.crop_pct)
        h, w = x.shape[-2:]
        x = _resize(x, (scale, round(w * scale / h)) if h <= w else (round(h * scale / w), scale))
        top = int(round((x.shape[-2] - size) / 2.0))
        left = int(round((x.shape[-1] - size) / 2.0))
        return _normalized(x[..., top : top + size, left : left + size], self.mean, self.std)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with antialiasing; a no-op at the same size."""
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


class IdentityTwoView:
    """The ``none`` preset: both views are the evaluation transform of the image."""

    def __init__(self, image_size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        self.image_size = image_size
        self._eval = EvalTransform(image_size, mean, std)

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the same deterministic view twice."""
        x = self._eval(images)
        return x, x.clone()
