"""Two-view BYOL augmentation on batches with per-sample parameters, and presets."""

from byolbench.augment.presets import AUGMENTATIONS, create_augmentation, resolve_preset_name
from byolbench.augment.transforms import EvalTransform, IdentityTwoView, TwoViewTransform
from byolbench.augment.view import ViewParams, ViewSpec

__all__ = [
    "AUGMENTATIONS",
    "EvalTransform",
    "IdentityTwoView",
    "TwoViewTransform",
    "ViewParams",
    "ViewSpec",
    "create_augmentation",
    "resolve_preset_name",
]
