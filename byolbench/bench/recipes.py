"""A starting recipe per backbone family, applied to the keys the user did not set.

The preset (``standard``, ``paper``, ``quick``) is a convnet recipe: LARS for ``standard`` and
``paper``, as in the BYOL paper and solo-learn. Vision transformers are not trained with LARS
at lr 1.0 in any published self-supervised recipe, so a ViT cell gets the ``vit`` recipe on
top of the preset: the optimiser, schedule and target settings of DINO and MoCo v3, the two
reference recipes for self-supervised ViTs.

Precedence, lowest to highest: defaults, preset, family recipe, the TOML file's
``[defaults]``, ``[datasets.<name>]`` and ``[backbones.<name>]``, command-line options and
``--set``. A recipe key the user set anywhere is left alone; when the user picks another
optimiser (``optim.name``) the recipe's learning rate and weight decay, which belong to its
optimiser, are left alone too.

Sources (ViT-S/16 on ImageNet):

* DINO: Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers",
  github.com/facebookresearch/dino ``main_dino.py`` defaults.
* MoCo v3: Chen, Xie and He 2021, "An Empirical Study of Training Self-Supervised Vision
  Transformers", github.com/facebookresearch/moco-v3 (``CONFIG.md``).
* Beyer, Zhai and Kolesnikov 2022, "Better plain ViT baselines for ImageNet-1k": global
  average pooling instead of the class token.
* Liu et al. 2023, "PatchDropout: Economizing Vision Transformers Using Patch Dropout": half
  of the patch tokens dropped at random while training.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from byolbench.bench.presets import preset_family_overrides
from byolbench.config import RunConfig
from byolbench.errors import ByolbenchError, ConfigError
from byolbench.family_names import CONVNET, FAMILIES, VIT

AUTO = "auto"
RECIPE_CHOICES = (AUTO, *FAMILIES)
# Keys whose recipe value only makes sense with the recipe's own optimiser.
OPTIMIZER_BOUND_KEYS = ("optim.lr", "optim.weight_decay")
# DINO: 10 warm-up epochs of its 100-epoch ViT-S schedule (MoCo v3: 40 of 300).
VIT_WARMUP_FRACTION = 0.1


def _convnet(config: RunConfig) -> dict[str, Any]:
    """The preset's own recipe (LARS with the bias/norm exclusions for paper/standard)."""
    del config
    return {}


@functools.lru_cache(maxsize=64)
def _takes_token_options(backbone: str) -> bool:
    """Whether the backbone is a ViT with patch tokens to average and to drop (timm's
    VisionTransformer, DeiT, EVA; not Swin or other attention models)."""
    from byolbench.models.backbone import model_kwargs_problem

    try:
        return not model_kwargs_problem(backbone, 224, global_pool="avg", patch_drop_rate=0.5)
    except ByolbenchError:
        return False


def _token_options(config: RunConfig) -> dict[str, Any]:
    """Average pooling and PatchDropout for ViTs with patch tokens."""
    if not _takes_token_options(config.model.backbone):
        return {}
    return {
        # Beyer, Zhai and Kolesnikov 2022, "Better plain ViT baselines for ImageNet-1k":
        # global average pooling of the patch tokens instead of the class token. At random
        # init a ViT's class token is nearly the same for every image, which slows short
        # self-supervised runs (benchmarks/README.md, "ViT recipe").
        "model.global_pool": "avg",
        # Liu et al. 2023, "PatchDropout: Economizing Vision Transformers Using Patch
        # Dropout" (and FLIP, Li et al. 2023): half of the patch tokens of each view, dropped
        # at random while pretraining, about halve a step's time at little cost in accuracy;
        # evaluation sees every token.
        "model.patch_drop_rate": 0.5,
    }


