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
OPTIMIZER_CHOICES = ("lars", "sgd", "adamw")
PROTOCOL_CHOICES = ("knn", "linear")


@dataclass(frozen=True)
class DataConfig:
    """Which dataset to read and how.

    Attributes:
        dataset: Registered dataset name (``byolbench list datasets``), e.g. ``cifar10``.
        data_dir: Where datasets are downloaded or found; empty means ``$BYOLBENCH_DATA`` or
            ``~/.cache/byolbench/data``.
        image_size: Training and evaluation resolution; 0 keeps the dataset's native size.
        max_train_samples: Use only the first N pretraining images (after a seeded shuffle);
            0 uses all. Evaluation splits are not subsampled by this option.
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
    """

    preset: str = "auto"
    crop_min_scale: float = 0.08


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


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer and learning-rate schedule.

    Attributes:
        name: ``lars`` (paper), ``sgd`` or ``adamw``.
        lr: Base learning rate for a global batch of 256; the used rate is
            ``lr * global_batch / 256``.
        weight_decay: Weight decay on weights; biases and norm parameters get none.
        momentum: Momentum for LARS and SGD.
        lars_eta: LARS trust coefficient.
        warmup_epochs: Linear warm-up length, then cosine decay to zero.
        grad_clip: Clip the global gradient norm to this value; 0 disables.
    """

    name: str = "lars"
    lr: float = 0.2
    weight_decay: float = 1.5e-6
    momentum: float = 0.9
    lars_eta: float = 1e-3
    warmup_epochs: float = 10.0
    grad_clip: float = 0.0


@dataclass(frozen=True)
class ByolConfig:
    """BYOL target network.

    Attributes:
        tau_base: Starting EMA rate of the target; it rises to 1.0 on a cosine schedule
            over the optimizer steps.
    """

    tau_base: float = 0.996


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
        compile: Compile the BYOL step with ``torch.compile``.
        max_steps: Stop after this many optimizer steps (0: run all epochs); the schedules
            still span all epochs.
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
    max_steps: int = 0
    log_every: int = 10
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    collapse_threshold: float = 0.2
    collapse_window: int = 5


@dataclass(frozen=True)
class EvalConfig:
    """Frozen-feature evaluation of the online backbone.

    Attributes:
        protocols: Any of ``knn`` and ``linear``.
        knn_k: Neighbours voting in the kNN classifier.
        knn_temperature: Votes are weighted by ``exp(similarity / temperature)``.
        linear_val_fraction: Part of the training split held out to choose the probe's
            L2 regularisation; the probe is then refit on the whole training split.
        linear_l2_grid: Candidate L2 strengths for the probe.
        linear_max_iter: L-BFGS iterations per probe fit.
        random_baseline: Also evaluate the same backbone at random initialisation.
        batch_size: Images per batch when extracting features.
        monitor_every: During pretraining, log the kNN top-1 of the online backbone on the
            test split every N epochs (0: off); the report plots it over training.
    """

    protocols: tuple[str, ...] = ("knn", "linear")
    knn_k: int = 200
    knn_temperature: float = 0.1
    linear_val_fraction: float = 0.1
    linear_l2_grid: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
    linear_max_iter: int = 200
    random_baseline: bool = True
    batch_size: int = 512
    monitor_every: int = 0


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


def _short_hash(flat: Mapping[str, Any]) -> str:
    payload = json.dumps(dict(flat), sort_keys=True, separators=(",", ":"))
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
        "train.collapse_threshold",
        "train.collapse_window",
        "eval.monitor_every",
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
