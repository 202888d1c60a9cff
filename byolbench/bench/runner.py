"""Runs matrix cells through named stages; resumable, claimed, written once.

A cell goes through ``start_cell`` (accelerator, run folder, config and environment records),
``load_cell_data``, ``load_transfer_data`` (``eval.datasets``, before any compute is spent),
``pretrain_cell``, ``save_cell_weights``, ``evaluate_cell`` (the online backbone and the init
baselines, in-domain and on each transfer dataset), ``cell_rows`` (result rows with their
provenance) and
``finish_cell`` (the rows file written atomically, the index rebuilt, checkpoints dropped).
The local loop (``run_matrix``) and a cluster job (``byolbench.bench.slurm``) call the same
``run_cell``.

A cell is finished when its ``eval.json`` holds rows of the same config hash; rerunning a
matrix skips it. If that file was lost but ``runs.csv`` still has the cell's rows, the file is
restored from them instead of training again. A half-done cell resumes from its newest
checkpoint. A cell being trained by another live process is skipped (or waited for). A failed
cell is recorded in its folder's ``error.json`` (indexed in ``failures.csv``) and the matrix
goes on unless ``fail_fast`` is set.

Before any cell starts, ``run_matrix`` checks the whole matrix (``byolbench.bench.preflight``).
Ctrl-C or SIGTERM in any stage ends in ``TrainingInterrupted`` with the resume hint
(``byolbench.bench.interrupts``), and every attempt at a cell is recorded in its
``progress.json`` (``byolbench.bench.progress``).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from safetensors.torch import save_file

from byolbench import __version__
from byolbench.atomic import atomic_path
from byolbench.augment.presets import resolve_preset_name
from byolbench.bench.cell_eval import (
    EmbeddingMapCollector,
    frozen_probe_result,
    online_probe_result,
    with_statistics,
)
from byolbench.bench.claim import Claim, ClaimHolder, try_claim
from byolbench.bench.interrupts import interruptible, signals_held, sigterm_as_interrupt
from byolbench.bench.matrix import Cell
from byolbench.bench.plan import write_plan
from byolbench.bench.preflight import preflight
from byolbench.bench.progress import CellProgress, resume_message
from byolbench.bench.store import ResultsStore, utc_now, write_json
from byolbench.config import RunConfig
from byolbench.data import load_dataset
from byolbench.data.base import DatasetSplits, limit_pretrain_samples
from byolbench.env_info import collect_env, device_name, git_commit
from byolbench.errors import ByolbenchError
from byolbench.eval.evaluate import EvalRow, evaluate_backbone, protocol_variant
from byolbench.models.backbone import backbone_spec
from byolbench.train.accel import make_accelerator, use_cpu
from byolbench.train.checkpoint import TrainState
from byolbench.train.online_probe import PROBE_FILE
from byolbench.train.precision import autocast_dtype
from byolbench.train.trainer import (
    Trainer,
    TrainingInterrupted,
    TrainResult,
    build_model,
    image_size_for,
)

logger = logging.getLogger(__name__)

EVAL_FILE = "eval.json"
WEIGHTS_FILE = "model.safetensors"
BACKBONE_FILE = "backbone.json"
WAIT_POLL_SECONDS = 5.0


@dataclass
class RunOptions:
    """How to run a matrix.

    Attributes:
        results_dir: Results folder (``runs.csv``, ``runs/<cell>/``).
        log_with: Optional Accelerate tracker.
        fail_fast: Stop at the first failed cell.
        keep_checkpoints: Keep training checkpoints of finished cells.
        cpu: Train on the CPU even where a GPU is present.
        wait_for_running: When another live process trains a cell, wait for it to finish
            instead of skipping it.
    """

    results_dir: Path
    log_with: str = ""
    fail_fast: bool = False
    keep_checkpoints: bool = False
    cpu: bool = False
    wait_for_running: bool = False


@dataclass
class CellOutcome:
    """What happened to one cell.

    ``status`` is ``done``, ``skipped`` (finished before), ``running`` (another process holds
    it) or ``failed``.
    """

    cell: Cell
    status: str
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


@dataclass
class CellContext:
    """What the stages of one cell share."""

    cell: Cell
    store: ResultsStore
    options: RunOptions
    callbacks: RunCallbacks
    accelerator: Accelerator
    run_dir: Path
    claim: Claim | None = None
    eval_seconds: float = 0.0
    progress: CellProgress | None = None

    @property
    def main(self) -> bool:
        """Whether this is the main process (the one that writes files)."""
        return bool(self.accelerator.is_main_process)


class DataCache:
    """Loaded datasets shared by the cells of a matrix; a load failure is tried only once.

    Only the newest successfully loaded dataset is kept (cells are ordered by dataset).
    """

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._splits: DatasetSplits | None = None
        self._failures: dict[tuple[Any, ...], ByolbenchError] = {}

    def load(self, dataset: str, data_dir: str, download: bool, image_size: int) -> DatasetSplits:
        """The dataset's splits (raising the remembered error of an earlier failed load)."""
        key = (dataset, data_dir, download, image_size)
        if key in self._failures:
            raise self._failures[key]
        if key == self._key and self._splits is not None:
            return self._splits
        try:
            splits = load_dataset(dataset, data_dir or None, download, image_size)
        except ByolbenchError as exc:
            self._failures[key] = exc
            raise
        self._key, self._splits = key, splits
        return splits


