"""``toy-mild``: a milder BYOL view pair for tiny synthetic images.

Larger crops (at least 30 % of the image), weaker colour jitter, no blur; only the second
view is sometimes solarised, so the pair stays asymmetric as in BYOL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from byolbench.augment import TwoViewTransform, ViewSpec

__all__ = ["MILD_VIEW1", "MILD_VIEW2", "toy_mild"]

MILD_VIEW1 = ViewSpec(
    crop_scale=(0.3, 1.0),
    jitter_p=0.5,
    brightness=0.2,
    contrast=0.2,
    saturation=0.1,
    hue=0.05,
    grayscale_p=0.1,
    blur_p=0.0,
    solarize_p=0.0,
)
MILD_VIEW2 = dataclasses.replace(MILD_VIEW1, solarize_p=0.1)


def toy_mild(image_size: int, mean: Sequence[float], std: Sequence[float]) -> TwoViewTransform:
    """Builds the two-view transform (byolbench's augmentation factory contract).

    It takes no ``crop_min_scale``, so byolbench's ``augment.crop_min_scale`` setting does not
    override this preset's 0.3.
    """
    return TwoViewTransform(MILD_VIEW1, MILD_VIEW2, image_size, mean, std)
