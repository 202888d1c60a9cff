"""BYOL pretraining through HF Accelerate: one loop for CPU, one GPU and many processes.

The loop knows BYOL only as ``loss = model(v1, v2).loss`` and ``update_target(tau)``. The EMA
and the learning rate move once per OPTIMIZER step (under ``sync_gradients``), never per
micro-batch. An fp16 step that the gradient scaler skips (overflow) changes no weights, so it
moves neither the step counter nor the learning rate, tau or the EMA. Metrics stay on the
device and are read every ``train.log_every`` steps.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch import nn

from byolbench.augment.local_crops import local_crops, local_size_for
from byolbench.augment.presets import create_augmentation
from byolbench.augment.progressive import resizable, run_cost, view_size
from byolbench.augment.transforms import EvalTransform
from byolbench.byol.model import BYOL
from byolbench.byol.momentum import tau_schedule
from byolbench.config import RunConfig
from byolbench.data.base import DatasetSplits
from byolbench.errors import ConfigError, TrainingError, TrainingInterrupted
from byolbench.eval.features import extract_features
from byolbench.eval.knn import knn_classify
from byolbench.models.backbone import backbone_spec, create_backbone, model_kwargs
from byolbench.models.gemm_conv import cpu_has_amx, use_gemm_convs
from byolbench.train.batches import ShardedBatches
from byolbench.train.budget import BudgetPlanner, parse_duration
from byolbench.train.checkpoint import CheckpointManager, TrainState
from byolbench.train.feature_hooks import FeatureHooks
from byolbench.train.host_memory import reuse_freed_memory
from byolbench.train.metrics import (
    DeviceMeter,
    MetricsFile,
    collapse_message,
    healthy_std,
)
from byolbench.train.online_probe import OnlineProbe
from byolbench.train.optim import (
    build_optimizer,
    planned_warmup_steps,
    scaled_lr,
    set_lr,
    warmup_decay,
)
from byolbench.train.precision import autocast_dtype

logger = logging.getLogger(__name__)

ON_DEVICE_MAX_BYTES = 8 * 1024**3
# GradScaler halves its scale at every skip: 64 skips in a row take 2**16 below 2**-47, so
# gradients that still overflow are not finite at any scale.
MAX_SKIPPED_IN_A_ROW = 64
UNPLANNED = 2**62
MIN_VIEW_SIDE = 8  # the smallest pretraining view side augment.view_size_fraction gives


@dataclass
class TrainResult:
    """What pretraining produced.

    Attributes:
        model: The BYOL module (unwrapped), in train mode.
        state: Final counters.
        total_steps: Optimizer steps the schedule spans.
        images_per_second: Training throughput over all processes.
        global_batch: Images per optimizer step over all processes.
        resumed_from: The checkpoint the run resumed from, if any.
        history: Logged metric records.
        steps_per_epoch: Optimizer steps per pass over the pretraining split.
        online_probe: The online linear probe trained alongside (``online-linear``), if any.
    """

    model: BYOL
    state: TrainState
    total_steps: int
    images_per_second: float
    global_batch: int = 0
    resumed_from: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    steps_per_epoch: int = 0
    online_probe: OnlineProbe | None = None


def channels_last(views: tuple[Any, ...]) -> tuple[Any, ...]:
    """The views (tensors, or a list of small-view tensors) in channels_last memory format."""

    def convert(view: torch.Tensor) -> torch.Tensor:
        return view.contiguous(memory_format=torch.channels_last)

    return tuple([convert(v) for v in x] if isinstance(x, list) else convert(x) for x in views)


def image_size_for(config: RunConfig, splits: DatasetSplits) -> int:
    """Training resolution: ``data.image_size`` or the dataset's own training size."""
    return config.data.image_size or splits.info.training_size


def view_side_for(fraction: float, image_size: int) -> int:
    """Side of the pretraining views: ``fraction`` of the training size, at least 8 px
    (never above the training size; evaluation always uses the full size)."""
    return min(image_size, max(MIN_VIEW_SIDE, round(fraction * image_size)))


