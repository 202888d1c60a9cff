"""Evaluate a backbone with every configured protocol (kNN sweep, linear, few-shot,
fine-tuning, online linear), each row with the RankMe of its test features."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from byolbench.augment.transforms import EvalTransform
from byolbench.config import EvalConfig
from byolbench.data.base import DatasetSplits
from byolbench.eval.features import extract_features
from byolbench.eval.fewshot import fewshot_probe
from byolbench.eval.finetune import finetune
from byolbench.eval.knn import knn_sweep
from byolbench.eval.linear import linear_probe
from byolbench.eval.rankme import rankme

logger = logging.getLogger(__name__)


FROZEN_PROTOCOLS = ("knn", "linear", "fewshot")


@dataclass
class EvalRow:
    """One (method, protocol, variant) result.

    Attributes:
        method: ``byol``, ``random`` or another label of where the weights came from.
        protocol: ``knn``, ``linear``, ``fewshot``, ``finetune`` or ``online-linear``.
        top1: Top-1 accuracy in percent on the test split.
        top5: Top-5 accuracy in percent.
        details: Protocol settings and choices (k, temperature, chosen L2, ...).
        rankme: RankMe of the backbone's test-set features (NaN when not measured).
        eval_dataset: The dataset evaluated on, when it is not the pretraining dataset.
        train_samples: Labelled training images of that dataset (0: not recorded here).
    """

    method: str
    protocol: str
    top1: float
    top5: float
    details: dict[str, Any] = field(default_factory=dict)
    rankme: float = math.nan
    eval_dataset: str = ""
    train_samples: int = 0


@dataclass
class OnlineProbeResult:
    """The online probe to score on the test features, and how it was trained.

    Attributes:
        head: Maps ``(N, D)`` features to logits (the probe's linear layer).
        details: Its recipe (lr, steps, ...) for the row.
    """

    head: Callable[[torch.Tensor], torch.Tensor]
    details: dict[str, Any] = field(default_factory=dict)


def _knn_rows(
    method: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    n_classes: int,
    config: EvalConfig,
) -> list[EvalRow]:
    results = knn_sweep(*train, *test, n_classes, config.knn_ks, config.knn_temperature)
    rows = []
    seen: set[int] = set()
    for knn in results:
        if knn.k in seen:  # several k capped at a small training split
            continue
        seen.add(knn.k)
        details: dict[str, Any] = {"k": knn.k, "temperature": knn.temperature}
        if knn.k == min(config.knn_k, train[0].shape[0]):
            details["headline"] = True
        rows.append(EvalRow(method, "knn", knn.top1, knn.top5, details))
    return rows


def _linear_row(
    method: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    n_classes: int,
    config: EvalConfig,
    seed: int,
) -> EvalRow:
    probe = linear_probe(
        *train,
        *test,
        n_classes,
        config.linear_l2_grid,
        config.linear_val_fraction,
        config.linear_max_iter,
        seed,
    )
    details = {
        "l2": probe.l2,
        "val_top1": round(probe.val_top1, 2),
        "val_fraction": config.linear_val_fraction,
    }
    return EvalRow(method, "linear", probe.top1, probe.top5, details)


def _fewshot_rows(
    method: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    n_classes: int,
    config: EvalConfig,
    seed: int,
) -> list[EvalRow]:
    results = fewshot_probe(
        *train,
        *test,
        n_classes,
        config.fewshot_fractions,
        config.linear_l2_grid,
        config.fewshot_val_fraction,
        config.linear_max_iter,
        seed,
    )
    return [
        EvalRow(
            method,
            "fewshot",
            r.top1,
            r.top5,
            {
                "variant": r.variant,
                "fraction": r.fraction,
                "labels": r.labels,
                "per_class": r.per_class,
                "l2": r.l2,
                "val_top1": round(r.val_top1, 2),
                "val_fraction": config.fewshot_val_fraction,
                "subset_seed": seed,
            },
        )
        for r in results
    ]


def _finetune_row(
    method: str,
    backbone: nn.Module,
    splits: DatasetSplits,
    config: EvalConfig,
    image_size: int,
    device: torch.device | str,
    autocast_dtype: torch.dtype | None,
    channels_last: bool,
    seed: int,
) -> EvalRow:
    result = finetune(
        backbone, splits, config, image_size, device, autocast_dtype, channels_last, seed
    )
    recipe = result.recipe
    details = {
        "lr": result.lr,
        "val_top1": round(result.val_top1, 2),
        "val_by_lr": {f"{lr:g}": round(v, 2) for lr, v in result.val_by_lr.items()},
        "val_fraction": config.finetune_val_fraction,
        "optimizer": recipe.optimizer,
        "family": recipe.family,
        "weight_decay": recipe.weight_decay,
        "layer_decay": recipe.layer_decay,
        "epochs": result.epochs,
        "steps": result.steps,
        "batch_size": result.batch_size,
        "warmup_epochs": config.finetune_warmup_epochs,
        "crop_min_scale": config.finetune_crop_min_scale,
    }
    return EvalRow(method, "finetune", result.top1, result.top5, details)


@torch.no_grad()
def _online_row(
    method: str, probe: OnlineProbeResult, test: tuple[torch.Tensor, torch.Tensor]
) -> EvalRow:
    features, labels = test
    logits = probe.head(features.float()).float()
    top = logits.topk(min(5, logits.shape[1]), dim=1).indices
    y = labels.to(top.device)
    top1 = (top[:, 0] == y).float().mean().item() * 100.0
    top5 = (top == y.unsqueeze(1)).any(dim=1).float().mean().item() * 100.0
    return EvalRow(method, "online-linear", top1, top5, dict(probe.details))


def evaluate_backbone(
    backbone: nn.Module,
    splits: DatasetSplits,
    config: EvalConfig,
    image_size: int,
    method: str,
    device: torch.device | str = "cpu",
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    seed: int = 0,
    accelerator: Any = None,
    online_probe: OnlineProbeResult | None = None,
    on_test_features: Callable[[str, torch.Tensor, torch.Tensor], None] | None = None,
) -> list[EvalRow]:
    """Runs each configured protocol on ``backbone`` (the ONLINE backbone, for BYOL).

    Frozen-feature protocols (kNN sweep, linear, few-shot) share one extraction of the train
    and test features; fine-tuning trains copies of the backbone; ``online-linear`` scores the
    given probe on the test features (skipped, with a warning, when there is none). Every row
    carries the RankMe of the test features.

    With an ``accelerator`` of several processes, feature extraction is shared by all of
    them (each must call this), and only the main process runs the protocols; the others
    return an empty list.

    Args:
        online_probe: The online probe trained during pretraining (``online-linear``).
        on_test_features: Called as ``fn(method, test_features, test_labels)`` once the test
            features exist (the embedding map uses it).
    """
    protocols = config.protocols
    transform = EvalTransform(image_size, splits.info.mean, splits.info.std, splits.info.crop_pct)
    start = time.perf_counter()
    extract = {
        "device": device,
        "batch_size": config.batch_size,
        "autocast_dtype": autocast_dtype,
        "channels_last": channels_last,
        "accelerator": accelerator,
    }
    frozen = any(p in FROZEN_PROTOCOLS for p in protocols)
    train_x = (
        extract_features(backbone, splits.train.images, transform, **extract) if frozen else None
    )
    middle = time.perf_counter()
    test_x = extract_features(backbone, splits.test.images, transform, **extract)
    test_seconds = time.perf_counter() - middle
    feature_seconds = time.perf_counter() - start
    if accelerator is not None and not accelerator.is_main_process:
        return []
    test = (test_x, splits.test.labels.to(test_x.device))
    train = (train_x, splits.train.labels.to(test_x.device)) if train_x is not None else None
    n_classes = splits.info.num_classes
    quality = rankme(test_x, config.rankme_samples, seed)
    if on_test_features is not None:
        on_test_features(method, test_x, splits.test.labels)
    rows: list[EvalRow] = []
    for protocol in protocols:
        start = time.perf_counter()
        shared = feature_seconds
        if protocol == "knn" and train is not None:
            found = _knn_rows(method, train, test, n_classes, config)
        elif protocol == "linear" and train is not None:
            found = [_linear_row(method, train, test, n_classes, config, seed)]
        elif protocol == "fewshot" and train is not None:
            found = _fewshot_rows(method, train, test, n_classes, config, seed)
        elif protocol == "finetune":
            found = [
                _finetune_row(
                    method,
                    backbone,
                    splits,
                    config,
                    image_size,
                    device,
                    autocast_dtype,
                    channels_last,
                    seed,
                )
            ]
            shared = 0.0
        elif protocol == "online-linear":
            if online_probe is None:
                logger.warning(
                    "%s online-linear: no online probe was trained (the pretraining split has "
                    "no labels, or the weights carry no probe); no row",
                    method,
                )
                continue
            found = [_online_row(method, online_probe, test)]
            shared = test_seconds
        else:
            raise AssertionError(f"unhandled protocol {protocol!r}")
        seconds = time.perf_counter() - start
        for row in found:
            row.rankme = quality
            trained = float(row.details.get("train_seconds", 0.0))
            row.details["seconds"] = round(seconds + shared + trained, 2)
            row.details["feature_seconds"] = round(shared, 2)
            rows.append(row)
            logger.info(
                "%s %s %s: top-1 %.2f top-5 %.2f",
                method,
                protocol,
                protocol_variant(row),
                row.top1,
                row.top5,
            )
    return rows


def protocol_variant(row: EvalRow) -> str:
    """The part of a protocol's settings that makes it a different measurement (``k=200``,
    ``labels=1%``)."""
    if row.protocol == "knn" and "k" in row.details:
        return f"k={row.details['k']}"
    return str(row.details.get("variant", ""))