def _phase(callbacks: RunCallbacks, text: str) -> None:
    logger.info(text)
    if callbacks.on_phase is not None:
        callbacks.on_phase(text)


# -- stages -------------------------------------------------------------------------------


def finished_rows(store: ResultsStore, cell: Cell) -> list[dict[str, Any]] | None:
    """The rows of a finished cell with the same config, else ``None``.

    A lost or damaged ``eval.json`` is restored from the cell's rows in ``runs.csv``.
    """
    config_hash = cell.config.config_hash()
    rows = store.cell_rows(cell.cell_id, config_hash)
    if rows is not None:
        return rows
    indexed = store.indexed_rows(cell.cell_id, config_hash)
    if not indexed:
        return None
    logger.warning(
        "%s: %s was missing or unreadable; restored it from the cell's %d rows in %s",
        cell.cell_id,
        EVAL_FILE,
        len(indexed),
        store.runs_csv,
    )
    store.write_cell_rows(cell.cell_id, config_hash, indexed)
    return list(indexed)


def start_cell(
    cell: Cell,
    store: ResultsStore,
    options: RunOptions,
    callbacks: RunCallbacks,
    claim: Claim | None = None,
) -> CellContext:
    """Creates the accelerator and the run folder with ``config.json`` and ``env.json``."""
    config = cell.config
    run_dir = store.run_dir(cell.cell_id)
    accelerator = make_accelerator(
        config.train.mixed_precision,
        config.train.grad_accum_steps,
        options.log_with,
        str(run_dir),
        cpu=options.cpu,
    )
    ctx = CellContext(cell, store, options, callbacks, accelerator, run_dir, claim)
    if ctx.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "config.json", config.to_dict())
        write_json(
            run_dir / "env.json",
            collect_env(
                accelerator.device,
                accelerator.num_processes,
                mixed_precision=accelerator.mixed_precision,
                config_hash=config.config_hash(),
                cell_id=cell.cell_id,
            ),
        )
    if options.log_with:
        accelerator.init_trackers(cell.cell_id, config=config.flat())
    return ctx


def load_cell_data(ctx: CellContext, cache: DataCache | None = None) -> DatasetSplits:
    """Loads the cell's dataset (downloads run on the main process first) and caps the
    pretraining split at ``data.max_train_samples``."""
    data = ctx.cell.config.data
    _phase(ctx.callbacks, f"loading {ctx.cell.dataset}")
    cache = cache or DataCache()
    with ctx.accelerator.main_process_first():
        splits = cache.load(data.dataset, data.data_dir, data.download, data.image_size)
    return limit_pretrain_samples(splits, data.max_train_samples)


def pretrain_cell(ctx: CellContext, splits: DatasetSplits) -> TrainResult:
    """Pretrains BYOL (resuming from the newest valid checkpoint)."""
    cell = ctx.cell
    _phase(ctx.callbacks, f"pretraining {cell.backbone} on {cell.dataset} (seed {cell.seed})")

    def on_log(record: dict[str, Any]) -> None:
        if ctx.claim is not None:
            ctx.claim.heartbeat()
        if ctx.callbacks.on_log is not None:
            ctx.callbacks.on_log(record)

    def on_step(step: int, total: int) -> None:
        if ctx.progress is not None:
            ctx.progress.step(step, total)
        if ctx.callbacks.on_step is not None:
            ctx.callbacks.on_step(step, total)

    def on_resume(checkpoint: str, state: TrainState, total: int) -> None:
        if ctx.progress is not None:
            ctx.progress.resumed(checkpoint, state.step, total)
        _phase(
            ctx.callbacks,
            resume_message(
                cell.cell_id, checkpoint, state.step, total, state.images_seen, state.train_seconds
            ),
        )

    trainer = Trainer(cell.config, splits, ctx.accelerator, ctx.run_dir, on_step, on_log, on_resume)
    result = trainer.fit()
    if ctx.options.log_with:
        ctx.accelerator.end_training()
    return result


