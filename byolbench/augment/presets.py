"""Built-in augmentation presets and the ``byolbench.augmentations`` registry.

A preset is a factory ``fn(image_size, mean, std, **options) -> transform`` where the
transform maps ``(uint8 batch, torch.Generator)`` to two normalised float views.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch

from byolbench.augment.transforms import IdentityTwoView, TwoViewTransform
from byolbench.augment.view import ViewSpec
from byolbench.errors import ConfigError, PluginError
from byolbench.registry import Registry, signature_problem

SMALL_IMAGE_MAX = 64

# The paper's asymmetric views (Grill et al. 2020, Table 6).
BYOL_VIEW1 = ViewSpec(blur_p=1.0, solarize_p=0.0)
BYOL_VIEW2 = ViewSpec(blur_p=0.1, solarize_p=0.2)


FACTORY_CALL = "fn(image_size, mean, std, **options) -> transform"
PROBE_IMAGE_SIZE = 32


def _validate_augmentation(name: str, factory: Any) -> None:
    """The load-time contract: a callable taking image_size, mean and std as keywords."""
    del name
    if not callable(factory):
        raise PluginError(
            f"the entry point must name a factory {FACTORY_CALL}, got a "
            f"{type(factory).__name__}; point it at the function (module:function)"
        )
    problem = signature_problem(factory, keywords=("image_size", "mean", "std"))
    if problem:
        raise PluginError(f"{problem}; an augmentation factory is called as {FACTORY_CALL}")


def _probe_augmentation(name: str, factory: Any) -> None:
    """Builds the preset at 32 px and checks its two views of a random uint8 batch."""
    del factory
    generator = torch.Generator().manual_seed(0)
    size = PROBE_IMAGE_SIZE
    images = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8, generator=generator)
    views = create_augmentation(name, size, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))(images, generator)
    ok = (
        isinstance(views, (tuple, list))
        and len(views) == 2
        and all(
            isinstance(v, torch.Tensor) and v.is_floating_point() and v.shape == (2, 3, size, size)
            for v in views
        )
    )
    if not ok:
        got = [
            tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            for v in (views if isinstance(views, (tuple, list)) else [views])
        ]
        raise AUGMENTATIONS.contract_error(
            name,
            f"transform(uint8 (2, 3, {size}, {size}), generator) must return two float "
            f"tensors of shape (2, 3, {size}, {size}); got {got}",
        )


AUGMENTATIONS: Registry[Callable[..., Any]] = Registry(
    "augmentation",
    "byolbench.augmentations",
    validate=_validate_augmentation,
    hint="See `byolbench list augmentations`.",
)
AUGMENTATIONS.set_probe(_probe_augmentation)


def _with_crop(spec: ViewSpec, crop_min_scale: float) -> ViewSpec:
    return dataclasses.replace(spec, crop_scale=(crop_min_scale, spec.crop_scale[1]))


def _with_jitter(spec: ViewSpec, strength: float) -> ViewSpec:
    """``spec`` with its colour jitter ranges scaled by ``strength`` (SimCLR's ``s``)."""
    return dataclasses.replace(
        spec,
        brightness=spec.brightness * strength,
        contrast=spec.contrast * strength,
        saturation=spec.saturation * strength,
        hue=spec.hue * strength,
    )


@AUGMENTATIONS.register("byol")
def byol_preset(
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    crop_min_scale: float = 0.08,
    jitter_strength: float = 1.0,
) -> TwoViewTransform:
    """The paper's views: blur 1.0 / 0.1, solarize 0.0 / 0.2."""
    return TwoViewTransform(
        _with_jitter(_with_crop(BYOL_VIEW1, crop_min_scale), jitter_strength),
        _with_jitter(_with_crop(BYOL_VIEW2, crop_min_scale), jitter_strength),
        image_size,
        mean,
        std,
    )


@AUGMENTATIONS.register("byol-small")
def byol_small_preset(
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    crop_min_scale: float = 0.08,
    jitter_strength: float = 1.0,
) -> TwoViewTransform:
    """The paper's views without Gaussian blur, the usual choice at 32 px (CIFAR)."""
    view1, view2 = (dataclasses.replace(v, blur_p=0.0) for v in (BYOL_VIEW1, BYOL_VIEW2))
    return TwoViewTransform(
        _with_jitter(_with_crop(view1, crop_min_scale), jitter_strength),
        _with_jitter(_with_crop(view2, crop_min_scale), jitter_strength),
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


def jitter_strength_problem(name: str, strength: float, image_size: int = 32) -> str:
    """Why augmentation ``name`` cannot take colour jitter strength ``strength`` (``""``: it
    can, or the strength is the default 1, which every augmentation takes as it is)."""
    resolved = resolve_preset_name(name, image_size)
    if strength == 1.0 or resolved not in AUGMENTATIONS:
        return ""
    if "jitter_strength" in inspect.signature(AUGMENTATIONS.get(resolved)).parameters:
        return ""
    return (
        f"augment.jitter_strength={strength:g} needs an augmentation with colour jitter "
        f"(byol, byol-small); {resolved!r} takes none: leave the setting out or use "
        "--augmentations byol-small"
    )


def create_augmentation(
    name: str,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    crop_min_scale: float = 0.08,
    jitter_strength: float = 1.0,
) -> Any:
    """Builds the two-view transform registered as ``name`` (``auto`` allowed).

    Raises:
        PluginError: For an unknown name (with close matches) or a broken plugin.
        ConfigError: For a jitter strength other than 1 and an augmentation without one.
    """
    resolved = resolve_preset_name(name, image_size)
    factory = AUGMENTATIONS.get(resolved)
    kwargs: dict[str, Any] = {}
    parameters = inspect.signature(factory).parameters
    if "crop_min_scale" in parameters:
        kwargs["crop_min_scale"] = crop_min_scale
    if "jitter_strength" in parameters:
        kwargs["jitter_strength"] = jitter_strength
    elif problem := jitter_strength_problem(resolved, jitter_strength):
        raise ConfigError(problem)
    with AUGMENTATIONS.guard(resolved, "to build"):
        transform = factory(image_size=image_size, mean=tuple(mean), std=tuple(std), **kwargs)
    if not callable(transform):
        raise AUGMENTATIONS.contract_error(
            resolved,
            f"the factory returned {type(transform).__name__}, which is not callable "
            "as transform(uint8_batch, generator) -> (view1, view2)",
        )
    return transform
