"""Which family a backbone belongs to, for its starting recipe: ``vit`` or ``convnet``.

A backbone is a vision transformer (``vit``) when it is built from self-attention blocks:
timm's transformer modules (ViT, DeiT, EVA, BEiT, Swin, CaiT, XCiT, ...) are recognised by
the module that defines them; any other timm model or plugin by its structure, read from a
weightless (meta-device) instance: a ``torch.nn.MultiheadAttention`` or a block with linear
query/key/value projections (``qkv``, ``q``/``k``/``v``, ``q_proj``/``k_proj``/``v_proj``,
``q``/``kv``). Everything else (ResNet, ConvNeXt, EfficientNet, MobileNet, RegNet, ...) is a
``convnet``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import timm
import torch
from torch import nn

from byolbench.errors import ByolbenchError
from byolbench.family_names import CONVNET, VIT
from byolbench.models.backbone import VIT_MODULES, is_timm_model, resolve_name
from byolbench.models.registry import BACKBONES

logger = logging.getLogger(__name__)

TRANSFORMER_MODULES = VIT_MODULES | {
    f"timm.models.{name}"
    for name in (
        "cait",
        "crossvit",
        "davit",
        "efficientformer",
        "efficientformer_v2",
        "eva",
        "focalnet",
        "gcvit",
        "hiera",
        "levit",
        "maxxvit",
        "mvitv2",
        "naflexvit",
        "pit",
        "pvt_v2",
        "swin_transformer",
        "swin_transformer_v2",
        "swin_transformer_v2_cr",
        "tiny_vit",
        "tnt",
        "twins",
        "vision_transformer_hybrid",
        "vision_transformer_sam",
        "volo",
        "xcit",
    )
}
PROJECTION_NAMES = (("qkv",), ("q", "k", "v"), ("q_proj", "k_proj", "v_proj"), ("q", "kv"))


def has_self_attention(model: nn.Module) -> bool:
    """Whether ``model`` contains a self-attention block with linear projections."""
    for module in model.modules():
        if isinstance(module, nn.MultiheadAttention):
            return True
        for names in PROJECTION_NAMES:
            if all(isinstance(getattr(module, n, None), nn.Linear) for n in names):
                return True
    return False


def _probe(build: Callable[[], nn.Module], name: str) -> str:
    """The family of the module ``build`` makes on the meta device (no memory, no weights)."""
    try:
        with torch.device("meta"):
            model = build()
    except Exception as exc:  # any plugin code may run here; the cell reports real errors
        logger.debug("family of %s: could not build it on the meta device (%s)", name, exc)
        return CONVNET
    return VIT if isinstance(model, nn.Module) and has_self_attention(model) else CONVNET


@functools.lru_cache(maxsize=256)
def backbone_family(name: str) -> str:
    """``vit`` or ``convnet`` for a timm name, alias or backbone plugin.

    Unknown or broken names count as ``convnet``; building the cell reports their error.
    """
    try:
        if name in BACKBONES:
            factory: Any = BACKBONES.get(name)  # importing may register it with timm
            if not is_timm_model(name):
                if getattr(factory, "__module__", "") in TRANSFORMER_MODULES:
                    return VIT
                return _probe(lambda: factory(pretrained=False), name)
        arch = timm.models.split_model_name_tag(resolve_name(name))[0]
        if not timm.models.is_model(arch):
            return CONVNET
    except ByolbenchError as exc:
        logger.debug("family of %s: %s", name, exc)
        return CONVNET
    if timm.models.model_entrypoint(arch).__module__ in TRANSFORMER_MODULES:
        return VIT
    return _probe(lambda: timm.create_model(arch, pretrained=False, num_classes=0), name)
