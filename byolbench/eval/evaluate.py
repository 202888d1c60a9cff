"""Evaluate a frozen backbone with every configured protocol."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from byolbench.augment.transforms import EvalTransform
from byolbench.config import EvalConfig
from byolbench.data.base import DatasetSplits
from byolbench.eval.features import extract_features
from byolbench.eval.knn import knn_classify
from byolbench.eval.linear import linear_probe

logger = logging.getLogger(__name__)


@dataclass
class EvalRow:
    """One (method, protocol) result.

    Attributes:
        method: ``byol``, ``random`` or another label of where the weights came from.
        protocol: ``knn`` or ``linear``.
        top1: Top-1 accuracy in percent on the test split.
        top5: Top-5 accuracy in percent.
        details: Protocol settings and choices (k, temperature, chosen L2, ...).
    """

    method: str
    protocol: str
    top1: float
    top5: float
    details: dict[str, Any] = field(default_factory=dict)


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
) -> list[EvalRow]:
    """Extracts frozen features of the train and test splits and runs each protocol.

    With an ``accelerator`` of several processes, feature extraction is shared by all of
    them (each must call this), and only the main process runs the protocols; the others
    return an empty list.
    """
    transform = EvalTransform(image_size, splits.info.mean, splits.info.std, splits.info.crop_pct)
    start = time.perf_counter()
    extract = {
        "device": device,
        "batch_size": config.batch_size,
        "autocast_dtype": autocast_dtype,
        "channels_last": channels_last,
        "accelerator": accelerator,
    }
    train_x = extract_features(backbone, splits.train.images, transform, **extract)
    test_x = extract_features(backbone, splits.test.images, transform, **extract)
    feature_seconds = time.perf_counter() - start
    if accelerator is not None and not accelerator.is_main_process:
        return []
    device = train_x.device
    train_y = splits.train.labels.to(device)
    test_y = splits.test.labels.to(device)
    n_classes = splits.info.num_classes
    rows: list[EvalRow] = []
    for protocol in config.protocols:
        start = time.perf_counter()
        if protocol == "knn":
            knn = knn_classify(
                train_x, train_y, test_x, test_y, n_classes, config.knn_k, config.knn_temperature
            )
            details: dict[str, Any] = {"k": knn.k, "temperature": knn.temperature}
            top1, top5 = knn.top1, knn.top5
        else:
            probe = linear_probe(
                train_x,
                train_y,
                test_x,
                test_y,
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
            top1, top5 = probe.top1, probe.top5
        details["seconds"] = round(time.perf_counter() - start + feature_seconds, 2)
        rows.append(EvalRow(method, protocol, top1, top5, details))
        logger.info("%s %s: top-1 %.2f top-5 %.2f", method, protocol, top1, top5)
    return rows


def protocol_variant(row: EvalRow) -> str:
    """The part of a protocol's settings that makes it a different measurement (``k=200``)."""
    if row.protocol == "knn" and "k" in row.details:
        return f"k={row.details['k']}"
    return str(row.details.get("variant", ""))
