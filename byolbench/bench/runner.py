"""Runs matrix cells: pretrain, evaluate BYOL and random init, store rows; resumable.

A cell is finished when its ``eval.json`` exists with the same config hash; rerunning a
matrix skips it (re-adding its rows to ``runs.csv`` if a crash lost them). A half-done cell
resumes from its newest checkpoint. A failed cell is recorded in ``failures.csv`` and in its
folder's ``error.json``, and the matrix goes on unless ``fail_fast`` is set.
"""

from __future__ import annotations

import logging
import shutil
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import set_seed
from safetensors.torch import save_file

from byolbench import __version__
from byolbench.atomic import atomic_path
from byolbench.augment.presets import AUGMENTATIONS, resolve_preset_name
from byolbench.bench.matrix import Cell
from byolbench.bench.store import ResultsStore, read_json, utc_now, write_json
from byolbench.data import load_dataset
from byolbench.data.base import limit_train_samples
from byolbench.data.registry import DATASETS, split_name
from byolbench.env_info import collect_env, device_name, git_commit
from byolbench.errors import ByolbenchError, ConfigError
from byolbench.eval.evaluate import EvalRow, evaluate_backbone
from byolbench.models.backbone import ALIASES, backbone_spec, is_timm_model
from byolbench.models.registry import BACKBONES
from byolbench.train.accel import make_accelerator
from byolbench.train.precision import autocast_dtype
from byolbench.train.trainer import Trainer, TrainingInterrupted, build_model, image_size_for

logger = logging.getLogger(__name__)

EVAL_FILE = "eval.json"
WEIGHTS_FILE = "model.safetensors"
BACKBONE_FILE = "backbone.json"


@dataclass
class RunOptions:
    """How to run a matrix.

    Attributes:
        results_dir: Results folder (``runs.csv``, ``runs/<cell>/``).
        log_with: Optional Accelerate tracker.
        fail_fast: Stop at the first failed cell.
        keep_checkpoints: Keep training checkpoints of finished cells.
        cpu: Train on the CPU even where a GPU is present.
    """

    results_dir: Path
    log_with: str = ""
    fail_fast: bool = False
    keep_checkpoints: bool = False
    cpu: bool = False


@dataclass
class CellOutcome:
    """What happened to one cell."""

    cell: Cell
    status: str  # "done", "skipped" or "failed"
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    run_dir: Path | None = None


@dataclass
class RunCallbacks:
    """Hooks for a user interface; every one is optional."""

    on_cell: Callable[[Cell, int, int], None] | None = None
    on_step: Callable[[int, int], None] | None = None
    on_log: Callable[[dict[str, Any]], None] | None = None
    on_phase: Callable[[str], None] | None = None
    on_outcome: Callable[[CellOutcome], None] | None = None


def check_names(cells: Sequence[Cell]) -> None:
    """Fails fast on unknown backbone, dataset or augmentation names before any training.

    Raises:
        ConfigError: For the first unknown name (with close matches).
    """
    from byolbench.errors import unknown_name_message

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


def _phase(callbacks: RunCallbacks, text: str) -> None:
    logger.info(text)
    if callbacks.on_phase is not None:
        callbacks.on_phase(text)


def _result_rows(
    cell: Cell,
    rows: Sequence[EvalRow],
    meta: dict[str, Any],
) -> list[dict[str, Any]]:
    return [
        {
            **meta,
            "method": row.method,
            "protocol": row.protocol,
            "top1": round(row.top1, 4),
            "top5": round(row.top5, 4),
            "protocol_details": row.details,
        }
        for row in rows
    ]


def _finished(store: ResultsStore, cell: Cell) -> list[dict[str, Any]] | None:
    """The stored rows of a finished cell with the same config, else ``None``."""
    eval_file = store.run_dir(cell.cell_id) / EVAL_FILE
    if not eval_file.is_file():
        return None
    try:
        record = read_json(eval_file)
    except ValueError:
        return None
    if record.get("config_hash") != cell.config.config_hash():
        return None
    return list(record.get("rows", []))