def build_model(config: RunConfig, image_size: int) -> BYOL:
    """Builds the BYOL module for ``config`` (seed the RNG first for a reproducible init)."""
    backbone = create_backbone(
        config.model.backbone,
        image_size,
        pretrained=config.model.pretrained,
        small_image_stem=config.model.small_image_stem,
        **model_kwargs(config),
    )
    return BYOL(
        backbone,
        backbone_spec(backbone).num_features,
        projector_hidden_dim=config.model.projector_hidden_dim,
        projector_dim=config.model.projector_dim,
        predictor_hidden_dim=config.model.predictor_hidden_dim,
        use_predictor=config.model.use_predictor,
        fuse_views=config.byol.fuse_views,
    )


def sync_batchnorm(
    model: nn.Module, num_processes: int, device: torch.device, enabled: bool
) -> nn.Module:
    """Converts BatchNorm to SyncBatchNorm when several GPU processes train.

    torch's SyncBatchNorm runs only on accelerators; CPU processes keep per-process BatchNorm
    (with a warning) and their buffers are averaged when training ends.
    """
    uses_batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if num_processes <= 1 or not enabled or not uses_batchnorm:
        return model
    if device.type == "cpu":
        logger.warning("SyncBatchNorm needs GPUs; on CPU processes BatchNorm stays per process")
        return model
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