def save_cell_weights(ctx: CellContext, result: TrainResult, splits: DatasetSplits) -> None:
    """Writes the whole BYOL module (``model.safetensors``) and ``backbone.json``."""
    if not ctx.main:
        return
    spec = backbone_spec(result.model.backbone)
    save_final_weights(
        ctx.run_dir,
        result.model,
        {
            "backbone": spec.to_dict(),
            "dataset": splits.info.name,
            "class_names": list(splits.info.class_names),
            "mean": list(splits.info.mean),
            "std": list(splits.info.std),
            "crop_pct": splits.info.crop_pct,
            "stored_image_size": splits.info.image_size,
            "config_hash": ctx.cell.config.config_hash(),
            "steps": result.state.step,
        },
    )
    if result.online_probe is not None:
        result.online_probe.save(ctx.run_dir / PROBE_FILE, splits.info.name)


def init_baselines(pretrained: bool) -> list[tuple[str, bool]]:
    """``(method, pretrained)`` of the init baselines: always a true random init; with
    ``model.pretrained=true`` also the pretrained init BYOL started from."""
    baselines = [("random", False)]
    if pretrained:
        baselines.append(("pretrained-init", True))
    return baselines


def load_transfer_data(
    ctx: CellContext, splits: DatasetSplits, cache: DataCache | None = None
) -> list[tuple[str, DatasetSplits]]:
    """Loads the transfer datasets (``eval.datasets``) before pretraining, so missing data
    fails before any compute is spent; each is normalised with the pretraining statistics."""
    config = ctx.cell.config
    names = [name for name in config.eval.datasets if name != config.data.dataset]
    image_size = image_size_for(config, splits)
    cache = cache or DataCache()
    out = []
    for name in names:
        _phase(ctx.callbacks, f"loading {name} (transfer)")
        with ctx.accelerator.main_process_first():
            other = cache.load(name, config.data.data_dir, config.data.download, image_size)
        out.append((name, with_statistics(other, splits.info)))
    return out


def evaluate_cell(
    ctx: CellContext,
    result: TrainResult,
    splits: DatasetSplits,
    transfer: Sequence[tuple[str, DatasetSplits]] = (),
) -> list[EvalRow]:
    """Evaluates the ONLINE backbone and, when configured, the same backbone at its init, on
    the pretraining dataset and on each transfer dataset."""
    config = ctx.cell.config
    accelerator = ctx.accelerator
    image_size = image_size_for(config, splits)
    eval_kwargs: dict[str, Any] = {
        "device": accelerator.device,
        "autocast_dtype": autocast_dtype(accelerator.mixed_precision),
        "channels_last": config.model.channels_last,
        "seed": config.train.seed,
        "accelerator": accelerator,
    }
    start = time.perf_counter()
    maps = EmbeddingMapCollector(config.eval, ctx.main)
    _phase(ctx.callbacks, "evaluating the BYOL online backbone")
    backbones: list[tuple[str, torch.nn.Module]] = [("byol", result.model.backbone)]
    rows = evaluate_backbone(
        result.model.backbone,
        splits,
        config.eval,
        image_size,
        "byol",
        online_probe=online_probe_result(result.online_probe, config.eval),
        on_test_features=maps.collect,
        **eval_kwargs,
    )
    if config.eval.random_baseline:
        for method, pretrained in init_baselines(config.model.pretrained):
            label = "random initialisation" if method == "random" else "its pretrained init"
            _phase(ctx.callbacks, f"evaluating the same backbone at {label}")
            set_seed(config.train.seed)
            init_config = config.replace({"model.pretrained": pretrained}, "baseline")
            baseline = build_model(init_config, image_size).backbone.to(accelerator.device)
            if config.model.channels_last:
                baseline = baseline.to(memory_format=torch.channels_last)
            backbones.append((method, baseline))
            probe = None
            if result.online_probe is not None and ctx.main:
                text = f"evaluating online-linear: the probe recipe on the frozen {label}"
                _phase(ctx.callbacks, text)
                probe = frozen_probe_result(
                    baseline, splits, config, image_size, result, eval_kwargs
                )
            rows += evaluate_backbone(
                baseline,
                splits,
                config.eval,
                image_size,
                method,
                online_probe=probe,
                on_test_features=maps.collect,
                **eval_kwargs,
            )
    maps.write(ctx.run_dir, splits.test.labels, config.train.seed)
    transfer_eval = dataclasses.replace(
        config.eval, protocols=tuple(p for p in config.eval.protocols if p != "online-linear")
    )
    for name, other in transfer if transfer_eval.protocols else ():
        for method, backbone in backbones:
            _phase(ctx.callbacks, f"evaluating {method} on {name} (transfer)")
            found = evaluate_backbone(
                backbone, other, transfer_eval, image_size, method, **eval_kwargs
            )
            for row in found:
                row.eval_dataset = name
                row.train_samples = len(other.train)
            rows += found
    accelerator.wait_for_everyone()
    ctx.eval_seconds = time.perf_counter() - start
    return rows


