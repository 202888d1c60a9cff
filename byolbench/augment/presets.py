"""Built-in augmentation presets and the ``byolbench.augmentations`` registry.

A preset is a factory ``fn(image_size, mean, std, **options) -> transform`` where the
transform maps ``(uint8 batch, torch.Generator)`` to two normalised float views.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from byolbench.augment.transforms import IdentityTwoView, TwoViewTransform
from byolbench.augment.view import ViewSpec
from byolbench.errors import PluginError
from byolbench.registry import Registry

SMALL_IMAGE_MAX = 64

# The paper's asymmetric views (Grill et al. 2020, Table 6).
BYOL_VIEW1 = ViewSpec(blur_p=1.0, solarize_p=0.0)
BYOL_VIEW2 = ViewSpec(blur_p=0.1, solarize_p=0.2)


def _validate_augmentation(name: str, factory: Any) -> None:
    if not callable(factory):
        raise PluginError(
            f"augmentation plugin {name!r} must point to a factory "
            f"fn(image_size, mean, std) -> transform, got {type(factory).__name__}"
        )


AUGMENTATIONS: Registry[Callable[..., Any]] = Registry(
    "augmentation",
    "byolbench.augmentations",
    validate=_validate_augmentation,
    hint="See `byolbench list augmentations`.",
)


def _with_crop(spec: ViewSpec, crop_min_scale: float) -> ViewSpec:
    return dataclasses.replace(spec, crop_scale=(crop_min_scale, spec.crop_scale[1]))


@AUGMENTATIONS.register("byol")
def byol_preset(
    image_size: int, mean: Sequence[float], std: Sequence[float], crop_min_scale: float = 0.08
) -> TwoViewTransform:
    """The paper's views: blur 1.0 / 0.1, solarize 0.0 / 0.2."""
    return TwoViewTransform(
        _with_crop(BYOL_VIEW1, crop_min_scale),
        _with_crop(BYOL_VIEW2, crop_min_scale),
        image_size,
        mean,
        std,
    )


@AUGMENTATIONS.register("byol-small")
def byol_small_preset(
    image_size: int, mean: Sequence[float], std: Sequence[float], crop_min_scale: float = 0.08
) -> TwoViewTransform:
    """The paper's views without Gaussian blur, the usual choice at 32 px (CIFAR)."""
    return TwoViewTransform(
        _with_crop(dataclasses.replace(BYOL_VIEW1, blur_p=0.0), crop_min_scale),
        _with_crop(dataclasses.replace(BYOL_VIEW2, blur_p=0.0), crop_min_scale),
        image_size,
        mean,
        std,
    )


@AUGMENTATIONS.register("none")
def none_preset(
    image_size: int, mean: Sequence[float], std: Sequence[float], crop_min_scale: float = 0.08
) -> IdentityTwoView:
    """No augmentation: both views are the evaluation transform (for checks and evaluation)."""
    del crop_min_scale
    return IdentityTwoView(image_size, mean, std)


def resolve_preset_name(name: str, image_size: int) -> str:
    """``auto`` becomes ``byol-small`` at 64 px and below, ``byol`` above."""
    if name != "auto":
        return name
    return "byol-small" if image_size <= SMALL_IMAGE_MAX else "byol"


def create_augmentation(
    name: str,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    crop_min_scale: float = 0.08,
) -> Any:
    """Builds the two-view transform registered as ``name`` (``auto`` allowed).

    Raises:
        PluginError: For an unknown name (with close matches) or a broken plugin.
    """
    factory = AUGMENTATIONS.get(resolve_preset_name(name, image_size))
    kwargs: dict[str, Any] = {}
    if "crop_min_scale" in inspect.signature(factory).parameters:
        kwargs["crop_min_scale"] = crop_min_scale
    transform = factory(image_size=image_size, mean=tuple(mean), std=tuple(std), **kwargs)
    if not callable(transform):
        raise PluginError(
            f"augmentation {name!r} returned {type(transform).__name__}, which is not callable "
            "as transform(uint8_batch, generator) -> (view1, view2)"
        )
    return transform
