"""Checks of a whole matrix before any cell starts."""

from __future__ import annotations

from collections.abc import Sequence

from byolbench.augment.presets import AUGMENTATIONS, resolve_preset_name
from byolbench.bench.matrix import Cell
from byolbench.data.registry import DATASETS, split_name
from byolbench.errors import ConfigError, unknown_name_message
from byolbench.models.backbone import ALIASES, is_timm_model
from byolbench.models.registry import BACKBONES


def check_names(cells: Sequence[Cell]) -> None:
    """Fails fast on unknown backbone, dataset or augmentation names before any training.

    Raises:
        ConfigError: For the first unknown name (with close matches).
    """
    for cell in cells:
        name = ALIASES.get(cell.backbone, cell.backbone)
        if not is_timm_model(name) and name not in BACKBONES:
            import timm

            choices = [*ALIASES, *BACKBONES.names(), *timm.list_models()]
            raise ConfigError(
                unknown_name_message(
                    "backbone", cell.backbone, choices, "See `byolbench list backbones --all-timm`."
                )
            )
        dataset = split_name(cell.dataset)[0]
        if dataset not in DATASETS:
            raise ConfigError(
                unknown_name_message(
                    "dataset", cell.dataset, DATASETS.names(), "See `byolbench list datasets`."
                )
            )
        augmentation = resolve_preset_name(cell.augmentation, 32)
        if cell.augmentation != "auto" and augmentation not in AUGMENTATIONS:
            raise ConfigError(
                unknown_name_message(
                    "augmentation",
                    cell.augmentation,
                    [*AUGMENTATIONS.names(), "auto"],
                    "See `byolbench list augmentations`.",
                )
            )