def cell_rows(
    ctx: CellContext, result: TrainResult, splits: DatasetSplits, rows: Sequence[EvalRow]
) -> list[dict[str, Any]]:
    """Result rows with everything that says how they were made."""
    config = ctx.cell.config
    accelerator = ctx.accelerator
    image_size = image_size_for(config, splits)
    meta = {
        "timestamp": utc_now(),
        "cell_id": ctx.cell.cell_id,
        "config_hash": config.config_hash(),
        "config_group": config.config_group(),
        "source": "run",
        "dataset": ctx.cell.dataset,
        "eval_dataset": ctx.cell.dataset,
        "backbone": ctx.cell.backbone,
        "augmentation": resolve_preset_name(ctx.cell.augmentation, image_size),
        "recipe": ctx.cell.recipe,
        "seed": ctx.cell.seed,
        "epochs": trained_epochs(config, result),
        "steps": result.state.step,
        "time_budget": config.train.time_budget,
        "batch_size": result.global_batch,
        "image_size": image_size,
        "pretrain_samples": len(splits.pretrain),
        "train_samples": len(splits.train),
        "pretrain_seconds": round(result.state.train_seconds, 1),
        "eval_seconds": round(ctx.eval_seconds, 1),
        "images_per_second": round(result.images_per_second, 2),
        "mixed_precision": accelerator.mixed_precision,
        "device": device_name(accelerator.device),
        "num_processes": accelerator.num_processes,
        "settings": config.settings(),
        "byolbench_version": __version__,
        "git_commit": git_commit(),
        "run_dir": str(ctx.run_dir),
    }
    return [
        {
            **meta,
            "eval_dataset": row.eval_dataset or ctx.cell.dataset,
            "train_samples": row.train_samples or len(splits.train),
            "method": row.method,
            "protocol": row.protocol,
            "variant": protocol_variant(row),
            "top1": round(row.top1, 4),
            "top5": round(row.top5, 4),
            "rankme": round(row.rankme, 3) if row.rankme == row.rankme else None,
            "protocol_details": row.details,
        }
        for row in rows
    ]


def trained_epochs(config: RunConfig, result: TrainResult) -> float:
    """``train.epochs``, or for a time-budgeted run the passes it made (two decimals)."""
    if not config.train.time_budget or not result.steps_per_epoch:
        return config.train.epochs
    return round(result.state.step / result.steps_per_epoch, 2)


def finish_cell(ctx: CellContext, rows: list[dict[str, Any]]) -> CellOutcome:
    """Writes the cell's rows once (atomically) and drops its training checkpoints."""
    if not ctx.main:
        return CellOutcome(ctx.cell, "done", run_dir=ctx.run_dir)
    ctx.store.write_cell_rows(ctx.cell.cell_id, ctx.cell.config.config_hash(), rows)
    if not ctx.options.keep_checkpoints:
        shutil.rmtree(ctx.run_dir / "checkpoints", ignore_errors=True)
    return CellOutcome(ctx.cell, "done", rows, run_dir=ctx.run_dir)


