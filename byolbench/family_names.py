"""The backbone family names a recipe is chosen by (``convnet``, ``vit``).

Kept apart from ``byolbench.models.family``, which reads a backbone's structure with timm and
torch, so that expanding a matrix (``byolbench status``) does not import them.
"""

from __future__ import annotations

VIT = "vit"
CONVNET = "convnet"
FAMILIES = (CONVNET, VIT)