def _vit(config: RunConfig) -> dict[str, Any]:
    """AdamW with warm-up, DINO's learning rate, weight decay and clipping, MoCo v3's tau;
    average pooling and PatchDropout where the ViT has patch tokens."""
    return {
        **_token_options(config),
        # DINO ("we recommend using adamw with ViTs") and MoCo v3 both train ViTs with
        # AdamW; torch's default betas (0.9, 0.999), as DINO.
        "optim.name": "adamw",
        # DINO: lr 0.0005 x batch / 256 (byolbench scales optim.lr per 256 the same way).
        "optim.lr": 5e-4,
        # DINO: weight decay 0.04 (its starting value; DINO raises it to 0.4 on a cosine,
        # byolbench keeps it constant). Biases and norms are excluded as for every optimiser.
        "optim.weight_decay": 0.04,
        # DINO: 10 warm-up epochs of 100, i.e. a tenth of the run, then cosine decay.
        "optim.warmup_epochs": round(VIT_WARMUP_FRACTION * config.train.epochs, 4),
        # DINO: gradient norm clipped at 3.0 (--clip_grad 3.0), against ViT loss spikes.
        "optim.grad_clip": 3.0,
        # MoCo v3 for ViTs: momentum 0.99 rising to 1 on a cosine (--moco-m 0.99
        # --moco-m-cos); the faster-moving target also suits short runs (DINO: 0.996).
        "byol.tau_base": 0.99,
        # A ViT is built for one input size (its position embeddings): its views keep the
        # full size (the quick preset's smaller and growing views are for convnets).
        "augment.progressive_min_size": 0,
        "augment.view_size_fraction": 1.0,
    }


@dataclass(frozen=True)
class FamilyRecipe:
    """A backbone family's starting recipe.

    Attributes:
        family: ``convnet`` or ``vit``.
        summary: One line for listings and dry runs.
        values: Builds the dotted settings from the config resolved so far (the ViT warm-up
            is a fraction of ``train.epochs``).
    """

    family: str
    summary: str
    values: Callable[[RunConfig], dict[str, Any]]


RECIPES: dict[str, FamilyRecipe] = {
    CONVNET: FamilyRecipe(CONVNET, "the preset as it is (LARS for paper and standard)", _convnet),
    VIT: FamilyRecipe(
        VIT,
        "AdamW lr 5e-4/256, weight decay 0.04, warm-up 10% of the epochs, gradient clip 3.0 "
        "(DINO), tau 0.99 (MoCo v3); average pooling (Beyer et al. 2022) and half the patch "
        "tokens dropped while pretraining (PatchDropout) where the ViT has patch tokens; "
        "views at the full image size",
        _vit,
    ),
}


def check_recipe(name: str, source: str) -> str:
    """Returns ``name`` when it is a recipe choice.

    Raises:
        ConfigError: Otherwise.
    """
    if name not in RECIPE_CHOICES:
        raise ConfigError(
            f"recipe {name!r} in {source} is invalid; valid: {', '.join(RECIPE_CHOICES)} "
            "(auto picks the backbone's family)"
        )
    return name


def family_for(recipe: str, backbone: str) -> str:
    """The family whose recipe a cell gets: ``recipe`` itself, or the backbone's when auto."""
    if recipe != AUTO:
        return recipe
    from byolbench.models.family import backbone_family

    return backbone_family(backbone)


def recipe_overrides(
    family: str, config: RunConfig, user_keys: Collection[str], preset: str
) -> dict[str, Any]:
    """The recipe settings of ``family`` for ``config`` that the user did not set.

    Args:
        family: ``convnet`` or ``vit``.
        config: The cell's config with everything the user wrote applied.
        user_keys: Dotted keys set by the TOML file, command-line options or ``--set``.
        preset: The cell's preset, whose settings for ``family`` (``quick``: batch 64 and
            crops >= 20% for ViTs) join the recipe's.
    """
    values = {**preset_family_overrides(preset, family), **RECIPES[family].values(config)}
    skipped = set(user_keys)
    if "optim.name" in skipped and values.get("optim.name") != config.optim.name:
        skipped.update(OPTIMIZER_BOUND_KEYS)
    return {k: v for k, v in values.items() if k not in skipped}