def save_final_weights(run_dir: Path, model: torch.nn.Module, info: dict[str, Any]) -> None:
    """Writes the whole BYOL module (``model.safetensors``) and ``backbone.json``."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(run_dir / WEIGHTS_FILE) as tmp:
        save_file(state, tmp, metadata={"format": "byolbench-byol"})
    write_json(run_dir / BACKBONE_FILE, info)


def train_and_evaluate(
    cell: Cell,
    store: ResultsStore,
    options: RunOptions,
    callbacks: RunCallbacks,
    claim: Claim | None = None,
    cache: DataCache | None = None,
    progress: CellProgress | None = None,
) -> CellOutcome:
    """Every stage of one unfinished cell, in order.

    Ctrl-C or SIGTERM in any stage ends in ``TrainingInterrupted`` with the resume hint (the
    trainer handles pretraining itself, finishing the step and writing a checkpoint).
    """
    name = cell.cell_id
    with interruptible(f"starting cell {name}", "nothing of it is lost"):
        ctx = start_cell(cell, store, options, callbacks, claim)
        ctx.progress = progress
    with interruptible(f"loading the data of cell {name}", "nothing of it is lost"):
        splits = load_cell_data(ctx, cache)
        transfer = load_transfer_data(ctx, splits)
    with interruptible(f"pretraining cell {name}", "its newest checkpoint is kept"):
        result = pretrain_cell(ctx, splits)
    kept = "its training is finished and its newest checkpoint kept (it is not trained again)"
    with interruptible(f"evaluating cell {name}", kept):
        save_cell_weights(ctx, result, splits)
        rows = evaluate_cell(ctx, result, splits, transfer)
    if not ctx.main:
        return CellOutcome(cell, "done", run_dir=ctx.run_dir)
    with interruptible(f"writing the results of cell {name}", kept):
        return finish_cell(ctx, cell_rows(ctx, result, splits, rows))


# -- claims, failures and the matrix loop ------------------------------------------------


def _claim(cell: Cell, store: ResultsStore, options: RunOptions) -> Claim | ClaimHolder | None:
    """Claims the cell on the main process (``None`` on the others); with several processes
    every rank learns the main process's answer."""
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    state = PartialState(cpu=use_cpu(options.cpu))
    outcome: Claim | ClaimHolder | None = None
    if state.is_main_process:
        outcome = try_claim(store.run_dir(cell.cell_id))
    if state.num_processes == 1:
        return outcome
    message = [outcome.describe() if isinstance(outcome, ClaimHolder) else ""]
    broadcast_object_list(message)
    if state.is_main_process:
        return outcome
    return ClaimHolder("?", -1, message[0], "", 0.0) if message[0] else None


def run_cell(
    cell: Cell,
    store: ResultsStore,
    options: RunOptions,
    callbacks: RunCallbacks,
    cache: DataCache | None = None,
) -> CellOutcome:
    """Skips a finished cell; otherwise claims it, trains and evaluates it, and releases it.

    A cell another live process holds is reported as ``running`` (or waited for with
    ``options.wait_for_running``).
    """
    run_dir = store.run_dir(cell.cell_id)
    waited = False
    while True:
        finished = finished_rows(store, cell)
        if finished is not None:
            return CellOutcome(cell, "skipped", finished, run_dir=run_dir)
        with signals_held() as arrived:  # a claimed cell always has its session on record
            claimed = _claim(cell, store, options)
            if not isinstance(claimed, ClaimHolder):
                progress = CellProgress(run_dir, cell.cell_id, enabled=claimed is not None)
                progress.start()
        if not isinstance(claimed, ClaimHolder):
            break
        if arrived:
            raise KeyboardInterrupt
        if not options.wait_for_running:
            message = f"cell {cell.cell_id} is running in {claimed.describe()}"
            logger.warning("%s; skipping it (--wait-for-running waits instead)", message)
            return CellOutcome(cell, "running", error=message, run_dir=run_dir)
        if not waited:
            _phase(callbacks, f"waiting for cell {cell.cell_id}: running in {claimed.describe()}")
            waited = True
        with interruptible(f"waiting for cell {cell.cell_id}", "nothing is lost"):
            time.sleep(WAIT_POLL_SECONDS)
    try:
        if arrived:
            raise KeyboardInterrupt
        outcome = train_and_evaluate(cell, store, options, callbacks, claimed, cache, progress)
    except (TrainingInterrupted, KeyboardInterrupt):
        progress.end("interrupted")
        raise
    except BaseException:
        progress.end("failed")
        raise
    else:
        steps = outcome.rows[0].get("steps") if outcome.rows else None
        progress.end("done", int(steps) if isinstance(steps, int) else None)
        return outcome
    finally:
        if claimed is not None:
            claimed.release()


