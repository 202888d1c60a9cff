"""Backbones (any timm model, aliases, plugins) and BYOL MLP heads."""

from byolbench.models.backbone import BackboneSpec, backbone_spec, create_backbone
from byolbench.models.heads import MLPHead

__all__ = ["BackboneSpec", "MLPHead", "backbone_spec", "create_backbone"]
