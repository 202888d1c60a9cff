"""``byolbench run --dry-run``: cells, their configs and a compute estimate."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from rich.markup import escape
from torch.utils.flop_counter import FlopCounterMode

from byolbench.augment.local_crops import local_size_for
from byolbench.bench.matrix import Cell, diff_from_defaults
from byolbench.bench.preflight import Preflight
from byolbench.bench.recipes import RECIPES
from byolbench.cli.console import console
from byolbench.data.catalog import CATALOG
from byolbench.data.registry import split_name
from byolbench.errors import ByolbenchError
from byolbench.train.trainer import build_model, view_side_for

# Per image and step: online forward+backward of two views (3 forwards each) and the target's
# forward of two views; each small view (multi-crop) adds an online forward+backward.
FORWARDS_PER_IMAGE = 8
FORWARDS_PER_SMALL_VIEW = 3


def forward_flops(cell: Cell, image_size: int) -> int:
    """FLOPs of one backbone+projector forward of one image, counted on the meta device."""
    with torch.device("meta"):
        model = build_model(cell.config, image_size)
        x = torch.empty(2, 3, image_size, image_size)
        with FlopCounterMode(display=False) as counter:
            model.projector(model.backbone(x))
    return counter.get_total_flops() // 2


def step_flops_per_image(cell: Cell, image_size: int) -> int:
    """FLOPs one training step spends on one image: both views through both networks, and
    the small views (``augment.local_crops``) through the online one at their own size."""
    flops = forward_flops(cell, image_size) * FORWARDS_PER_IMAGE
    augment = cell.config.augment
    if augment.local_crops:
        side = min(local_size_for(augment.local_size, image_size), image_size)
        flops += forward_flops(cell, side) * FORWARDS_PER_SMALL_VIEW * augment.local_crops
    return flops


def compute_estimate(cell: Cell) -> tuple[str, str, str]:
    """(image side, optimizer steps, compute) of one cell, as the dry run prints them."""
    entry = CATALOG.get(split_name(cell.dataset)[0])
    size = cell.config.data.image_size or (entry.image_size if entry else 224)
    views = view_side_for(cell.config.augment.view_size_fraction, size)  # pretraining views
    try:
        flops = step_flops_per_image(cell, views)
    except (
        ByolbenchError,
        RuntimeError,
        NotImplementedError,
        ValueError,
        AssertionError,  # timm checks many arguments with assert
    ) as exc:
        return f"{size}", "? optimizer steps", f"? ({type(exc).__name__})"
    per_image = f"{flops / 1e9:.2f} GFLOP/img"
    if entry is None:
        return f"{size}", "? optimizer steps", per_image
    if cell.config.train.time_budget:  # the steps are planned from the measured speed
        budget = cell.config.train.time_budget
        return (
            f"{size}",
            f"the optimizer steps that fit in {budget} (planned as it runs)",
            per_image,
        )
    images = entry.pretrain_images
    if cell.config.data.max_train_samples:
        images = min(images, cell.config.data.max_train_samples)
    steps_per_epoch = images // max(1, cell.config.train.batch_size)  # invalid: see problems
    steps = steps_per_epoch * cell.config.train.epochs
    total = flops * steps * cell.config.train.batch_size
    return f"{size}", f"{steps:,} optimizer steps*", f"{total / 1e15:.2f} PFLOP ({per_image})"


def recipe_line(cell: Cell) -> str:
    """``recipe standard/vit (AdamW ...): optim.name=adamw, ...`` for one cell."""
    family = cell.recipe.rpartition("/")[2]
    summary = RECIPES[family].summary if family in RECIPES else ""
    flat = cell.config.flat()
    applied = ", ".join(f"{k}={flat[k]}" for k in cell.recipe_keys)
    kept = " (every recipe key was set by you)" if family != "convnet" and not applied else ""
    return f"recipe {cell.recipe}: {summary}" + (f"; set {applied}" if applied else "") + kept


def show_dry_run(cells: Sequence[Cell], report: Preflight | None = None) -> None:
    """Prints each cell: its id, a compute estimate and the settings that differ from defaults;
    then the notes and problems of the pre-flight checks (``report``)."""
    console.print(f"[bold]{len(cells)} cell(s)[/] (a dry run trains nothing)\n")
    for index, cell in enumerate(cells, start=1):
        size, steps, compute = compute_estimate(cell)
        console.print(f"[bold]{index}. {cell.cell_id}[/]: {size} px, {steps}, {compute}")
        diff = diff_from_defaults(cell.config)
        console.print("   " + ", ".join(f"{k}={v}" for k, v in diff.items()), soft_wrap=True)
        console.print("   " + escape(recipe_line(cell)), soft_wrap=True)
    console.print(
        "\n[dim]* with one process; compute = 8 backbone forwards per image per step (online "
        "forward+backward of two views, target forward of two views; 3 more per small view "
        "at its size), at the pretraining views' side, multiply-adds x 2[/]"
    )
    if report is None:
        return
    for note in report.notes:
        console.print(f"[cyan]note:[/] {escape(note)}", soft_wrap=True)
    if not report.problems:
        console.print("[green]pre-flight checks passed: the matrix can run[/]")
