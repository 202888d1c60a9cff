"""Pieces of a cell's evaluation stage: pre-flight checks of the evaluation settings, the
online probes of BYOL and of the init baselines, transfer normalisation and embedding maps."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from byolbench.bench.matrix import Cell
from byolbench.config import EvalConfig, RunConfig
from byolbench.data.base import DatasetInfo, DatasetSplits
from byolbench.data.registry import DATASETS, split_name
from byolbench.errors import ByolbenchError, ConfigError, unknown_name_message
from byolbench.eval.embedding_map import MAP_FILE, check_map_method, write_embedding_maps
from byolbench.eval.evaluate import OnlineProbeResult
from byolbench.train.online_probe import OnlineProbe, train_frozen_probe

logger = logging.getLogger(__name__)

ONLINE_TRAINED = "online, on the pretraining batches' labels, during BYOL"
FROZEN_TRAINED = (
    "online recipe on the frozen init backbone (eval mode): the same batches, views, steps "
    "and schedule as the BYOL run's probe"
)


def check_evaluation(cells: Sequence[Cell]) -> None:
    """Fails before any training on unknown transfer datasets or a missing map library.

    Raises:
        ConfigError: One line naming the setting and how to fix it.
    """
    for cell in cells:
        settings = cell.config.eval
        for name in settings.datasets:
            if split_name(name)[0] not in DATASETS:
                raise ConfigError(
                    unknown_name_message(
                        "eval dataset",
                        name,
                        DATASETS.names(),
                        "See `byolbench list datasets`.",
                    )
                )
        check_map_method(settings.embedding_map)


def with_statistics(splits: DatasetSplits, pretraining: DatasetInfo) -> DatasetSplits:
    """``splits`` normalised with the pretraining dataset's mean and std (the statistics the
    backbone was trained with), as ``byolbench evaluate`` does for transfer."""
    info = dataclasses.replace(splits.info, mean=pretraining.mean, std=pretraining.std)
    return DatasetSplits(info, splits.pretrain, splits.train, splits.test)


def _recipe(config: EvalConfig, probe: OnlineProbe) -> dict[str, Any]:
    return {
        "optimizer": "sgd",
        "momentum": 0.9,
        "lr": config.online_lr,
        "weight_decay": config.online_weight_decay,
        "schedule": "cosine",
        "updates": probe.updates,
        "train_seconds": round(probe.seconds, 2),
    }


def online_probe_result(
    probe: OnlineProbe | None, config: EvalConfig | None = None
) -> OnlineProbeResult | None:
    """The BYOL run's online probe as an ``online-linear`` input (``None`` when off)."""
    if probe is None:
        return None
    details = {"trained": ONLINE_TRAINED, **_recipe(config or EvalConfig(), probe)}
    return OnlineProbeResult(probe.head, details)


def frozen_probe_result(
    backbone: nn.Module,
    splits: DatasetSplits,
    config: RunConfig,
    image_size: int,
    result: Any,
    eval_kwargs: dict[str, Any],
) -> OnlineProbeResult | None:
    """Trains the online recipe on a frozen init backbone for as many batches as the BYOL
    run's probe saw (the init baseline of ``online-linear``)."""
    micro_batch = result.global_batch // max(1, config.train.grad_accum_steps)
    probe = train_frozen_probe(
        backbone,
        splits,
        config,
        image_size,
        result.online_probe.updates,
        micro_batch,
        result.total_steps,
        eval_kwargs["device"],
        eval_kwargs["autocast_dtype"],
        eval_kwargs["channels_last"],
    )
    if probe is None:
        return None
    details = {"trained": FROZEN_TRAINED, **_recipe(config.eval, probe)}
    return OnlineProbeResult(probe.head, details)


class EmbeddingMapCollector:
    """Keeps the in-domain test features of each method for the 2-D map, then writes it.

    Args:
        config: The evaluation settings (``embedding_map``, ``embedding_map_samples``).
        enabled: False on processes other than the main one.
    """

    def __init__(self, config: EvalConfig, enabled: bool = True) -> None:
        self.method = config.embedding_map
        self.samples = config.embedding_map_samples
        self.enabled = enabled and self.method != "off"
        self.features: dict[str, torch.Tensor] = {}

    def collect(self, method: str, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Keeps ``features`` of ``method`` (hook of ``evaluate_backbone``)."""
        del labels
        if self.enabled:
            self.features[method] = features.detach()

    def write(self, run_dir: Path, labels: torch.Tensor, seed: int) -> Path | None:
        """Writes ``embedding_map.csv``; a failure is logged, never fatal to the cell."""
        if not self.enabled or not self.features:
            return None
        try:
            path = write_embedding_maps(
                Path(run_dir) / MAP_FILE, self.features, labels, self.method, self.samples, seed
            )
        except (ByolbenchError, ValueError, RuntimeError) as exc:
            logger.warning("embedding map skipped: %s", str(exc).splitlines()[0])
            return None
        finally:
            self.features.clear()
        logger.info("wrote the %s embedding map to %s", self.method, path)
        return path
