"""The online linear probe: a linear classifier trained alongside BYOL on detached features.

This is the protocol behind solo-learn's published BYOL numbers ("online linear"): during
pretraining, a linear layer on the ONLINE backbone's features of each augmented view learns
the labels of the pretraining batch. The features are detached, so no gradient of the probe
ever reaches the backbone; images labelled -1 (STL-10's unlabelled split) are skipped, and
the probe is off when the pretraining split has no labels at all. It has its own optimizer:
SGD with momentum 0.9, lr ``eval.online_lr`` (0.1, solo-learn's ``classifier_lr``), weight
decay ``eval.online_weight_decay`` (0, as solo-learn's classifier group), cosine decay over
the run's optimizer steps (solo-learn's classifier shares BYOL's LARS optimizer and warm-up
cosine schedule instead). Its test-set accuracy at the end of training is the
``online-linear`` result, measured once on features of the evaluation transform.

The random-init baseline (``train_frozen_probe``) trains the same probe with the same recipe
on the same pretraining batches and views for the same number of steps, on the features of
the FROZEN random-init backbone (eval mode, the network the other random rows evaluate).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from byolbench.atomic import atomic_path
from byolbench.augment.presets import create_augmentation
from byolbench.config import RunConfig
from byolbench.data.base import DatasetSplits
from byolbench.models.backbone import pooled_dim
from byolbench.train.batches import ShardedBatches

logger = logging.getLogger(__name__)

PROBE_FILE = "online_probe.safetensors"
STATE_PREFIX = "online_probe."
COUNTERS = "counters"  # updates and seconds so far, kept across a resume


def has_labels(labels: torch.Tensor) -> bool:
    """Whether any pretraining image carries a label (``-1`` marks unlabelled ones)."""
    return bool((labels >= 0).any())


class OnlineProbe:
    """A linear classifier on detached features with its own SGD optimizer.

    Args:
        feature_dim: Width of the backbone's features.
        num_classes: Number of classes.
        labels: Labels of the pretraining split (``-1``: unlabelled), indexed by the batches'
            indices.
        lr: Peak learning rate.
        weight_decay: Weight decay of the weight and bias.
        total_steps: Optimizer steps of the run (the cosine schedule's length).
        device: Where the probe lives (the training device).
        accelerator: With several processes, gradients and meters are averaged over them.
    """

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        labels: torch.Tensor,
        lr: float = 0.1,
        weight_decay: float = 0.0,
        total_steps: int = 1,
        device: torch.device | str = "cpu",
        accelerator: Any = None,
    ) -> None:
        self.device = torch.device(device)
        self.head = nn.Linear(feature_dim, num_classes).to(self.device)
        self.optimizer = torch.optim.SGD(
            self.head.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay
        )
        self.labels = labels.to(self.device)
        self.peak_lr = lr
        self.total_steps = max(1, total_steps)
        self.accelerator = accelerator
        self.seconds = 0.0
        self.updates = 0
        self._window = torch.zeros(3, device=self.device)  # loss sum, correct, count
        self._epoch = torch.zeros(3, device=self.device)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return int(self.head.out_features)

    def lr_at(self, step: int) -> float:
        """Cosine decay from the peak to 0 over the run."""
        progress = min(1.0, step / self.total_steps)
        return self.peak_lr * 0.5 * (1.0 + math.cos(math.pi * progress))

    def observe(self, features: Sequence[torch.Tensor], indices: torch.Tensor, step: int) -> None:
        """One SGD step on the features of every view of a batch (no host synchronisation).

        Args:
            features: ``(B, D)`` features per view; they are detached here.
            indices: ``(B,)`` indices of the batch into the pretraining split.
            step: The run's optimizer step (for the schedule).
        """
        start = time.perf_counter()
        y = self.labels[indices.to(self.device)].repeat(len(features))
        x = torch.cat([f.detach().float() for f in features])
        valid = y >= 0
        logits = self.head(x)
        losses = F.cross_entropy(logits, y.clamp_min(0), reduction="none") * valid
        loss = losses.sum() / valid.sum().clamp_min(1)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.accelerator is not None and self.accelerator.num_processes > 1:
            for param in self.head.parameters():
                if param.grad is not None:
                    param.grad = self.accelerator.reduce(param.grad, "mean")
        self.optimizer.step()
        with torch.no_grad():
            correct = ((logits.argmax(dim=1) == y) & valid).sum()
            meters = torch.stack((losses.sum().detach(), correct.float(), valid.sum().float()))
            self._window += meters
            self._epoch += meters
        self.updates += 1
        self.seconds += time.perf_counter() - start

    def _read(self, sums: torch.Tensor) -> tuple[float, float]:
        if self.accelerator is not None and self.accelerator.num_processes > 1:
            sums = self.accelerator.reduce(sums.clone(), "sum")
        loss, correct, count = sums.tolist()
        if count <= 0:
            return math.nan, math.nan
        return loss / count, 100.0 * correct / count

    def read(self) -> dict[str, float]:
        """Mean loss and top-1 (%) on the training views since the last read; resets."""
        loss, top1 = self._read(self._window)
        self._window.zero_()
        return {"online_linear_loss": loss, "online_linear_top1": top1}

    def end_epoch(self) -> dict[str, float]:
        """The epoch's mean loss and top-1 (%) on the training views; resets."""
        loss, top1 = self._read(self._epoch)
        self._epoch.zero_()
        return {"online_linear_epoch_loss": loss, "online_linear_epoch_top1": top1}

    @torch.no_grad()
    def accuracy(self, features: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
        """Top-1 and top-5 (%) of the probe on ``features`` (e.g. the test split's)."""
        logits = self.head(features.to(self.device).float())
        y = labels.to(self.device)
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        top1 = (top[:, 0] == y).float().mean().item() * 100.0
        top5 = (top == y.unsqueeze(1)).any(dim=1).float().mean().item() * 100.0
        return top1, top5

    # -- state ---------------------------------------------------------------------------

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Weights, momentum buffers and counters, for training checkpoints."""
        out = {f"{STATE_PREFIX}{k}": v.detach() for k, v in self.head.state_dict().items()}
        out[f"{STATE_PREFIX}{COUNTERS}"] = torch.tensor(
            [float(self.updates), self.seconds], dtype=torch.float64
        )
        for name, param in self.head.named_parameters():
            buffer = self.optimizer.state.get(param, {}).get("momentum_buffer")
            if buffer is not None:
                out[f"{STATE_PREFIX}momentum.{name}"] = buffer.detach()
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> bool:
        """Restores ``state_tensors``; returns whether the checkpoint had the probe."""
        own = {k[len(STATE_PREFIX) :]: v for k, v in tensors.items() if k.startswith(STATE_PREFIX)}
        counters = own.pop(COUNTERS, None)
        weights = {k: v for k, v in own.items() if not k.startswith("momentum.")}
        if set(weights) != set(self.head.state_dict()):
            return False
        self.head.load_state_dict({k: v.to(self.device) for k, v in weights.items()})
        for name, param in self.head.named_parameters():
            buffer = own.get(f"momentum.{name}")
            if buffer is not None:
                self.optimizer.state[param]["momentum_buffer"] = buffer.to(self.device).clone()
        if counters is not None:
            self.updates, self.seconds = int(counters[0]), float(counters[1])
        return True

    def save(self, path: Path, dataset: str) -> None:
        """Writes the probe's weights (atomically) for ``byolbench evaluate``."""
        state = {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
        metadata = {"format": "byolbench-online-probe", "dataset": dataset}
        with atomic_path(path) as tmp:
            save_file(state, tmp, metadata=metadata)


def load_probe_head(path: Path) -> nn.Linear:
    """The linear layer of a saved online probe (``online_probe.safetensors``)."""
    state = load_file(str(path), device="cpu")
    weight = state["weight"]
    head = nn.Linear(weight.shape[1], weight.shape[0])
    head.load_state_dict(state)
    return head


def create_online_probe(
    config: RunConfig,
    splits: DatasetSplits,
    feature_dim: int,
    total_steps: int,
    device: torch.device | str,
    accelerator: Any = None,
) -> OnlineProbe | None:
    """The probe when ``online-linear`` is a configured protocol and the pretraining split
    has labels; else ``None`` (with a log line saying why)."""
    if "online-linear" not in config.eval.protocols:
        return None
    if not has_labels(splits.pretrain.labels):
        logger.warning(
            "online-linear: the pretraining split of %s has no labels; the online probe is off",
            splits.info.name,
        )
        return None
    torch.manual_seed(config.train.seed + 17)
    return OnlineProbe(
        feature_dim,
        splits.info.num_classes,
        splits.pretrain.labels,
        config.eval.online_lr,
        config.eval.online_weight_decay,
        total_steps,
        device,
        accelerator,
    )


@torch.no_grad()
def _frozen_features(
    backbone: nn.Module, views: Sequence[torch.Tensor], autocast_dtype: torch.dtype | None
) -> list[torch.Tensor]:
    device_type = views[0].device.type
    out = []
    for view in views:
        if autocast_dtype is not None:
            with torch.autocast(device_type=device_type, dtype=autocast_dtype):
                out.append(backbone(view).float())
        else:
            out.append(backbone(view))
    return out


def train_frozen_probe(
    backbone: nn.Module,
    splits: DatasetSplits,
    config: RunConfig,
    image_size: int,
    micro_batches: int,
    micro_batch_size: int,
    total_steps: int,
    device: torch.device | str = "cpu",
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> OnlineProbe | None:
    """The online recipe on a FROZEN backbone (the random-init baseline of ``online-linear``).

    Replays the pretraining batches (same seeded order and two-view augmentation, one process
    holding the batch of all pretraining processes, ``micro_batch_size`` images) for
    ``micro_batches`` batches, feeding the frozen backbone's eval-mode features to a fresh
    probe with the same schedule over ``total_steps`` optimizer steps.

    Returns:
        The trained probe, or ``None`` when the pretraining split has no labels.
    """
    device = torch.device(device)
    probe = create_online_probe(config, splits, pooled_dim(backbone), total_steps, device)
    if probe is None:
        return None
    cfg = config.train
    augment = create_augmentation(
        config.augment.preset,
        image_size,
        splits.info.mean,
        splits.info.std,
        config.augment.crop_min_scale,
        config.augment.jitter_strength,
    )
    batches = ShardedBatches(len(splits.pretrain), micro_batch_size, 1, 0, cfg.seed)
    generator = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + 1)
    images = splits.pretrain.images
    was_training = backbone.training
    backbone.eval()
    done, epoch, step = 0, 0, 0
    per_step = max(1, cfg.grad_accum_steps)
    try:
        while done < micro_batches and len(batches) > 0:
            for indices in batches.epoch(epoch):
                batch = images[indices].to(device, non_blocking=True)
                views = augment(batch, generator)
                if channels_last:
                    views = [v.contiguous(memory_format=torch.channels_last) for v in views]
                probe.observe(_frozen_features(backbone, views, autocast_dtype), indices, step)
                done += 1
                if done % per_step == 0:
                    step += 1
                if done >= micro_batches:
                    break
            epoch += 1
    finally:
        backbone.train(was_training)
    return probe
