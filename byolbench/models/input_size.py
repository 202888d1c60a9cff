"""Whether a backbone can take a given image size, checked without weights or data.

The backbone is built on the meta device (no memory, no weights) and run on two images of the
size; only when that fails is it confirmed on the CPU with real tensors (some ops have no meta
kernel). Failing sizes get the smallest size of ``SIZE_LADDER`` that works on the meta device.
"""

from __future__ import annotations

import functools
import logging

import torch

from byolbench.errors import ByolbenchError
from byolbench.models.backbone import create_backbone

logger = logging.getLogger(__name__)

SIZE_LADDER = (16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256, 299, 320, 384, 448, 512)


def _forward(name: str, image_size: int, small_image_stem: str, device: str) -> str:
    """``""`` when the backbone runs at ``image_size`` on ``device``, else why not."""
    try:
        with torch.device(device), torch.no_grad():
            model = create_backbone(name, image_size, small_image_stem=small_image_stem)
            model.eval()
            model(torch.zeros(2, 3, image_size, image_size))
    except (RuntimeError, ValueError, AssertionError, NotImplementedError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return text[:160]
    return ""


@functools.lru_cache(maxsize=256)
def runs_at(name: str, image_size: int, small_image_stem: str, confirm: bool = True) -> str:
    """``""`` when backbone ``name`` takes ``image_size`` px input, else the reason it fails.

    Args:
        name: Backbone name.
        image_size: Input side length.
        small_image_stem: ``auto``, ``on`` or ``off``.
        confirm: Confirm a failure on the meta device with real tensors on the CPU.

    Raises:
        ByolbenchError: For an unknown or broken backbone.
    """
    reason = _forward(name, image_size, small_image_stem, "meta")
    if not reason or not confirm:
        return reason
    return _forward(name, image_size, small_image_stem, "cpu")


def input_size_problem(name: str, image_size: int, small_image_stem: str = "auto") -> str:
    """A one-line problem when ``name`` cannot take ``image_size`` px, else ``""``.

    Raises:
        ByolbenchError: For an unknown or broken backbone.
    """
    reason = runs_at(name, image_size, small_image_stem)
    if not reason:
        return ""
    minimum = None
    for size in SIZE_LADDER:
        if size <= image_size:
            continue
        try:
            if not runs_at(name, size, small_image_stem, confirm=False):
                minimum = size
                break
        except ByolbenchError:
            break
    fix = f"use at least {minimum} px" if minimum else "use a larger image size"
    return (
        f"data.image_size={image_size}: too small for backbone {name} ({reason}); {fix}, "
        f"e.g. --set data.image_size={minimum or 224}"
    )
