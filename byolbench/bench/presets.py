"""Named starting recipes for ``byolbench run`` (dotted overrides on ``RunConfig``).

* ``paper``: ``RunConfig`` defaults, the BYOL paper's ImageNet recipe (Grill et al. 2020):
  LARS, base lr 0.2 per 256 images, weight decay 1.5e-6, trust coefficient 1e-3, 10 warm-up
  epochs, tau 0.996, projector and predictor 4096 -> 256.
* ``standard``: the small-image (CIFAR) recipe of solo-learn's BYOL configs: LARS base lr 1.0,
  trust coefficient 0.02, weight decay 1e-5, tau 0.99, 200 epochs of batch 256.
* ``quick``: a demonstration on the embedded ``cifar10-mini`` that finishes in about ten
  minutes on any machine (two CPU cores included) and still shows what BYOL buys over random
  initialisation: 9 minutes of pretraining (``train.time_budget``; explicit epochs or steps
  replace it), pretraining views of three quarters of the image side (24 px for CIFAR's 32 px,
  evaluation at the full size), growing from 16 px (progressive resizing: more steps in the same
  time), resnet10t (CIFAR stem) at half its stage widths (32-64-128-256; another backbone
  keeps its own), batch 32, AdamW lr 4e-3 per 256 (5e-4 a step) warming up over the first
  quarter of the run, crops of at least 35% of the image, both views through each network in
  one pass (BatchNorm over both, as byol-pytorch does). A ViT cell keeps batch 64 and crops of
  at least 20%, the settings its recipe was measured with (``PRESET_FAMILY_SETTINGS``).
"""

from __future__ import annotations

from typing import Any

from byolbench.errors import ConfigError

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "standard": {
        "train.epochs": 200,
        "train.batch_size": 256,
        "optim.name": "lars",
        "optim.lr": 1.0,
        "optim.lars_eta": 0.02,
        "optim.weight_decay": 1e-5,
        "optim.warmup_epochs": 10.0,
        "byol.tau_base": 0.99,
    },
    "quick": {
        # Tuned on cifar10-mini for a 10-minute CPU budget (2 cores): a one-block-per-stage
        # ResNet (timm resnet10t, CIFAR stem) takes twice the steps of ResNet-18 in the same
        # time, and AdamW with small batches learned fastest in short runs (benchmarks/README.md,
        # "The default run's history").
        # Growing the views from 16 px raised the kNN gain at equal time on cifar10-mini and on
        # full CIFAR-10 (benchmarks/README.md, "progressive resizing").
        # Half the stage widths (32-64-128-256) run 2.6x the steps in the same time and
        # raised the kNN gain at ten minutes on cifar10-mini (benchmarks/README.md, "narrower
        # network"); the widths apply to the preset's own backbone only (matrix.py).
        "data.dataset": "cifar10-mini",
        "model.backbone": "resnet10t",
        "model.channels": "32,64,128,256",
        "train.time_budget": "9m",
        "augment.progressive_min_size": 16,
        # Views of 3/4 of the side (24 px of 32, FixRes) run 1.5x the steps of 32 px views in
        # the same time and raised both gains at nine minutes (benchmarks/README.md, "Views
        # smaller than the evaluation images").
        "augment.view_size_fraction": 0.75,
        # Both views through each network in one pass of twice the batch: 1.07-1.23x the
        # steps in the same ten minutes and the same or higher kNN top-1 over four seeds
        # (benchmarks/README.md, "both views in one pass").
        "byol.fuse_views": True,
        "train.epochs": 4,  # the nominal run the warm-up's share is taken from
        # Batch 32 at the same learning rate a step (4e-3 per 256), crops of at least 35% and
        # a warm-up over a quarter of the run, together: +1.65 kNN points over batch 64,
        # crops >= 20% and a 1/16 warm-up at equal time over four seeds, +2.7 on full
        # CIFAR-10 in 30 minutes (benchmarks/README.md, "three small levers together").
        "train.batch_size": 32,
        "optim.name": "adamw",
        "optim.lr": 4e-3,
        "optim.weight_decay": 1e-4,
        "optim.warmup_epochs": 1.0,
        "byol.tau_base": 0.99,
        "augment.crop_min_scale": 0.35,
    },
}

# Settings a preset holds for one backbone family only, applied with that family's recipe
# (so under everything the user wrote).
PRESET_FAMILY_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        # The quick preset's batch 32 and crops >= 35% were measured on convnets; the ViT
        # recipe was measured with batch 64 and crops >= 20% (benchmarks/vit_recipe.py).
        "vit": {"train.batch_size": 64, "augment.crop_min_scale": 0.2},
    },
}


def preset_overrides(name: str) -> dict[str, Any]:
    """The dotted overrides of preset ``name``.

    Raises:
        ConfigError: For an unknown preset.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return dict(PRESETS[name])


def preset_family_overrides(preset: str, family: str) -> dict[str, Any]:
    """The settings preset ``preset`` holds for backbone family ``family`` only (none for most)."""
    return dict(PRESET_FAMILY_SETTINGS.get(preset, {}).get(family, {}))
