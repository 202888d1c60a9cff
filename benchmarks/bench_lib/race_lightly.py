"""BYOL trained with Lightly SSL's own components to a wall-clock budget, for the race.

The loop is the one Lightly documents (examples/pytorch/byol.py): its projection and
prediction heads, ``NegativeCosineSimilarity`` loss, ``update_momentum`` with a cosine
momentum schedule, and ``BYOLTransform`` views made from PIL images in DataLoader workers.
Two recipes run through it:

* ``docs``: as the docs show it: ResNet-18 with the CIFAR stem, SGD at lr 0.06, batch 256,
  fp32, momentum 0.996 -> 1, crops of at least 8% of the image;
* ``byolbench``: the same loop given byolbench's recipe (backbone, batch, bf16 autocast,
  optimizer and learning-rate schedule, tau, crop scale), so that the difference to
  byolbench's own trainer is what the engine buys, and the difference to ``docs`` what the
  recipe buys.

Like byolbench's trainer, the loop times its first steps and fits its schedules to the steps
that fit in the budget (``byolbench.train.budget.BudgetPlanner``).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import torch

from bench_lib.peer_lightly import LightlyBYOL, lightly_loader
from byolbench.byol.momentum import tau_schedule
from byolbench.train.budget import BudgetPlanner
from byolbench.train.optim import build_optimizer, scaled_lr, set_lr, warmup_cosine


@dataclass(frozen=True)
class LightlyRecipe:
    """What the Lightly loop is given.

    Attributes:
        backbone: byolbench backbone name (built with ``create_backbone``: CIFAR stem at 32 px).
        channels: Stage widths of a ResNet backbone (``model.channels``); empty: its own.
        batch_size: Images per step.
        optimizer: ``sgd`` (constant lr, as the docs) or ``adamw`` (byolbench's param groups
            and warm-up + cosine schedule).
        lr: Base learning rate; ``sgd``: the absolute rate; ``adamw``: per 256 images.
        weight_decay: AdamW weight decay (biases and norm parameters excluded).
        warmup_steps: Linear warm-up steps before the cosine decay (``adamw``).
        projector_hidden_dim: Hidden width of projector and predictor.
        projector_dim: Output width of projector and predictor.
        tau_base: Starting momentum of the target (cosine to ``tau_final``).
        tau_final: Momentum at the last step.
        bf16: bf16 autocast for the forward passes.
        crop_min_scale: Smallest random-resized-crop area fraction.
        workers: DataLoader worker processes for the PIL transforms.
    """

    backbone: str = "resnet18"
    channels: tuple[int, ...] = ()
    batch_size: int = 256
    optimizer: str = "sgd"
    lr: float = 0.06
    weight_decay: float = 0.0
    warmup_steps: int = 0
    projector_hidden_dim: int = 4096
    projector_dim: int = 256
    tau_base: float = 0.996
    tau_final: float = 1.0
    bf16: bool = False
    crop_min_scale: float = 0.08
    workers: int = 1


def train_lightly(
    images: torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    recipe: LightlyRecipe,
    budget_seconds: float,
    seed: int = 0,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Trains for ``budget_seconds``; returns the ONLINE backbone and what happened."""
    from lightly.loss import NegativeCosineSimilarity
    from lightly.models.utils import update_momentum

    from byolbench.config import OptimConfig
    from byolbench.models.backbone import backbone_spec, create_backbone

    torch.manual_seed(seed)
    widths = {"channels": recipe.channels} if recipe.channels else {}
    backbone = create_backbone(recipe.backbone, int(images.shape[-1]), **widths)
    model = LightlyBYOL(
        backbone,
        backbone_spec(backbone).num_features,
        recipe.projector_hidden_dim,
        recipe.projector_dim,
    )
    loader = lightly_loader(
        images,
        int(images.shape[-1]),
        mean,
        std,
        recipe.batch_size,
        recipe.workers,
        min_scale=recipe.crop_min_scale,
    )
    online = [
        (n, p) for n, p in model.named_parameters() if "momentum" not in n and p.requires_grad
    ]
    if recipe.optimizer == "adamw":
        optim_config = OptimConfig(name="adamw", lr=recipe.lr, weight_decay=recipe.weight_decay)
        optimizer = build_optimizer(online, optim_config, recipe.batch_size)
        peak_lr = scaled_lr(optim_config, recipe.batch_size)
    else:
        optimizer = torch.optim.SGD([p for _, p in online], lr=recipe.lr)
        peak_lr = recipe.lr
    criterion = NegativeCosineSimilarity()
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16) if recipe.bf16 else contextlib.nullcontext()
    )
    planner = BudgetPlanner(budget_seconds)
    start = time.perf_counter()
    total: int | None = None
    provisional = max(1, len(images) // recipe.batch_size) * 100
    step = 0
    while total is None or step < total:
        for (x0, x1), _ in loader:
            horizon = total or provisional
            if recipe.optimizer == "adamw":
                warmup = min(recipe.warmup_steps, horizon // 2)
                set_lr(optimizer, warmup_cosine(step, horizon, warmup, peak_lr))
            momentum = tau_schedule(step, horizon, recipe.tau_base, recipe.tau_final)
            update_momentum(model.backbone, model.backbone_momentum, m=momentum)
            update_momentum(model.projection_head, model.projection_head_momentum, m=momentum)
            with autocast:
                p0, z0 = model(x0), model.forward_momentum(x0)
                p1, z1 = model(x1), model.forward_momentum(x1)
                loss = 0.5 * (criterion(p0, z1) + criterion(p1, z0))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            planned = planner.after_step(step)
            if planned is not None:
                total = max(planned, step)
            if total is not None and step >= total:
                break
    seconds = time.perf_counter() - start
    info = {
        "steps": step,
        "seconds": seconds,
        "images_per_second": step * recipe.batch_size / seconds,
    }
    return model.backbone, info
