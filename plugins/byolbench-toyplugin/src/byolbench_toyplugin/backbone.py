"""``toy_convnet``: three conv-BN-ReLU stages and global average pooling, registered with timm.

Because the factory is decorated with ``timm.models.register_model``, importing this module
makes ``timm.create_model("toy_convnet")`` work too, and byolbench builds it through timm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from timm.models import register_model
from torch import nn

__all__ = ["ToyConvNet", "toy_convnet"]

TIMM_ONLY_KWARGS = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def _stage(in_chans: int, out_chans: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_chans, out_chans, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_chans),
        nn.ReLU(inplace=True),
    )


class ToyConvNet(nn.Module):
    """A small convnet with timm's feature-extractor interface.

    Args:
        widths: Channels of the three stages (the second and third halve the resolution).
        in_chans: Input channels.
        num_classes: Classifier outputs; 0 (the default) returns pooled features.
    """

    def __init__(
        self, widths: Sequence[int] = (16, 32, 64), in_chans: int = 3, num_classes: int = 0
    ) -> None:
        super().__init__()
        if len(widths) != 3 or min(widths) <= 0:
            raise ValueError(f"widths must be three positive channel counts, got {widths}")
        channels = (in_chans, *widths)
        self.stages = nn.Sequential(
            *(_stage(channels[i], channels[i + 1], 1 if i == 0 else 2) for i in range(3))
        )
        self.num_features = int(widths[-1])
        self.num_classes = num_classes
        self.head: nn.Module = nn.Identity()
        self.reset_classifier(num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        """Replaces the classifier (0: none, the model returns pooled features)."""
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def get_classifier(self) -> nn.Module:
        """The classifier layer."""
        return self.head

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map ``(B, num_features, H/4, W/4)``."""
        return self.stages(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pooling, then the classifier unless ``pre_logits``."""
        x = x.mean(dim=(2, 3))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, num_features)`` (or logits when ``num_classes`` > 0)."""
        return self.forward_head(self.forward_features(x))


@register_model
def toy_convnet(pretrained: bool = False, **kwargs: Any) -> ToyConvNet:
    """Builds a ``ToyConvNet`` (timm factory style).

    Args:
        pretrained: Must be False; there are no pretrained weights.
        **kwargs: ``widths``, ``in_chans``, ``num_classes``; timm's own keywords are ignored.

    Raises:
        ValueError: When pretrained weights are requested.
    """
    if pretrained:
        raise ValueError("toy_convnet has no pretrained weights; build it with pretrained=False")
    for key in TIMM_ONLY_KWARGS:
        kwargs.pop(key, None)
    return ToyConvNet(**kwargs)
