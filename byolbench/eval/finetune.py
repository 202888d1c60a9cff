"""Fine-tuning: the whole backbone plus a linear head trained with labels.

The recipe is short and per family (``FINETUNE_RECIPES``): convolutional networks use SGD with
Nesterov momentum, vision transformers AdamW with optional layer-wise lr decay; both a linear
warm-up then cosine decay, the linear scaling rule ``lr * batch / 256``, and random resized
crops with horizontal flips drawn per sample on the device by the training augmentation
engine (``byolbench.augment``). The learning rate is chosen from a small grid on a held-out
part of the TRAINING split: each candidate trains on the rest, the one with the best held-out
top-1 is kept and scored once on the test split (it is not refit on the held-out images; that
would cost one more training run). The backbone handed in is never modified: every candidate
starts from a copy.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from byolbench.augment import ops
from byolbench.augment.transforms import EvalTransform
from byolbench.augment.view import ViewSpec, apply_view, sample_view_params
from byolbench.config import EvalConfig
from byolbench.data.base import DatasetSplits
from byolbench.errors import TrainingError
from byolbench.models.backbone import pooled_dim
from byolbench.train.optim import split_decay_groups, warmup_cosine

logger = logging.getLogger(__name__)

ON_DEVICE_MAX_BYTES = 4 * 1024**3


@dataclass(frozen=True)
class FinetuneRecipe:
    """One family's fine-tuning recipe.

    Attributes:
        family: ``convnet`` or ``transformer``.
        optimizer: ``sgd`` (Nesterov momentum 0.9) or ``adamw``.
        lr_grid: Candidate base learning rates per 256 images.
        weight_decay: Weight decay of weights (biases and norm parameters get none).
        layer_decay: Layer-wise lr decay of transformers (1.0: off).
    """

    family: str
    optimizer: str
    lr_grid: tuple[float, ...]
    weight_decay: float
    layer_decay: float = 1.0


FINETUNE_RECIPES: dict[str, FinetuneRecipe] = {
    # SGD with Nesterov momentum 0.9 and a small lr grid with cosine decay: the shape of the
    # BYOL paper's fine-tuning protocol (Grill et al. 2020, appendix C); weight decay 1e-4 as
    # for CIFAR ResNets (He et al. 2016). The grid values are our choice for short runs.
    "convnet": FinetuneRecipe("convnet", "sgd", (0.01, 0.05), 1e-4),
    # AdamW, weight decay 0.05 and lr ~5e-4 per 256 images: the DeiT/MAE fine-tuning recipes
    # (Touvron et al. 2021; He et al. 2022); MAE also uses layer decay 0.65-0.75 (set
    # eval.finetune_layer_decay), off by default here.
    "transformer": FinetuneRecipe("transformer", "adamw", (1e-4, 5e-4), 0.05),
}


def backbone_family(backbone: nn.Module) -> str:
    """``transformer`` for self-attention models (ViT, DeiT, Swin, ...; see
    ``byolbench.models.family``), else ``convnet``."""
    from byolbench.models.family import has_self_attention

    attention = hasattr(backbone, "patch_embed") or has_self_attention(backbone)
    return "transformer" if attention else "convnet"


def resolve_recipe(backbone: nn.Module, config: EvalConfig) -> FinetuneRecipe:
    """The family recipe with the overrides of ``config`` applied."""
    recipe = FINETUNE_RECIPES[backbone_family(backbone)]
    if config.finetune_optimizer != "auto":
        other = next(
            r for r in FINETUNE_RECIPES.values() if r.optimizer == config.finetune_optimizer
        )
        recipe = replace(
            recipe,
            optimizer=other.optimizer,
            lr_grid=other.lr_grid,
            weight_decay=other.weight_decay,
        )
    if config.finetune_lr_grid:
        recipe = replace(recipe, lr_grid=tuple(config.finetune_lr_grid))
    if config.finetune_weight_decay >= 0:
        recipe = replace(recipe, weight_decay=config.finetune_weight_decay)
    return replace(recipe, layer_decay=config.finetune_layer_decay)


@dataclass
class FinetuneResult:
    """Accuracies in percent on the test split and what was chosen.

    Attributes:
        top1: Test top-1 of the chosen candidate.
        top5: Test top-5.
        lr: Chosen base learning rate (per 256 images).
        val_top1: Its held-out top-1.
        val_by_lr: Held-out top-1 of every candidate.
        recipe: The recipe used.
        epochs: Epochs per candidate.
        steps: Optimizer steps per candidate.
        batch_size: Images per step.
        model: The chosen fine-tuned network (backbone followed by the head).
    """

    top1: float
    top5: float
    lr: float
    val_top1: float
    val_by_lr: dict[float, float]
    recipe: FinetuneRecipe
    epochs: int
    steps: int
    batch_size: int
    model: nn.Module = field(repr=False)


class CropFlip:
    """Random resized crop and horizontal flip drawn per sample (no colour changes).

    Args:
        image_size: Output side length.
        mean: RGB normalisation mean.
        std: RGB normalisation std.
        crop_min_scale: Lower bound of the crop's area fraction.
    """

    def __init__(
        self,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        crop_min_scale: float,
    ) -> None:
        self.spec = ViewSpec(
            crop_scale=(crop_min_scale, 1.0),
            jitter_p=0.0,
            grayscale_p=0.0,
            blur_p=0.0,
            solarize_p=0.0,
        )
        self.image_size = image_size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Maps a uint8 batch to augmented, normalised float images."""
        n, _, h, w = images.shape
        params = sample_view_params(self.spec, n, h, w, generator, images.device)
        x = apply_view(ops.to_float_rgb(images), params, self.spec, self.image_size)
        return (x - self.mean.to(x.device)) / self.std.to(x.device)


