"""Checks of a whole matrix before any cell starts: every problem at once, one line each.

What is checked, for every cell: each setting against its valid range
(``byolbench.validation``); backbone, dataset and augmentation names; the dataset's presence
on disk (image folders' layout and classes; torchvision files when downloads are off); the
batch against the dataset's size and ``eval.knn_k`` against its training images; the image
size against what the backbone can take; and that the results folder can be written.
``run_matrix`` calls ``preflight`` first; ``byolbench run --dry-run`` reports the same.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from byolbench.augment.presets import (
    AUGMENTATIONS,
    jitter_strength_problem,
    resolve_preset_name,
)
from byolbench.bench.cell_eval import check_evaluation
from byolbench.bench.matrix import Cell
from byolbench.bench.store import RUNS_DIR, RUNS_FILE, is_writable_dir
from byolbench.config import EvalConfig
from byolbench.data.base import data_root
from byolbench.data.presence import DatasetFacts, dataset_facts
from byolbench.data.registry import DATASETS, split_name
from byolbench.errors import ByolbenchError, ConfigError, ProblemsError, unknown_name_message
from byolbench.family_names import VIT
from byolbench.models.backbone import (
    ALIASES,
    is_timm_model,
    model_kwargs,
    model_kwargs_problem,
)
from byolbench.models.family import backbone_family
from byolbench.models.input_size import input_size_problem
from byolbench.models.registry import BACKBONES
from byolbench.validation import config_problems

logger = logging.getLogger(__name__)


@dataclass
class Preflight:
    """The outcome of the checks.

    Attributes:
        problems: One line each; any problem means nothing may start.
        notes: Facts worth showing in a dry run (e.g. downloads that will happen).
    """

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        """Adds a problem once."""
        if line and line not in self.problems:
            self.problems.append(line)


def _backbone_problem(name: str) -> str:
    resolved = ALIASES.get(name, name)
    if is_timm_model(resolved) or name in BACKBONES:
        return ""
    import timm

    choices = [*ALIASES, *BACKBONES.names(), *timm.list_models()]
    return unknown_name_message(
        "backbone", name, choices, "See `byolbench list backbones --all-timm`."
    )


def name_problems(cell: Cell) -> list[str]:
    """Unknown backbone, dataset or augmentation names of one cell (with close matches)."""
    problems = []
    backbone = _backbone_problem(cell.backbone)
    if backbone:
        problems.append(backbone)
    dataset = split_name(cell.dataset)[0]
    if dataset not in DATASETS:
        problems.append(
            unknown_name_message(
                "dataset", cell.dataset, DATASETS.names(), "See `byolbench list datasets`."
            )
        )
    augmentation = resolve_preset_name(cell.augmentation, 32)
    if cell.augmentation != "auto" and augmentation not in AUGMENTATIONS:
        problems.append(
            unknown_name_message(
                "augmentation",
                cell.augmentation,
                [*AUGMENTATIONS.names(), "auto"],
                "See `byolbench list augmentations`.",
            )
        )
    return problems


def check_names(cells: Sequence[Cell]) -> None:
    """Fails on unknown backbone, dataset or augmentation names before any training.

    Raises:
        ProblemsError: Listing every unknown name (with close matches).
    """
    problems = [line for cell in cells for line in name_problems(cell)]
    if problems:
        raise ProblemsError(problems)


def _processes() -> int:
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def size_problems(cell: Cell, facts: DatasetFacts, processes: int) -> list[str]:
    """The batch against the pretraining images, ``eval.knn_k`` against the training images."""
    config = cell.config
    problems = []
    per_step = config.train.batch_size * processes * config.train.grad_accum_steps
    images = facts.pretrain_images
    if images is not None and config.data.max_train_samples:
        images = min(images, config.data.max_train_samples)
    if images is not None and per_step > images:
        problems.append(
            f"train.batch_size={config.train.batch_size}: {per_step} images per optimizer step "
            f"({processes} process(es) x {config.train.grad_accum_steps} accumulation step(s)) "
            f"exceed the {images} pretraining images of {cell.dataset}; e.g. --batch-size "
            f"{max(2, min(256, images // max(1, processes * config.train.grad_accum_steps)))}"
        )
    # The default k is capped at the training images (documented); a k set on purpose above
    # them is a mistake.
    explicit_k = config.eval.knn_k != EvalConfig.knn_k
    if facts.train_images is not None and explicit_k and config.eval.knn_k > facts.train_images:
        problems.append(
            f"eval.knn_k={config.eval.knn_k}: expected at most the {facts.train_images} "
            f"training images of {cell.dataset}; e.g. --set eval.knn_k="
            f"{min(200, facts.train_images)}"
        )
    return problems


def _image_size_problem(cell: Cell, facts: DatasetFacts) -> str:
    size = cell.config.data.image_size or facts.image_size
    if not size:
        return ""
    try:
        problem = input_size_problem(cell.backbone, size, cell.config.model.small_image_stem)
    except ByolbenchError as exc:  # a broken plugin backbone
        return str(exc).splitlines()[0]
    if problem and not cell.config.data.image_size:
        problem = problem.replace(
            f"data.image_size={size}:",
            f"data.image_size=0 (the native {size} px of {cell.dataset}):",
        )
    return problem


def _model_kwargs_problem(cell: Cell, facts: DatasetFacts) -> str:
    """Whether the backbone takes ``model.global_pool``, ``model.patch_drop_rate``,
    ``model.channels`` and ``model.stem_width``."""
    model = cell.config.model
    kwargs = model_kwargs(cell.config)
    size = cell.config.data.image_size or facts.image_size
    if not kwargs or not size or not 0 <= model.patch_drop_rate < 1:
        return ""  # an out-of-range rate is reported by the range checks
    if any(width < 1 for width in model.channels) or model.stem_width < 0:
        return ""  # and so is a width below 1
    if model.patch_drop_rate and model_kwargs_problem(
        cell.backbone, size, patch_drop_rate=model.patch_drop_rate
    ):
        return (
            f"model.patch_drop_rate={model.patch_drop_rate}: backbone {cell.backbone!r} has "
            "no patch tokens to drop; it works with timm vision transformers (vit_*, deit_*, "
            "eva_*); use --set model.patch_drop_rate=0"
        )
    problem = model_kwargs_problem(cell.backbone, size, **kwargs)
    if problem and model.channels:
        widths = _resnet_option_problem(
            cell,
            size,
            ("channels", model.channels, ",".join(map(str, model.channels))),
            "takes no stage widths; they work with timm ResNets (resnet10t, resnet18, "
            "resnet50, ...); use --set model.channels= for its own",
        )
        if widths:
            return widths
    if problem and model.stem_width:
        stem = _resnet_option_problem(
            cell,
            size,
            ("stem_width", model.stem_width, str(model.stem_width)),
            "takes no stem width; it works with timm ResNets whose stem is deep (resnet10t, "
            "resnet26d, ...); use --set model.stem_width=0 for its own",
        )
        if stem:
            return stem
    if problem and model.global_pool:
        return (
            f"model.global_pool={model.global_pool!r}: backbone {cell.backbone!r} does not "
            f"pool that way ({problem[:120]}); use --set model.global_pool= for its own"
        )
    return problem


def _resnet_option_problem(
    cell: Cell, size: int, option: tuple[str, object, str], refusal: str
) -> str:
    """The problem of one ResNet-only option ``(name, value, as the user wrote it)`` alone:
    the model's own message where it names the option (a count or a stem it refuses), else
    ``refusal`` for a backbone that takes no such option; ``""`` when it takes it."""
    name, value, shown = option
    alone = model_kwargs_problem(cell.backbone, size, **{name: value})
    if not alone or alone.startswith(f"model.{name}="):
        return alone
    return f"model.{name}={shown}: backbone {cell.backbone!r} {refusal}"


def view_size_problem(cell: Cell) -> str:
    """Views smaller than the images (progressive resizing, ``augment.view_size_fraction``)
    for a vision transformer, which is built for one input size."""
    augment = cell.config.augment
    if backbone_family(cell.backbone) != VIT:
        return ""
    if augment.progressive_min_size:
        setting = f"augment.progressive_min_size={augment.progressive_min_size}"
    elif augment.view_size_fraction < 1:
        setting = f"augment.view_size_fraction={augment.view_size_fraction:g}"
    else:
        return ""
    return (
        f"{setting}: backbone {cell.backbone!r} is a vision transformer built for one input "
        "size, so its views cannot be smaller than the images; use --set "
        "augment.progressive_min_size=0 --set augment.view_size_fraction=1"
    )


def results_problems(results_dir: Path) -> list[str]:
    """The results folder must be (or become) a writable folder with a readable index."""
    if results_dir.exists() and not results_dir.is_dir():
        return [
            f"--results-dir {results_dir} is a file, not a folder; pass a folder, e.g. "
            "--results-dir results"
        ]
    if not is_writable_dir(results_dir):
        return [
            f"--results-dir {results_dir} cannot be written (read-only, or not yours); pass "
            "another --results-dir"
        ]
    problems = []
    runs = results_dir / RUNS_DIR
    if runs.exists() and not runs.is_dir():
        problems.append(f"{runs} is a file, but run folders go there; move it aside")
    index = results_dir / RUNS_FILE
    if index.exists():
        try:
            with open(index, encoding="utf-8") as handle:
                handle.read(1 << 16)
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(
                f"{index} is not a readable results CSV ({exc}); move it aside (it is rebuilt "
                "from the run folders)"
            )
    return problems


def check_cells(cells: Sequence[Cell], results_dir: Path | None = None) -> Preflight:
    """Runs every check on every cell; nothing is trained, downloaded or decoded."""
    report = Preflight()
    if results_dir is not None:
        for line in results_problems(Path(results_dir)):
            report.add(line)
    facts_of: dict[tuple[str, str, bool, int], DatasetFacts] = {}
    processes = _processes()
    for cell in cells:
        for line in config_problems(cell.config):
            report.add(line)
        names = name_problems(cell)
        for line in names:
            report.add(line)
        if not names:
            report.add(view_size_problem(cell))
            report.add(
                jitter_strength_problem(cell.augmentation, cell.config.augment.jitter_strength)
            )
        try:
            check_evaluation([cell])
        except ConfigError as exc:
            report.add(str(exc))
        data = cell.config.data
        if split_name(cell.dataset)[0] not in DATASETS:
            continue
        limit = max(cell.config.train.batch_size * processes, cell.config.eval.knn_k) + 1
        key = (cell.dataset, data.data_dir, data.download, limit)
        if key not in facts_of:
            facts_of[key] = dataset_facts(
                cell.dataset, data_root(data.data_dir or None), data.download, limit
            )
            report.notes.extend(n for n in facts_of[key].notes if n not in report.notes)
        facts = facts_of[key]
        for line in facts.problems:
            report.add(line)
        for line in size_problems(cell, facts, processes):
            report.add(line)
        if not names and not facts.problems:
            report.add(_image_size_problem(cell, facts))
            report.add(_model_kwargs_problem(cell, facts))
    return report


def preflight(cells: Sequence[Cell], results_dir: Path | None = None) -> Preflight:
    """Checks the whole matrix; returns the report when there is no problem.

    Raises:
        ProblemsError: Listing every problem, one line each.
    """
    report = check_cells(cells, results_dir)
    if report.problems:
        raise ProblemsError(report.problems)
    for note in report.notes:
        logger.info(note)
    return report