class _StopSignal:
    """Turns the first Ctrl-C or SIGTERM into a flag the loop checks at step boundaries.

    A second Ctrl-C interrupts at once (then only the newest checkpoint is kept).
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignal:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                break
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del frame
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        logger.warning("stop requested: finishing the step and writing a checkpoint")

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


class Trainer:
    """Pretrains BYOL on an in-memory split.

    Args:
        config: The run configuration.
        splits: The loaded dataset.
        accelerator: The Accelerator of this run (see ``make_accelerator``).
        run_dir: Folder for ``metrics.jsonl`` and ``checkpoints/``; ``None`` keeps nothing.
        on_step: Called after each optimizer step as ``on_step(step, total_steps)``.
        on_log: Called with each metrics record (every ``log_every`` steps).
        on_resume: Called after resuming as ``on_resume(checkpoint, state, total_steps)``.
    """

    def __init__(
        self,
        config: RunConfig,
        splits: DatasetSplits,
        accelerator: Accelerator,
        run_dir: Path | None = None,
        on_step: Callable[[int, int], None] | None = None,
        on_log: Callable[[dict[str, Any]], None] | None = None,
        on_resume: Callable[[str, TrainState, int], None] | None = None,
    ) -> None:
        self.config = config
        self.on_resume = on_resume
        self.splits = splits
        self.accelerator = accelerator
        self.run_dir = run_dir
        self.on_step = on_step
        self.on_log = on_log
        self.checkpoints = (
            CheckpointManager(run_dir / "checkpoints", config.train.keep_checkpoints)
            if run_dir is not None
            else None
        )
        self.metrics = MetricsFile(run_dir / "metrics.jsonl" if run_dir is not None else None)
        self.ema_updates = 0
        self.skipped_steps = 0
        self.skipped_in_a_row = 0
        self.hooks: FeatureHooks | None = None

    # -- setup -----------------------------------------------------------------------------

    def _prepare_model(self, image_size: int) -> tuple[BYOL, nn.Module, torch.optim.Optimizer]:
        cfg = self.config
        set_seed(cfg.train.seed)
        model = build_model(cfg, image_size)
        model = sync_batchnorm(
            model,
            self.accelerator.num_processes,
            self.accelerator.device,
            cfg.model.sync_batchnorm,
        )
        # On its device before the optimizer is built, which picks its kernel by device.
        model = model.to(self.accelerator.device)
        if cfg.model.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if cfg.train.gemm_convs and self.accelerator.device.type == "cpu" and cpu_has_amx():
            use_gemm_convs(model)
        if cfg.train.reuse_freed_memory and self.accelerator.device.type == "cpu":
            reuse_freed_memory()
        online = [
            (name, p) for name, p in model.named_parameters() if not name.startswith("target_")
        ]
        optimizer = build_optimizer(online, cfg.optim, self.global_batch)
        wrapped, optimizer = self.accelerator.prepare(model, optimizer)
        if cfg.train.compile:
            wrapped = torch.compile(wrapped)
        return model, wrapped, optimizer

    @property
    def global_batch(self) -> int:
        """Images per optimizer step over all processes."""
        cfg = self.config.train
        return cfg.batch_size * self.accelerator.num_processes * cfg.grad_accum_steps

    def _images_on_device(self) -> torch.Tensor:
        images = self.splits.pretrain.images
        device = self.accelerator.device
        if device.type != "cpu" and images.numel() <= ON_DEVICE_MAX_BYTES:
            return images.to(device)
        return images

    # -- loop ------------------------------------------------------------------------------

    def fit(self) -> TrainResult:
        """Trains (resuming from the newest valid checkpoint) and returns the model."""
        cfg = self.config
        acc = self.accelerator
        image_size = image_size_for(cfg, self.splits)
        raw, model, optimizer = self._prepare_model(image_size)
        view_side = view_side_for(cfg.augment.view_size_fraction, image_size)
        augment = create_augmentation(
            cfg.augment.preset,
            view_side,
            self.splits.info.mean,
            self.splits.info.std,
            cfg.augment.crop_min_scale,
            cfg.augment.jitter_strength,
        )
        if cfg.augment.progressive_min_size:
            augment = resizable(augment, cfg.augment.preset)
        small_views = local_crops(
            augment,
            cfg.augment.local_crops,
            local_size_for(cfg.augment.local_size, view_side),
            cfg.augment.local_crop_scale,
            cfg.augment.preset,
        )
        batches = ShardedBatches(
            len(self.splits.pretrain),
            cfg.train.batch_size,
            acc.num_processes,
            acc.process_index,
            cfg.train.seed,
        )
        accum = cfg.train.grad_accum_steps
        steps_per_epoch = len(batches) // accum
        if steps_per_epoch == 0:
            raise ConfigError(
                f"train.batch_size={cfg.train.batch_size} x {acc.num_processes} process(es) x "
                f"{accum} accumulation step(s) exceeds the {len(self.splits.pretrain)} "
                "pretraining images; lower the batch size"
            )
        usable = steps_per_epoch * accum  # micro-batches per epoch
        total_steps = steps_per_epoch * cfg.train.epochs
        warmup_steps = int(round(cfg.optim.warmup_epochs * steps_per_epoch))
        peak_lr = scaled_lr(cfg.optim, self.global_batch)

        def learning_rate(step: int, total: int, warmup: int) -> float:
            return warmup_decay(step, total, warmup, peak_lr, cfg.optim.schedule)

        generator = torch.Generator(device=acc.device)
        generator.manual_seed(cfg.train.seed * 1_000_003 + 7919 * acc.process_index + 1)
        hooks = FeatureHooks.create(
            cfg, self.splits, raw.feature_dim, total_steps, acc, self.metrics
        )
        self.hooks = hooks
        state, resumed_from = self._resume(raw, optimizer, generator)
        if resumed_from:
            hooks.load_state_tensors(CheckpointManager.extra_tensors(Path(resumed_from)))
        if acc.is_main_process:
            self.metrics.truncate_after(state.step)
        progressive = cfg.augment.progressive_min_size

        def plan_cost(start: int, total: int) -> float:
            return run_cost(
                start,
                total,
                progressive,
                view_side,
                cfg.augment.progressive_fraction,
                at_least=shown,
                size_step=cfg.augment.progressive_step,
            )

        planner = self._budget_planner(state, plan_cost if progressive else None)
        shown = 0 if progressive else view_side  # views never shrink

        def budget_warmup(planned: int) -> int:
            return planned_warmup_steps(cfg.optim.warmup_epochs, cfg.train.epochs, planned)

        if state.planned_steps:
            total_steps = state.planned_steps
            warmup_steps = budget_warmup(total_steps)
            hooks.plan(total_steps)

        def limit(total: int) -> int:
            return min(total, cfg.train.max_steps) if cfg.train.max_steps else total

        # A budgeted run has no step limit until its steps are planned.
        stop_at = UNPLANNED if planner is not None else limit(total_steps)
        if resumed_from and self.on_resume is not None:
            self.on_resume(resumed_from, state, limit(total_steps))

        images = self._images_on_device()
        meter = DeviceMeter()
        history: list[dict[str, Any]] = []
        set_lr(optimizer, learning_rate(state.step, total_steps, warmup_steps))
        model.train()
        window_start, window_images = time.perf_counter(), 0
        session_start = time.perf_counter()
        seconds_before = state.train_seconds
        saved_step = state.step if resumed_from else -1

        def checkpoint() -> None:
            nonlocal saved_step
            state.train_seconds = seconds_before + time.perf_counter() - session_start
            self._check_finite_before_save(meter, state)
            self._save(raw, optimizer, generator, state)
            saved_step = state.step

        with _StopSignal() as stop:
            try:
                while state.step < stop_at:
                    todo = batches.epoch(state.epoch, state.batch_in_epoch)
                    for indices in todo[: usable - state.batch_in_epoch]:
                        batch = images[indices.to(images.device)].to(acc.device, non_blocking=True)
                        if shown < view_side:
                            shown = max(
                                shown,
                                view_size(
                                    state.step,
                                    total_steps,
                                    progressive,
                                    view_side,
                                    cfg.augment.progressive_fraction,
                                    cfg.augment.progressive_step,
                                ),
                            )
                            augment.image_size = shown
                        with acc.accumulate(model):
                            views = augment(batch, generator)
                            if small_views is not None:  # never larger than the full views
                                side = min(small_views.size, augment.image_size)
                                views = (*views, small_views(batch, generator, side))
                            if cfg.model.channels_last:
                                views = channels_last(views)
                            out = model(*views)
                            hooks.on_batch(out.features, indices, state.step)
                            acc.backward(out.loss)
                            if acc.sync_gradients and cfg.optim.grad_clip > 0:
                                acc.clip_grad_norm_(raw.online_parameters(), cfg.optim.grad_clip)
                            optimizer.step()
                            optimizer.zero_grad(set_to_none=True)
                        meter.add(out.loss, out.projection_std)
                        state.batch_in_epoch += 1
                        state.images_seen += batches.global_batch
                        window_images += batches.global_batch
                        if not acc.sync_gradients:
                            continue
                        if acc.optimizer_step_was_skipped:
                            self._skipped_step(state)
                            continue
                        self.skipped_in_a_row = 0
                        raw.update_target(self._tau(state.step, total_steps))
                        self.ema_updates += 1
                        state.step += 1
                        planned = None
                        if planner is not None:
                            cost = (augment.image_size / view_side) ** 2 if progressive else 1.0
                            planned = planner.after_step(state.step, cost)
                        if planned is not None:
                            total_steps = self._plan(planned, state, planner)
                            warmup_steps = budget_warmup(total_steps)
                            stop_at = limit(total_steps)
                            hooks.plan(total_steps)
                        set_lr(optimizer, learning_rate(state.step, total_steps, warmup_steps))
                        hooks.on_step(state.step, state.epoch, stop_at)
                        if self.on_step is not None:
                            self.on_step(state.step, limit(total_steps))
                        logged = state.step % cfg.train.log_every == 0 or state.step == stop_at
                        if logged:
                            elapsed = time.perf_counter() - window_start
                            history.append(
                                self._log(
                                    meter,
                                    state,
                                    total_steps,
                                    optimizer,
                                    window_images / max(elapsed, 1e-9),
                                    raw,
                                )
                            )
                            window_start, window_images = time.perf_counter(), 0
                        if self._stop_agreed(stop.requested, logged):
                            checkpoint()
                            raise TrainingInterrupted(
                                f"training stopped at step {state.step}/{stop_at}; a checkpoint "
                                "was saved; run the same command again to resume"
                            )
                        every = cfg.train.checkpoint_every
                        if every and state.step % every == 0:
                            checkpoint()
                        if state.step >= stop_at:
                            break
                    if state.batch_in_epoch >= usable:
                        state.epoch += 1
                        state.batch_in_epoch = 0
                        hooks.end_epoch(state.step, state.epoch)
                        self._monitor(raw, state, image_size)
                        checkpoint()
                if saved_step != state.step:
                    checkpoint()
            except KeyboardInterrupt:
                raise TrainingInterrupted(
                    f"training interrupted at step {state.step}/{stop_at}; the newest checkpoint "
                    "is kept; run the same command again to resume"
                ) from None
        state.train_seconds = seconds_before + time.perf_counter() - session_start
        throughput = state.images_seen / max(state.train_seconds, 1e-9)
        self._average_buffers(raw)
        return TrainResult(
            raw,
            state,
            total_steps,
            throughput,
            self.global_batch,
            resumed_from,
            history,
            steps_per_epoch,
            hooks.probe,
        )

    def _skipped_step(self, state: TrainState) -> None:
        """An fp16 step the gradient scaler skipped (overflow): the weights did not change, so
        the step counter, learning rate, tau and EMA stay where they are."""
        self.skipped_steps += 1
        self.skipped_in_a_row += 1
        logger.info("fp16 loss scaling skipped an optimizer step at step %d", state.step)
        if self.skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
            raise TrainingError(
                f"fp16 loss scaling skipped {self.skipped_in_a_row} optimizer steps in a row "
                f"at step {state.step} (gradients overflow at every scale); use "
                "train.mixed_precision=bf16 or no, or lower optim.lr"
            )

    def _budget_planner(
        self, state: TrainState, run_cost: Callable[[int, int], float] | None
    ) -> BudgetPlanner | None:
        """A planner when ``train.time_budget`` is set and the steps are not planned yet
        (``run_cost``: the cost of a plan's steps when they differ, see ``BudgetPlanner``)."""
        budget = self.config.train.time_budget
        if not budget or state.planned_steps:
            return None
        # Several processes must decide at the same step: they time a fixed number of steps.
        measure = 20 if self.accelerator.num_processes > 1 else None
        return BudgetPlanner(
            parse_duration(budget),
            spent_seconds=state.train_seconds,
            measure_steps=measure,
            run_cost=run_cost,
        )

    def _plan(self, planned: int, state: TrainState, planner: BudgetPlanner) -> int:
        """Fixes the run's total optimizer steps (the same on every process)."""
        if self.accelerator.num_processes > 1:
            counts = self.accelerator.gather(
                torch.tensor([planned], device=self.accelerator.device)
            )
            planned = int(counts.min().item())
        planned, before = max(planned, state.step), state.planned_steps
        state.planned_steps = planned
        planner.accept(state.step, planned)
        if planned == before:  # e.g. a guard check that kept the plan
            return planned
        logger.info(
            "time budget %s: %.3f s per full-size step, %d optimizer steps planned",
            self.config.train.time_budget,
            planner.seconds_per_step,
            state.planned_steps,
        )
        return state.planned_steps

    def _average_buffers(self, raw: BYOL) -> None:
        """Averages BatchNorm running statistics over processes so every rank evaluates (and
        rank 0 saves) the same network; without SyncBatchNorm each rank keeps its own."""
        if self.accelerator.num_processes == 1:
            return
        for buffer in raw.buffers():
            if buffer.is_floating_point():
                buffer.copy_(self.accelerator.reduce(buffer.detach().clone(), "mean"))

    def _monitor(self, raw: BYOL, state: TrainState, image_size: int) -> None:
        """Logs the online backbone's kNN top-1 every ``eval.monitor_every`` epochs."""
        every = self.config.eval.monitor_every
        if not every or state.epoch % every:
            return
        acc = self.accelerator
        info = self.splits.info
        transform = EvalTransform(image_size, info.mean, info.std, info.crop_pct)
        options = {
            "device": acc.device,
            "batch_size": self.config.eval.batch_size,
            "autocast_dtype": autocast_dtype(acc.mixed_precision),
            "channels_last": self.config.model.channels_last,
            "accelerator": acc,
        }
        train = extract_features(raw.backbone, self.splits.train.images, transform, **options)
        test = extract_features(raw.backbone, self.splits.test.images, transform, **options)
        raw.backbone.train()
        knn = knn_classify(
            train,
            self.splits.train.labels,
            test,
            self.splits.test.labels,
            self.splits.info.num_classes,
            self.config.eval.knn_k,
            self.config.eval.knn_temperature,
        )
        record = {"step": state.step, "epoch": state.epoch, "knn_top1": knn.top1}
        logger.info("epoch %d: kNN top-1 %.2f", state.epoch, knn.top1)
        if acc.is_main_process:
            self.metrics.write(record)
            if acc.trackers:
                acc.log({"knn_top1": knn.top1}, step=state.step)

    def _stop_agreed(self, requested: bool, logged: bool) -> bool:
        """Whether to stop now; with several processes all must agree, checked at log steps."""
        acc = self.accelerator
        if acc.num_processes == 1:
            return requested
        if not logged:
            return False
        flag = torch.tensor([1.0 if requested else 0.0], device=acc.device)
        return bool(acc.reduce(flag, "sum").item() > 0)

    # -- helpers ---------------------------------------------------------------------------

    def _log(
        self,
        meter: DeviceMeter,
        state: TrainState,
        total_steps: int,
        optimizer: torch.optim.Optimizer,
        images_per_second: float,
        raw: BYOL,
    ) -> dict[str, Any]:
        acc = self.accelerator
        reduce = (lambda t: acc.reduce(t, "mean")) if acc.num_processes > 1 else None
        loss, std = meter.read(reduce)
        if not math.isfinite(loss):
            self._raise_non_finite(state, loss)
        state.last_finite_loss = loss
        tau = self._tau(state.step, total_steps)
        record = {
            "step": state.step,
            "epoch": state.epoch,
            "loss": loss,
            "lr": optimizer.param_groups[0]["lr"],
            "tau": tau,
            "projection_std": std,
            "images_per_second": images_per_second,
            **(self.hooks.log_fields() if self.hooks is not None else {}),
        }
        self._watch_collapse(state, std, raw.projector_dim)
        if acc.is_main_process:
            self.metrics.write(record)
            if acc.trackers:
                acc.log({k: v for k, v in record.items() if k != "step"}, step=state.step)
        if self.on_log is not None:
            self.on_log(record)
        return record

    def _watch_collapse(self, state: TrainState, std: float, projector_dim: int) -> None:
        threshold = self.config.train.collapse_threshold
        if std < threshold * healthy_std(projector_dim):
            state.low_std_count += 1
        else:
            state.low_std_count = 0
        if state.low_std_count >= self.config.train.collapse_window and not state.collapse_warned:
            state.collapse_warned = True
            logger.warning(collapse_message(state.step, std, threshold, projector_dim))

    def _check_finite_before_save(self, meter: DeviceMeter, state: TrainState) -> None:
        """Never checkpoint weights that a non-finite loss has already touched."""
        pending = meter.pending_loss_sum()
        if pending is None:
            return
        if self.accelerator.num_processes > 1:
            pending = self.accelerator.reduce(pending.clone(), "sum")
        if not math.isfinite(float(pending)):
            self._raise_non_finite(state, float(pending))

    def _tau(self, step: int, total_steps: int) -> float:
        """The target's EMA rate at optimizer step ``step`` of ``total_steps``."""
        byol = self.config.byol
        return tau_schedule(step, total_steps, byol.tau_base, byol.tau_final)

    def _raise_non_finite(self, state: TrainState, loss: float) -> None:
        raise TrainingError(
            f"non-finite loss ({loss}) by step {state.step}; last finite loss "
            f"{state.last_finite_loss:.4f}; the newest good checkpoint is kept. Lower optim.lr, "
            "set optim.grad_clip (e.g. 1.0), or use train.mixed_precision=no/bf16 instead of fp16"
        )

    def _rng_state(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        states = {"torch": torch.get_rng_state(), "augment": generator.get_state()}
        if torch.cuda.is_available() and self.accelerator.device.type == "cuda":
            states["cuda"] = torch.cuda.get_rng_state(self.accelerator.device)
        return states

    def _save(
        self,
        raw: BYOL,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        state: TrainState,
    ) -> None:
        if self.checkpoints is None:
            return
        self.checkpoints.save(
            self.accelerator,
            raw,
            optimizer,
            state,
            self._rng_state(generator),
            extra={"config_hash": self.config.config_hash()},
            extra_tensors=self.hooks.state_tensors() if self.hooks is not None else None,
        )

    def _resume(
        self, raw: BYOL, optimizer: torch.optim.Optimizer, generator: torch.Generator
    ) -> tuple[TrainState, str]:
        """Loads the newest valid checkpoint, if any; returns the state and its path."""
        if self.checkpoints is None:
            return TrainState(), ""
        found = self.checkpoints.latest_valid()
        if found is None:
            return TrainState(), ""
        path, record = found
        expected = self.config.config_hash()
        if record.get("config_hash") not in (None, expected):
            raise ConfigError(
                f"checkpoint {path} belongs to a different configuration "
                f"({record.get('config_hash')} != {expected}); use another run directory "
                "or delete it to start over"
            )
        state, rng = CheckpointManager.load(path, record, self.accelerator, raw, optimizer)
        if rng is not None:
            torch.set_rng_state(rng["torch"])
            generator.set_state(rng["augment"])
            if "cuda" in rng and self.accelerator.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"], self.accelerator.device)
        logger.info("resumed from %s (step %d)", path, state.step)
        return state, str(path)