def _param_groups(
    backbone: nn.Module, head: nn.Module, recipe: FinetuneRecipe
) -> list[dict[str, object]]:
    """Weight decay on weights only; with layer decay, timm's per-layer lr scales."""
    if recipe.layer_decay < 1.0 and hasattr(backbone, "group_matcher"):
        from timm.optim import param_groups_layer_decay

        skip = getattr(backbone, "no_weight_decay", lambda: set())()
        groups = param_groups_layer_decay(
            backbone,
            weight_decay=recipe.weight_decay,
            no_weight_decay_list=skip,
            layer_decay=recipe.layer_decay,
        )
    else:
        decay, no_decay = split_decay_groups(backbone.named_parameters())
        groups = [
            {"params": decay, "weight_decay": recipe.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
    head_decay, head_no_decay = split_decay_groups(head.named_parameters())
    groups += [
        {"params": head_decay, "weight_decay": recipe.weight_decay},
        {"params": head_no_decay, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def _optimizer(groups: list[dict[str, object]], recipe: FinetuneRecipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=0.0, momentum=0.9, nesterov=True)  # type: ignore[arg-type]
    return torch.optim.AdamW(groups, lr=0.0)  # type: ignore[arg-type]


@torch.no_grad()
def classify(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    transform: EvalTransform,
    device: torch.device,
    batch_size: int,
    autocast: contextlib.AbstractContextManager,
) -> tuple[float, float]:
    """Top-1 and top-5 accuracy (percent) of ``model`` in eval mode on uint8 ``images``."""
    was_training = model.training
    model.eval()
    correct1 = correct5 = 0
    try:
        for start in range(0, images.shape[0], batch_size):
            batch = transform(images[start : start + batch_size].to(device))
            with autocast:
                logits = model(batch).float()
            truth = labels[start : start + batch_size].to(device).unsqueeze(1)
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            correct1 += int((top[:, :1] == truth).sum())
            correct5 += int((top == truth).any(dim=1).sum())
    finally:
        model.train(was_training)
    total = max(1, images.shape[0])
    return 100.0 * correct1 / total, 100.0 * correct5 / total


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _train_candidate(
    backbone: nn.Module,
    num_classes: int,
    images: torch.Tensor,
    labels: torch.Tensor,
    recipe: FinetuneRecipe,
    base_lr: float,
    config: EvalConfig,
    augment: CropFlip,
    device: torch.device,
    autocast_dtype: torch.dtype | None,
    channels_last: bool,
    seed: int,
) -> tuple[nn.Module, int]:
    """Fine-tunes a copy of ``backbone`` plus a new head; returns the network and its steps."""
    torch.manual_seed(seed)
    copied = copy.deepcopy(backbone)
    head = nn.Linear(pooled_dim(copied), num_classes)
    model = nn.Sequential(copied, head).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = _optimizer(_param_groups(copied, head, recipe), recipe)
    scales = [float(g.get("lr_scale", 1.0)) for g in optimizer.param_groups]
    batch = min(config.finetune_batch_size, images.shape[0])
    steps_per_epoch = max(1, images.shape[0] // batch)
    total = steps_per_epoch * config.finetune_epochs
    warmup = int(round(config.finetune_warmup_epochs * steps_per_epoch))
    peak = base_lr * batch / 256.0
    order_gen = torch.Generator().manual_seed(seed + 1)
    augment_gen = torch.Generator(device=device).manual_seed(seed + 2)
    scaler = torch.amp.GradScaler(device.type) if autocast_dtype == torch.float16 else None
    autocast = _autocast(device, autocast_dtype)
    step = 0
    for _epoch in range(config.finetune_epochs):
        order = torch.randperm(images.shape[0], generator=order_gen)
        loss_sum = torch.zeros((), device=device)
        for b in range(steps_per_epoch):
            idx = order[b * batch : (b + 1) * batch]
            if idx.shape[0] < 2:  # BatchNorm needs two samples
                continue
            x = augment(images[idx.to(images.device)].to(device, non_blocking=True), augment_gen)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = labels[idx.to(labels.device)].to(device, non_blocking=True)
            lr = warmup_cosine(step, total, warmup, peak)
            for group, scale in zip(optimizer.param_groups, scales, strict=True):
                group["lr"] = lr * scale
            with autocast:
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            loss_sum += loss.detach()
            step += 1
        if not math.isfinite(float(loss_sum)):  # one host sync per epoch
            return model, -step
    return model, step


def _on_device(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type != "cpu" and images.numel() <= ON_DEVICE_MAX_BYTES:
        return images.to(device)
    return images


def finetune(
    backbone: nn.Module,
    splits: DatasetSplits,
    config: EvalConfig,
    image_size: int,
    device: torch.device | str = "cpu",
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    seed: int = 0,
) -> FinetuneResult:
    """Fine-tunes copies of ``backbone`` with each candidate lr, keeps the best on held-out
    training images, and scores it once on the test split.

    Args:
        backbone: The pretrained (or randomly initialised) backbone; left unchanged.
        splits: The labelled train and test splits (``pretrain`` is not used).
        config: ``eval.finetune_*`` settings.
        image_size: Training and evaluation resolution.
        device: Where to train.
        autocast_dtype: Autocast dtype (``None``: fp32).
        channels_last: Use the channels-last memory format.
        seed: Seed of the held-out split, head init, batch order and augmentation.

    Raises:
        TrainingError: When every candidate's loss became non-finite.
    """
    device = torch.device(device)
    recipe = resolve_recipe(backbone, config)
    train = splits.train
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train), generator=generator)
    n_val = min(len(train) - 2, max(1, int(round(config.finetune_val_fraction * len(train)))))
    val_idx, fit_idx = order[:n_val].sort().values, order[n_val:].sort().values
    images = _on_device(train.images, device)
    fit_images, fit_labels = images[fit_idx.to(images.device)], train.labels[fit_idx]
    val_images, val_labels = images[val_idx.to(images.device)], train.labels[val_idx]
    info = splits.info
    augment = CropFlip(image_size, info.mean, info.std, config.finetune_crop_min_scale)
    transform = EvalTransform(image_size, info.mean, info.std, info.crop_pct)
    autocast = _autocast(device, autocast_dtype)
    best: tuple[float, float, nn.Module, int] | None = None
    val_by_lr: dict[float, float] = {}
    for lr in recipe.lr_grid:
        start = time.perf_counter()
        model, steps = _train_candidate(
            backbone,
            info.num_classes,
            fit_images,
            fit_labels,
            recipe,
            lr,
            config,
            augment,
            device,
            autocast_dtype,
            channels_last,
            seed,
        )
        if steps < 0:
            logger.warning("fine-tuning with lr %g diverged (non-finite loss); skipped", lr)
            val_by_lr[lr] = math.nan
            continue
        val_top1, _ = classify(
            model, val_images, val_labels, transform, device, config.batch_size, autocast
        )
        val_by_lr[lr] = val_top1
        logger.info(
            "fine-tune lr %g: held-out top-1 %.2f (%.1f s)",
            lr,
            val_top1,
            time.perf_counter() - start,
        )
        if best is None or val_top1 > best[1]:
            best = (lr, val_top1, model, steps)
        else:
            del model
    if best is None:
        raise TrainingError(
            f"fine-tuning diverged for every learning rate in {list(recipe.lr_grid)}; set "
            "smaller values with eval.finetune_lr_grid"
        )
    lr, val_top1, model, steps = best
    top1, top5 = classify(
        model,
        splits.test.images,
        splits.test.labels,
        transform,
        device,
        config.batch_size,
        autocast,
    )
    return FinetuneResult(
        top1,
        top5,
        lr,
        val_top1,
        val_by_lr,
        recipe,
        config.finetune_epochs,
        steps,
        min(config.finetune_batch_size, len(fit_idx)),
        model,
    )