def record_failure(store: ResultsStore, cell: Cell, exc: BaseException) -> str:
    """Writes the cell's ``error.json`` and rebuilds ``failures.csv``; returns the message."""
    message = str(exc) if isinstance(exc, ByolbenchError) else f"{type(exc).__name__}: {exc}"
    failure = {
        "timestamp": utc_now(),
        "cell_id": cell.cell_id,
        "config_hash": cell.config.config_hash(),
        "dataset": cell.dataset,
        "backbone": cell.backbone,
        "seed": cell.seed,
        "error": message.splitlines()[0] if message else type(exc).__name__,
    }
    try:
        store.record_failure(
            cell.cell_id, failure, traceback.format_exception(type(exc), exc, exc.__traceback__)
        )
        store.rebuild_index()
    except OSError as write_error:  # e.g. the disk that made the cell fail is full
        logger.error("could not record the failure of %s: %s", cell.cell_id, write_error)
    return message


def run_matrix(
    cells: Sequence[Cell],
    options: RunOptions,
    callbacks: RunCallbacks | None = None,
    plan: Sequence[Cell] | None = None,
) -> list[CellOutcome]:
    """Runs every cell in order; see the module docstring for skip, resume and failure rules.

    Args:
        cells: The cells to run (a shard of the matrix, or all of it).
        options: How to run them.
        callbacks: User-interface hooks.
        plan: The whole matrix, recorded in ``matrix.json`` (for ``byolbench status``) once
            the checks passed; ``None`` records nothing.

    Raises:
        ProblemsError: Before any cell starts, listing every problem of the matrix
            (``byolbench.bench.preflight``).
        TrainingInterrupted: On Ctrl-C or SIGTERM (after the running cell wrote a checkpoint).
        ByolbenchError: The first failure when ``options.fail_fast`` is set.
    """
    callbacks = callbacks or RunCallbacks()
    preflight(cells, options.results_dir)
    if plan is not None:
        write_plan(options.results_dir, plan)
    store = ResultsStore(options.results_dir)
    cache = DataCache()
    outcomes: list[CellOutcome] = []
    with sigterm_as_interrupt():
        for index, cell in enumerate(cells):
            done = f"{index} of {len(cells)} cell(s) are finished and kept"
            with interruptible("between cells", done):
                if callbacks.on_cell is not None:
                    callbacks.on_cell(cell, index, len(cells))
            with interruptible(f"starting cell {cell.cell_id}", done):
                outcome = _run_or_record(cell, store, options, callbacks, cache)
            outcomes.append(outcome)
            with interruptible("between cells", done):
                if callbacks.on_outcome is not None:
                    callbacks.on_outcome(outcome)
        with interruptible("rebuilding the index", "every finished cell is kept"):
            if _is_main_process(options.cpu):
                _rebuild_index(store)
    return outcomes


def _rebuild_index(store: ResultsStore) -> None:
    """Rebuilds ``runs.csv`` at the end; a failure (a full disk) is logged, not raised: the rows
    are safe in the run folders and the next run rebuilds the index from them."""
    try:
        store.rebuild_index()
    except OSError as exc:
        logger.error("could not rebuild the index: %s; the next run rebuilds it", exc)


def _run_or_record(
    cell: Cell,
    store: ResultsStore,
    options: RunOptions,
    callbacks: RunCallbacks,
    cache: DataCache,
) -> CellOutcome:
    """``run_cell``, with a failure recorded (and raised again with ``fail_fast``)."""
    try:
        return run_cell(cell, store, options, callbacks, cache)
    except (TrainingInterrupted, KeyboardInterrupt):
        raise
    except Exception as exc:
        message = record_failure(store, cell, exc)
        if options.fail_fast:
            raise
        logger.error("cell %s failed: %s", cell.cell_id, message.splitlines()[0])
        return CellOutcome(cell, "failed", error=message, run_dir=store.run_dir(cell.cell_id))


def _is_main_process(cpu: bool) -> bool:
    """``True`` on rank 0 (and in a single process), without building an accelerator."""
    from accelerate import PartialState

    return bool(PartialState(cpu=use_cpu(cpu)).is_main_process)