def save_final_weights(run_dir: Path, model: torch.nn.Module, info: dict[str, Any]) -> None:
    """Writes the whole BYOL module (``model.safetensors``) and ``backbone.json``."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(run_dir / WEIGHTS_FILE) as tmp:
        save_file(state, tmp, metadata={"format": "byolbench-byol"})
    write_json(run_dir / BACKBONE_FILE, info)


def run_cell(
    cell: Cell, store: ResultsStore, options: RunOptions, callbacks: RunCallbacks
) -> CellOutcome:
    """Pretrains and evaluates one cell (or skips it when already finished)."""
    config = cell.config
    run_dir = store.run_dir(cell.cell_id)
    finished = _finished(store, cell)
    if finished is not None:
        if not store.has_rows(cell.cell_id, config.config_hash()):
            store.append(finished)
        return CellOutcome(cell, "skipped", finished, run_dir=run_dir)

    accelerator = make_accelerator(
        config.train.mixed_precision,
        config.train.grad_accum_steps,
        options.log_with,
        str(run_dir),
        cpu=options.cpu,
    )
    device = accelerator.device
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "config.json", config.to_dict())
        write_json(
            run_dir / "env.json",
            collect_env(
                device,
                accelerator.num_processes,
                mixed_precision=accelerator.mixed_precision,
                config_hash=config.config_hash(),
                cell_id=cell.cell_id,
            ),
        )
    if options.log_with:
        accelerator.init_trackers(cell.cell_id, config=config.flat())
    _phase(callbacks, f"loading {cell.dataset}")
    with accelerator.main_process_first():
        splits = load_dataset(
            config.data.dataset,
            config.data.data_dir or None,
            config.data.download,
            config.data.image_size,
        )
    splits = limit_train_samples(splits, config.data.max_train_samples)
    image_size = image_size_for(config, splits)

    _phase(callbacks, f"pretraining {cell.backbone} on {cell.dataset} (seed {cell.seed})")
    trainer = Trainer(config, splits, accelerator, run_dir, callbacks.on_step, callbacks.on_log)
    result = trainer.fit()
    if options.log_with:
        accelerator.end_training()
    main = accelerator.is_main_process
    spec = backbone_spec(result.model.backbone)
    if main:
        save_final_weights(
            run_dir,
            result.model,
            {
                "backbone": spec.to_dict(),
                "dataset": splits.info.name,
                "class_names": list(splits.info.class_names),
                "mean": list(splits.info.mean),
                "std": list(splits.info.std),
                "config_hash": config.config_hash(),
                "steps": result.state.step,
            },
        )
    eval_kwargs = {
        "device": device,
        "autocast_dtype": autocast_dtype(accelerator.mixed_precision),
        "channels_last": config.model.channels_last,
        "seed": config.train.seed,
        "accelerator": accelerator,
    }
    _phase(callbacks, "evaluating the BYOL online backbone")
    rows = evaluate_backbone(
        result.model.backbone, splits, config.eval, image_size, "byol", **eval_kwargs
    )
    if config.eval.random_baseline:
        _phase(callbacks, "evaluating the same backbone at random initialisation")
        set_seed(config.train.seed)
        baseline = build_model(config, image_size).backbone.to(device)
        if config.model.channels_last:
            baseline = baseline.to(memory_format=torch.channels_last)
        rows += evaluate_backbone(
            baseline, splits, config.eval, image_size, "random", **eval_kwargs
        )
    accelerator.wait_for_everyone()
    if not main:
        return CellOutcome(cell, "done", run_dir=run_dir)

    meta = {
        "timestamp": utc_now(),
        "cell_id": cell.cell_id,
        "config_hash": config.config_hash(),
        "dataset": cell.dataset,
        "backbone": cell.backbone,
        "augmentation": resolve_preset_name(cell.augmentation, image_size),
        "seed": cell.seed,
        "epochs": config.train.epochs,
        "steps": result.state.step,
        "batch_size": trainer.global_batch,
        "image_size": image_size,
        "pretrain_seconds": round(result.state.train_seconds, 1),
        "images_per_second": round(result.images_per_second, 2),
        "mixed_precision": accelerator.mixed_precision,
        "device": device_name(device),
        "num_processes": accelerator.num_processes,
        "byolbench_version": __version__,
        "git_commit": git_commit(),
        "run_dir": str(run_dir),
    }
    table_rows = _result_rows(cell, rows, meta)
    write_json(run_dir / EVAL_FILE, {"config_hash": config.config_hash(), "rows": table_rows})
    store.append(table_rows)
    if not options.keep_checkpoints:
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return CellOutcome(cell, "done", table_rows, run_dir=run_dir)


def _record_failure(store: ResultsStore, cell: Cell, exc: BaseException) -> str:
    message = str(exc) if isinstance(exc, ByolbenchError) else f"{type(exc).__name__}: {exc}"
    run_dir = store.run_dir(cell.cell_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(
        run_dir / "error.json",
        {
            "timestamp": utc_now(),
            "error": message,
            "traceback": traceback.format_exception(type(exc), exc, exc.__traceback__),
        },
    )
    store.append_failure(
        {
            "timestamp": utc_now(),
            "cell_id": cell.cell_id,
            "config_hash": cell.config.config_hash(),
            "dataset": cell.dataset,
            "backbone": cell.backbone,
            "seed": cell.seed,
            "error": message.splitlines()[0] if message else type(exc).__name__,
        }
    )
    return message


def run_matrix(
    cells: Sequence[Cell],
    options: RunOptions,
    callbacks: RunCallbacks | None = None,
) -> list[CellOutcome]:
    """Runs every cell in order; see the module docstring for skip, resume and failure rules.

    Raises:
        TrainingInterrupted: On Ctrl-C (after the running cell wrote a checkpoint).
        ByolbenchError: The first failure when ``options.fail_fast`` is set.
    """
    callbacks = callbacks or RunCallbacks()
    check_names(cells)
    store = ResultsStore(options.results_dir)
    outcomes: list[CellOutcome] = []
    for index, cell in enumerate(cells):
        if callbacks.on_cell is not None:
            callbacks.on_cell(cell, index, len(cells))
        try:
            outcome = run_cell(cell, store, options, callbacks)
        except TrainingInterrupted:
            raise
        except Exception as exc:
            if options.fail_fast:
                _record_failure(store, cell, exc)
                raise
            message = _record_failure(store, cell, exc)
            logger.error("cell %s failed: %s", cell.cell_id, message.splitlines()[0])
            outcome = CellOutcome(
                cell, "failed", error=message, run_dir=store.run_dir(cell.cell_id)
            )
        outcomes.append(outcome)
        if callbacks.on_outcome is not None:
            callbacks.on_outcome(outcome)
    return outcomes
