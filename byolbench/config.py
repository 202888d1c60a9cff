"""Run configuration: frozen dataclasses per component, nested in ``RunConfig``.

Configs come from defaults, TOML tables and dotted overrides (``optim.lr=0.5``). Unknown keys
and wrong types are ``ConfigError`` naming the key, where it came from and the valid choices.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from byolbench.errors import ConfigError, close_matches

MIXED_PRECISION_CHOICES = ("auto", "no", "bf16", "fp16")
GLOBAL_POOL_CHOICES = ("", "avg", "token", "max", "avgmax")
OPTIMIZER_CHOICES = ("lars", "sgd", "adamw")
SCHEDULE_CHOICES = ("cosine", "linear")
PROTOCOL_CHOICES = ("knn", "linear", "finetune", "online-linear", "fewshot")
FINETUNE_OPTIMIZER_CHOICES = ("auto", "sgd", "adamw")
EMBEDDING_MAP_CHOICES = ("off", "umap", "tsne")


@dataclass(frozen=True)
class DataConfig:
    """Which dataset to read and how.

    Attributes:
        dataset: Registered dataset name (``byolbench list datasets``), e.g. ``cifar10``.
        data_dir: Where datasets are downloaded or found; empty means ``$BYOLBENCH_DATA`` or
            ``~/.cache/byolbench/data``.
        image_size: Training and evaluation resolution; 0 uses the dataset's own (its native
            size; 224 for an image folder of mixed sizes, stored at 256).
        max_train_samples: Use only N pretraining images (a seeded random subset); 0 uses
            all. The labelled splits of kNN and the linear probe are not subsampled.
        num_workers: Loader worker processes for datasets decoded from files.
        download: Allow downloading datasets that are missing.
    """

    dataset: str = "cifar10-mini"
    data_dir: str = ""
    image_size: int = 0
    max_train_samples: int = 0
    num_workers: int = 0
    download: bool = True


@dataclass(frozen=True)
class AugmentConfig:
    """Two-view augmentation.

    Attributes:
        preset: Registered augmentation (``byol``, ``byol-small``, ``none``, or a plugin);
            ``auto`` picks ``byol-small`` at 64 px and below, ``byol`` above.
        crop_min_scale: Lower bound of the random-resized-crop area fraction.
        jitter_strength: Colour jitter strength ``s`` (Chen et al. 2020, SimCLR): brightness,
            contrast, saturation and hue ranges are the paper's 0.4, 0.4, 0.2, 0.1 times ``s``
            (1: the paper's; 0: no colour jitter). Built-in augmentations only.
        view_size_fraction: Side of the pretraining views as a fraction of the training size
            (``data.image_size``; at least 8 px); evaluation always sees the full size. Smaller
            views make a step cheaper, and with random resized crops an object in a view of
            about three quarters of the side appears at the size it has in a full-size
            evaluation image (Touvron et al. 2019, "FixRes"). 1 trains at the full size.
        progressive_min_size: Progressive resizing: views start at this side and grow to the
            view size over the first ``progressive_fraction`` of the steps (0: off).
        progressive_fraction: Part of the optimizer steps over which views grow.
        progressive_step: Pixels the views grow by at a time (sides are multiples of it on
            the way up): 4 takes 16 px views through 20 to 24; 8 takes them to 24 directly.
        local_crops: Extra small views per image that only the online network sees, each
            regressed onto the target projections of both full-size views (multi-crop; 0: off).
        local_size: Side of the small views (0: half the training size, at least 8 px).
        local_crop_scale: Area fraction range of the small views' random resized crops.
    """

    preset: str = "auto"
    crop_min_scale: float = 0.08
    jitter_strength: float = 1.0
    view_size_fraction: float = 1.0
    progressive_min_size: int = 0
    progressive_fraction: float = 0.75
    progressive_step: int = 4
    local_crops: int = 0
    local_size: int = 0
    local_crop_scale: tuple[float, ...] = (0.05, 0.4)


@dataclass(frozen=True)
class ModelConfig:
    """Backbone and BYOL heads.

    Attributes:
        backbone: A timm model name, an alias (``resnet18``, ``vit_small``, ...) or a plugin.
        pretrained: Start from timm's pretrained weights (must be available locally).
        small_image_stem: ``auto`` adapts ResNet stems and ViT patch sizes at 64 px and
            below; ``on`` forces it; ``off`` keeps timm's ImageNet layout.
        projector_hidden_dim: Hidden width of the projector MLP (paper: 4096).
        projector_dim: Output width of projector and predictor (paper: 256).
        predictor_hidden_dim: Hidden width of the predictor MLP (paper: 4096).
        use_predictor: Disable only to demonstrate collapse; BYOL needs the predictor.
        channels_last: Use the channels-last memory format for convolutional backbones.
        sync_batchnorm: Convert BatchNorm to SyncBatchNorm when several processes train.
        global_pool: How the backbone pools its output (timm's ``global_pool``): ``""``
            keeps the model's own (a ViT's class token, a ResNet's average); ``avg`` averages
            a ViT's patch tokens; ``token``, ``max`` and ``avgmax`` where the model has them.
        patch_drop_rate: Vision transformers only: the fraction of patch tokens each view
            drops at random while pretraining (timm's ``patch_drop_rate``, PatchDropout;
            Liu et al. 2023), which makes a step about twice as fast at 0.5. Evaluation,
            RankMe and exports see every token. 0 keeps them all.
        channels: Stage widths of a timm ResNet (timm's ``channels``), e.g. ``32,64,128,256``
            for a half-width resnet10t: about a quarter of the arithmetic per image. Empty
            keeps the model's own widths.
        stem_width: Width of a timm ResNet's deep stem (timm's ``stem_width``; resnet10t: 32),
            which makes the stem's output, and so the first stage's input, twice as wide.
            ``16`` matches a half-width resnet10t's first stage (32) and saves its 1x1
            shortcut. Only ResNets with a deep stem (``resnet10t``, ``resnet26d``, ...) take
            it. 0 keeps the model's own.
    """

    backbone: str = "resnet18"
    pretrained: bool = False
    small_image_stem: str = "auto"
    projector_hidden_dim: int = 4096
    projector_dim: int = 256
    predictor_hidden_dim: int = 4096
    use_predictor: bool = True
    channels_last: bool = True
    sync_batchnorm: bool = True
    global_pool: str = ""
    patch_drop_rate: float = 0.0
    channels: tuple[int, ...] = ()
    stem_width: int = 0


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer and learning-rate schedule.

    Attributes:
        name: ``lars`` (paper), ``sgd`` or ``adamw``.
        lr: Base learning rate for a global batch of 256; the used rate is
            ``lr * global_batch / 256``.
        weight_decay: Weight decay on weights; biases and norm parameters get none.
        momentum: Momentum for LARS and SGD.
        betas: AdamW's two averaging coefficients (beta1, beta2), as in ``torch.optim.AdamW``;
            a smaller beta2 (e.g. 0.99) makes the step-size estimate follow the last few
            hundred steps instead of the last thousand. AdamW only.
        lars_eta: LARS trust coefficient.
        warmup_epochs: Linear warm-up length, then decay to zero (``schedule``).
        schedule: The decay after the warm-up: ``cosine`` (the paper's) or ``linear``
            (a straight line to zero, which keeps more of the rate late in a short run).
        grad_clip: Clip the global gradient norm to this value; 0 disables.
        predictor_lr_scale: The predictor's learning rate as a multiple of the rest's (timm's
            ``lr_scale`` parameter-group key; a faster predictor is one of the levers Tian et
            al. 2021 study for BYOL). 1.0: one rate for all.
    """

    name: str = "lars"
    lr: float = 0.2
    weight_decay: float = 1.5e-6
    momentum: float = 0.9
    betas: tuple[float, ...] = (0.9, 0.999)
    lars_eta: float = 1e-3
    warmup_epochs: float = 10.0
    schedule: str = "cosine"
    grad_clip: float = 0.0
    predictor_lr_scale: float = 1.0


@dataclass(frozen=True)
class ByolConfig:
    """BYOL target network.

    Attributes:
        tau_base: Starting EMA rate of the target; it rises to ``tau_final`` on a cosine
            schedule over the optimizer steps.
        tau_final: The EMA rate at the last optimizer step: 1.0 (the paper's schedule, the
            target frozen at the end) or, as solo-learn's ``final_tau``, lower; equal to
            ``tau_base`` it keeps tau fixed, as Lightly's benchmarks do.
        fuse_views: Send both views through each network in one pass of twice the batch
            (BatchNorm statistics over both views, as byol-pytorch does) instead of one pass
            per view (the reference implementation). Larger convolutions run faster on CPUs
            at small views; the loss and the EMA are unchanged. The quick preset turns it on.
    """

    tau_base: float = 0.996
    tau_final: float = 1.0
    fuse_views: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """Pretraining loop.

    Attributes:
        epochs: Passes over the pretraining split.
        batch_size: Images per process per micro-batch. The global batch is
            ``batch_size * processes * grad_accum_steps``.
        grad_accum_steps: Micro-batches per optimizer step.
        mixed_precision: ``auto`` (bf16 where the device supports it), ``no``, ``bf16``,
            ``fp16``.
        seed: Seed for weights, data order and augmentation.
        compile: Compile the BYOL step with ``torch.compile``. Each new input shape is
            compiled when first met (progressive resizing: one stall per view size).
        gemm_convs: On CPUs with AMX-BF16 tiles, in bf16, run convolutions with small output
            maps (a ResNet's last stages at 32 px) as explicit patch-matrix products where
            oneDNN's kernels are slow there (``byolbench/models/gemm_conv.py``); other CPUs
            and GPUs keep oneDNN/cuDNN. Speed only: the same
            arithmetic up to rounding, so it is not part of the configuration hash.
        reuse_freed_memory: On the CPU under glibc (Linux), keep freed host memory in the
            process for the next step instead of returning it to the kernel, which faults every
            page of a step's buffers in again (``byolbench/train/host_memory.py``). Speed only,
            not part of the configuration hash.
        max_steps: Stop after this many optimizer steps (0: run all epochs); the schedules
            still span all epochs.
        time_budget: Train for this long instead of ``epochs`` (``90s``, ``10m``, ``1.5h``;
            empty: off). The trainer times its first steps, then sets the number of optimizer
            steps so that the LR and tau schedules end exactly when the budget does.
        log_every: Optimizer steps between metric reads (the only host syncs).
        checkpoint_every: Optimizer steps between checkpoints (0: only at epoch ends).
        keep_checkpoints: Number of newest checkpoints to keep.
        collapse_threshold: Warn when the std of normalised projections stays below this
            fraction of the healthy value ``1/sqrt(d)``.
        collapse_window: Logged readings in a row below the threshold before warning.
    """

    epochs: int = 100
    batch_size: int = 256
    grad_accum_steps: int = 1
    mixed_precision: str = "auto"
    seed: int = 0
    compile: bool = False
    gemm_convs: bool = True
    reuse_freed_memory: bool = True
    max_steps: int = 0
    time_budget: str = ""
    log_every: int = 10
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    collapse_threshold: float = 0.2
    collapse_window: int = 5


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation of the online backbone, always beside the same backbone at random init.

    Every hyper-parameter a protocol chooses is chosen on held-out TRAINING data, never on
    the test split; each value's source is named below.

    Attributes:
        protocols: Any of ``knn``, ``linear`` (frozen features), ``fewshot`` (linear probe on
            1%/10% of the labels), ``finetune`` (whole backbone + head) and ``online-linear``
            (a probe trained during pretraining). Default ``knn,linear``: the cheap ones.
        datasets: Transfer: other datasets the frozen backbone is also evaluated on (each
            with its own train/test split, normalised with the pretraining statistics), e.g.
            ``cifar100,stl10,imagefolder:PATH``.
        knn_k: Headline neighbours of the kNN classifier (200: InstDisc, Wu et al. 2018).
        knn_sweep: More k computed in the same pass (one similarity matrix); each is a row
            (variant ``k=10`` ...). (10, 20, 100, 200): the k of lightly's and solo-learn's
            kNN reports.
        knn_temperature: Votes are weighted by ``exp(similarity / temperature)`` (0.1: InstDisc).
        linear_val_fraction: Part of the training split held out to choose the probe's
            L2 regularisation; the probe is then refit on the whole training split.
        linear_l2_grid: Candidate L2 strengths for the probe.
        linear_max_iter: L-BFGS iterations per probe fit.
        fewshot_fractions: Label fractions of the few-shot probe (1% and 10%: the BYOL paper's
            semi-supervised table, Grill et al. 2020, Table 2).
        fewshot_val_fraction: Part of each few-shot subset held out to choose the L2 strength
            (our choice: 20%, so the 1% subsets keep a few held-out images per class).
        finetune_epochs: Epochs per fine-tuning candidate (our choice: short; the BYOL paper
            fine-tunes 30-50 ImageNet epochs).
        finetune_lr_grid: Candidate base learning rates per 256 images; empty uses the
            family recipe (``byolbench.eval.finetune.FINETUNE_RECIPES``: SGD 0.01, 0.05;
            AdamW 1e-4, 5e-4).
        finetune_optimizer: ``auto`` (SGD with Nesterov momentum for convnets, AdamW for
            transformers), ``sgd`` or ``adamw``.
        finetune_weight_decay: Weight decay; negative uses the recipe's (SGD 1e-4: He et al.
            2016; AdamW 0.05: DeiT/MAE).
        finetune_layer_decay: Layer-wise lr decay of transformers (1.0: off; MAE uses 0.65-0.75).
        finetune_batch_size: Images per fine-tuning step (our choice; lr scales as batch/256).
        finetune_warmup_epochs: Linear warm-up before the cosine decay (our choice).
        finetune_val_fraction: Part of the training split held out to choose the lr (as the
            linear probe's 10%).
        finetune_crop_min_scale: Lower bound of the random-resized-crop area (our choice: 0.2;
            ImageNet recipes use 0.08, which destroys too much of a 32 px image).
        online_lr: Learning rate of the online probe's SGD (0.1: solo-learn's classifier_lr).
        online_weight_decay: Its weight decay (0: solo-learn's classifier group).
        rankme_every: Optimizer steps between RankMe readings of the online features during
            pretraining (logged to metrics.jsonl; 0: off). Free: it reuses the step's features.
        rankme_samples: Rows RankMe is computed on, in result rows (test features) and during
            pretraining (newest training features). Garrido et al. 2023 use 25,600 on
            ImageNet; 4,096 stays above the width of common backbones (at most 2,048).
        embedding_map: ``umap`` or ``tsne``: save a 2-D map of test features of BYOL and
            random init for the report (needs ``pip install 'byolbench[maps]'``); ``off``.
        embedding_map_samples: Test images on the map.
        random_baseline: Also evaluate the same backbone at random initialisation.
        batch_size: Images per batch when extracting features.
        monitor_every: During pretraining, log the kNN top-1 of the online backbone on the
            test split every N epochs (0: off); the report plots it over training.
    """

    protocols: tuple[str, ...] = ("knn", "linear")
    datasets: tuple[str, ...] = ()
    knn_k: int = 200
    knn_sweep: tuple[int, ...] = (10, 20, 100, 200)
    knn_temperature: float = 0.1
    linear_val_fraction: float = 0.1
    linear_l2_grid: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
    linear_max_iter: int = 200
    fewshot_fractions: tuple[float, ...] = (0.01, 0.1)
    fewshot_val_fraction: float = 0.2
    finetune_epochs: int = 3
    finetune_lr_grid: tuple[float, ...] = ()
    finetune_optimizer: str = "auto"
    finetune_weight_decay: float = -1.0
    finetune_layer_decay: float = 1.0
    finetune_batch_size: int = 128
    finetune_warmup_epochs: float = 0.5
    finetune_val_fraction: float = 0.1
    finetune_crop_min_scale: float = 0.2
    online_lr: float = 0.1
    online_weight_decay: float = 0.0
    rankme_every: int = 100
    rankme_samples: int = 4096
    embedding_map: str = "off"
    embedding_map_samples: int = 2000
    random_baseline: bool = True
    batch_size: int = 512
    monitor_every: int = 0

    @property
    def knn_ks(self) -> tuple[int, ...]:
        """Every k the kNN protocol reports: the sweep and the headline, ascending."""
        return tuple(sorted({*self.knn_sweep, self.knn_k}))


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one pretrain-then-evaluate run."""

    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    byol: ByolConfig = field(default_factory=ByolConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Returns the config as plain JSON-friendly nested dicts."""
        return {
            f.name: _jsonable(dataclasses.asdict(getattr(self, f.name)))
            for f in dataclasses.fields(self)
        }

    def flat(self) -> dict[str, Any]:
        """Returns ``{"section.key": value}`` for every field."""
        return {f"{s}.{k}": v for s, table in self.to_dict().items() for k, v in table.items()}

    def replace(self, overrides: Mapping[str, Any], source: str = "overrides") -> RunConfig:
        """Returns a copy with dotted overrides applied (``{"optim.lr": 0.5}``).

        Args:
            overrides: Dotted keys to values; strings are parsed to the field's type.
            source: Where the overrides came from, named in errors.
        """
        nested: dict[str, dict[str, Any]] = {}
        for key, value in overrides.items():
            section, _, name = key.partition(".")
            nested.setdefault(section, {})[name] = value
        return merge_tables(self, nested, source)

    def validate(self) -> RunConfig:
        """Checks values that types alone cannot; returns ``self`` for chaining.

        Raises:
            ConfigError: Listing every invalid setting, one line each
                (``byolbench.validation``).
        """
        from byolbench.errors import ProblemsError
        from byolbench.validation import config_problems

        parse_protocols(self.eval.protocols, "eval.protocols")
        problems = config_problems(self)
        if problems:
            raise ProblemsError(problems, "the configuration")
        return self

    def config_hash(self) -> str:
        """Returns a short hash of everything that changes results.

        Paths, logging and checkpoint cadence are left out, so moving the data or logging more
        often does not make a finished run look new.
        """
        return _short_hash({k: v for k, v in self.flat().items() if k not in NON_RESULT_KEYS})

    def config_group(self) -> str:
        """The hash of the configuration without its seed: the seeds of one configuration
        share it, so a table cell averages exactly one configuration over its seeds."""
        flat = self.flat()
        return _short_hash({k: v for k, v in flat.items() if k not in NON_RESULT_KEYS | SEED_KEYS})

    def settings(self) -> dict[str, Any]:
        """The result-changing settings that differ from ``RunConfig()`` defaults, without
        the seed (recorded in every result row, to tell configurations apart)."""
        defaults = RunConfig().flat()
        return {
            k: v
            for k, v in self.flat().items()
            if k not in NON_RESULT_KEYS | SEED_KEYS and defaults.get(k) != v
        }


def parse_protocols(value: str | Iterable[str], option: str = "--protocols") -> tuple[str, ...]:
    """``"knn,linear"`` (or a sequence of names) -> ``("knn", "linear")``, duplicates dropped.

    Raises:
        ConfigError: One line naming the unknown protocols and listing the valid ones.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(dict.fromkeys(str(p).strip() for p in items if str(p).strip()))
    unknown = [p for p in names if p not in PROTOCOL_CHOICES]
    if unknown or not names:
        text = value if isinstance(value, str) else ",".join(str(p) for p in items)
        what = (
            f"unknown protocol{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
            if unknown
            else "no protocol named"
        )
        example = f"{option} knn,linear" if option.startswith("-") else f"{option}=knn,linear"
        raise ConfigError(
            f"{option} {text!r}: {what}; valid: {', '.join(PROTOCOL_CHOICES)} "
            f"(comma-separated, e.g. {example})"
        )
    return names


# Settings added after results were first published, with the value that means "as before":
# at that value they are left out of the hashes, so finished runs keep their folders and rows.
HASHED_ONLY_WHEN_SET: dict[str, Any] = {
    "model.global_pool": "",
    "model.patch_drop_rate": 0.0,
    "model.channels": [],
    "model.stem_width": 0,
    "byol.fuse_views": False,
    "augment.local_crops": 0,
    "augment.local_size": 0,
    "augment.local_crop_scale": [0.05, 0.4],
    "optim.predictor_lr_scale": 1.0,
    "augment.view_size_fraction": 1.0,
    "augment.jitter_strength": 1.0,
    "augment.progressive_step": 4,
    "optim.schedule": "cosine",
    "optim.betas": [0.9, 0.999],
    "byol.tau_final": 1.0,
}


def _short_hash(flat: Mapping[str, Any]) -> str:
    kept = {
        k: v
        for k, v in flat.items()
        if k not in HASHED_ONLY_WHEN_SET or v != HASHED_ONLY_WHEN_SET[k]
    }
    payload = json.dumps(kept, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


SEED_KEYS = frozenset({"train.seed"})


NON_RESULT_KEYS = frozenset(
    {
        "data.data_dir",
        "data.num_workers",
        "data.download",
        "train.log_every",
        "train.checkpoint_every",
        "train.keep_checkpoints",
        "train.compile",
        "train.gemm_convs",
        "train.reuse_freed_memory",
        "train.collapse_threshold",
        "train.collapse_window",
        "eval.monitor_every",
        "eval.rankme_every",
        "eval.embedding_map",
        "eval.embedding_map_samples",
    }
)

_SECTION_TYPES = {
    "data": DataConfig,
    "augment": AugmentConfig,
    "model": ModelConfig,
    "optim": OptimConfig,
    "byol": ByolConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
}

T = TypeVar("T")


def merge_tables(config: RunConfig, tables: Mapping[str, Any], source: str = "config") -> RunConfig:
    """Returns ``config`` with nested tables (``{"optim": {"lr": 0.5}}``) applied.

    Args:
        config: The base config.
        tables: Section name to a mapping of field name to value.
        source: Where the tables came from (a file name, ``--set``), named in errors.

    Raises:
        ConfigError: For an unknown section or key, or a value of the wrong type.
    """
    updated: dict[str, Any] = {}
    for section, values in tables.items():
        if section not in _SECTION_TYPES:
            raise ConfigError(
                f"unknown config section {section!r} in {source}; valid: "
                f"{', '.join(_SECTION_TYPES)}"
            )
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"config section {section!r} in {source} must be a table of keys, "
                f"got {type(values).__name__}"
            )
        current = updated.get(section, getattr(config, section))
        updated[section] = _replace_fields(current, section, values, source)
    return dataclasses.replace(config, **updated)


def _replace_fields(instance: T, section: str, values: Mapping[str, Any], source: str) -> T:
    """Returns ``instance`` with ``values`` coerced to the field types and applied."""
    cls = type(instance)
    hints = typing.get_type_hints(cls)
    changes: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in hints:
            suggestion = close_matches(name, hints)
            hint = f" (did you mean {', '.join(suggestion)}?)" if suggestion else ""
            raise ConfigError(
                f"unknown config key {section}.{name} in {source}{hint}; valid keys in "
                f"[{section}]: {', '.join(hints)}"
            )
        changes[name] = coerce(raw, hints[name], f"{section}.{name}", source)
    return dataclasses.replace(instance, **changes)  # type: ignore[type-var]


def coerce(value: Any, annotation: Any, key: str, source: str) -> Any:
    """Converts ``value`` (from TOML or a command-line string) to ``annotation``.

    Args:
        value: The raw value.
        annotation: The field's type: ``bool``, ``int``, ``float``, ``str`` or
            ``tuple[X, ...]``.
        key: Dotted key for error messages.
        source: Where the value came from, for error messages.
    """
    origin = typing.get_origin(annotation)
    if origin is tuple:
        (item_type, _ellipsis) = typing.get_args(annotation)
        if isinstance(value, str):
            items: Iterable[Any] = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, (list, tuple)):
            items = value
        else:
            raise _type_error(key, value, "a list or comma-separated string", source)
        return tuple(coerce(v, item_type, key, source) for v in items)
    if origin in (typing.Union, types.UnionType):
        raise _type_error(key, value, str(annotation), source)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise _type_error(key, value, "true or false", source)
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise _type_error(key, value, "an integer", source)
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _type_error(key, value, "a number", source)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _type_error(key, value, "a string", source)
    raise AssertionError(f"unsupported config field type {annotation!r} for {key}")


def _type_error(key: str, value: Any, expected: str, source: str) -> ConfigError:
    return ConfigError(f"{key}={value!r} in {source} has the wrong type; expected {expected}")


def parse_overrides(items: Iterable[str], source: str = "--set") -> dict[str, str]:
    """Parses ``["optim.lr=0.5", ...]`` into ``{"optim.lr": "0.5"}``.

    Raises:
        ConfigError: When an item is not ``section.key=value``.
    """
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(
                f"{source} {item!r} is not of the form section.key=value (e.g. --set optim.lr=0.5)"
            )
        parsed[key.strip()] = value.strip()
    return parsed


def from_dict(data: Mapping[str, Any], source: str = "config") -> RunConfig:
    """Builds a ``RunConfig`` from nested tables (e.g. a saved ``config.json``)."""
    return merge_tables(RunConfig(), data, source)


def _jsonable(table: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in table.items()}
