"""Extra small views per image (multi-crop) that only the online network sees.

With ``augment.local_crops`` = N, each image of a batch also gives N small views: random
resized crops of ``augment.local_crop_scale`` of the image, resized to ``augment.local_size``
pixels, with the colour, blur and solarisation settings of the two BYOL views in turn. The
online network regresses each of them onto the target's projections of both full-size views
(multi-crop, Caron et al. 2020, as solo-learn offers it for BYOL); the target sees only the two
full-size views. A small view costs a fraction of a full-size one, so a step learns from more
pairs for little more time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from byolbench.augment import ops
from byolbench.augment.transforms import TwoViewTransform, normalize_inplace
from byolbench.augment.view import ViewSpec, apply_view, sample_view_params
from byolbench.errors import ConfigError

MIN_LOCAL_SIZE = 8


def local_size_for(local_size: int, image_size: int) -> int:
    """The small views' side: ``local_size``, or half the training size when 0 (>= 8 px)."""
    return local_size or max(MIN_LOCAL_SIZE, image_size // 2)


@dataclass(frozen=True)
class LocalCrops:
    """Draws the small views of a uint8 batch.

    Attributes:
        specs: Settings of each small view (one per view).
        size: Their side in pixels.
        mean: Normalisation mean, ``(1, C, 1, 1)``.
        std: Normalisation std, ``(1, C, 1, 1)``.
    """

    specs: tuple[ViewSpec, ...]
    size: int
    mean: torch.Tensor
    std: torch.Tensor

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator, size: int | None = None
    ) -> list[torch.Tensor]:
        """Normalised float small views, one ``(N, C, s, s)`` tensor per view (``s``: ``size``
        or the configured side)."""
        side = size or self.size
        x = ops.to_float_rgb(images)
        n, _, h, w = images.shape
        views = []
        for spec in self.specs:
            params = sample_view_params(spec, n, h, w, generator, images.device)
            view = apply_view(x, params, spec, side)
            views.append(normalize_inplace(view, self.mean, self.std))
        return views


def local_crops(
    transform: object,
    count: int,
    size: int,
    crop_scale: tuple[float, ...],
    name: str,
) -> LocalCrops | None:
    """The small views of ``count`` per image for ``transform`` (``None`` when ``count`` is 0).

    Raises:
        ConfigError: For an augmentation (e.g. a plugin's) whose view settings are unknown.
    """
    if count <= 0:
        return None
    if not isinstance(transform, TwoViewTransform):
        raise ConfigError(
            f"augment.local_crops={count} needs byolbench's byol or byol-small augmentation, "
            f"whose view settings the small views share; {name!r} is another: set "
            "augment.local_crops=0"
        )
    low, high = crop_scale
    bases = (transform.view1, transform.view2)
    specs = tuple(replace(bases[i % 2], crop_scale=(low, high)) for i in range(count))
    return LocalCrops(specs, size, transform.mean, transform.std)
