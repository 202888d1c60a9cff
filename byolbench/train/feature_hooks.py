"""What the trainer does with the online features of each step: the online linear probe
(``train/online_probe.py``) and RankMe readings (``train/rankme_monitor.py``).

The trainer calls ``on_batch`` after each BYOL forward, ``on_step`` after each optimizer step,
``log_fields`` when it logs, ``end_epoch`` at each epoch end, and saves ``state_tensors`` in
its checkpoints. Readings go to ``metrics.jsonl`` and the Accelerate trackers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from accelerate import Accelerator

from byolbench.config import RunConfig
from byolbench.data.base import DatasetSplits
from byolbench.train.metrics import MetricsFile
from byolbench.train.online_probe import OnlineProbe, create_online_probe
from byolbench.train.rankme_monitor import RankMeMonitor

logger = logging.getLogger(__name__)


class FeatureHooks:
    """The online probe and the RankMe monitor of one pretraining run (either may be off).

    Args:
        probe: The online probe, or ``None``.
        rankme: The RankMe monitor, or ``None``.
        accelerator: The run's accelerator.
        metrics: The run's ``metrics.jsonl``.
    """

    def __init__(
        self,
        probe: OnlineProbe | None,
        rankme: RankMeMonitor | None,
        accelerator: Accelerator,
        metrics: MetricsFile,
    ) -> None:
        self.probe = probe
        self.rankme = rankme
        self.accelerator = accelerator
        self.metrics = metrics

    @classmethod
    def create(
        cls,
        config: RunConfig,
        splits: DatasetSplits,
        feature_dim: int,
        total_steps: int,
        accelerator: Accelerator,
        metrics: MetricsFile,
    ) -> FeatureHooks:
        """The hooks ``config`` asks for."""
        probe = create_online_probe(
            config, splits, feature_dim, total_steps, accelerator.device, accelerator
        )
        every = config.eval.rankme_every
        rankme = RankMeMonitor(config.eval.rankme_samples, every) if every > 0 else None
        return cls(probe, rankme, accelerator, metrics)

    def plan(self, total_steps: int) -> None:
        """The run's total optimizer steps changed (a time budget's plan): the probe's
        cosine schedule now ends there too."""
        if self.probe is not None:
            self.probe.total_steps = max(1, total_steps)

    def on_batch(
        self, features: Sequence[torch.Tensor] | None, indices: torch.Tensor, step: int
    ) -> None:
        """Feeds one micro-batch's online features (detached) to the probe and the monitor."""
        if not features:  # a model that does not expose its features
            return
        if self.probe is not None:
            self.probe.observe(features, indices, step)
        if self.rankme is not None and self.accelerator.is_main_process:
            self.rankme.observe(features)

    def on_step(self, step: int, epoch: int, last_step: int) -> None:
        """Takes a RankMe reading when one is due (main process only)."""
        if self.rankme is None or not self.accelerator.is_main_process:
            return
        if not self.rankme.due(step, last_step):
            return
        value = self.rankme.read()
        logger.info("step %d: RankMe of the online features %.1f", step, value)
        self._write({"step": step, "epoch": epoch, "rankme": value})

    def log_fields(self) -> dict[str, float]:
        """The probe's training-view loss and top-1 since the last log (empty when off)."""
        return self.probe.read() if self.probe is not None else {}

    def end_epoch(self, step: int, epoch: int) -> None:
        """Logs the probe's epoch means (``online_linear_epoch_top1`` ...)."""
        if self.probe is None:
            return
        record = {"step": step, "epoch": epoch, **self.probe.end_epoch()}
        logger.info(
            "epoch %d: online probe top-1 on training views %.2f",
            epoch,
            record["online_linear_epoch_top1"],
        )
        self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        acc = self.accelerator
        if acc.is_main_process:
            self.metrics.write(record)
            if acc.trackers:
                acc.log({k: v for k, v in record.items() if k != "step"}, step=record["step"])

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors to keep in a training checkpoint."""
        return self.probe.state_tensors() if self.probe is not None else {}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restores a checkpoint's probe (a checkpoint without one leaves it fresh)."""
        if self.probe is not None and not self.probe.load_state_tensors(tensors):
            logger.warning("the checkpoint has no online probe; the probe starts afresh")
