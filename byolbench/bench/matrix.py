"""Benchmark matrices: backbones x datasets x augmentations x seeds, each a resolved config.

Precedence, lowest to highest: ``RunConfig`` defaults, the preset, the backbone family's
recipe (``byolbench.bench.recipes``: AdamW for vision transformers), the TOML file's
``[defaults]``, its ``[datasets.<name>]`` and ``[backbones.<name>]`` tables, command-line
options (``--epochs`` ...), and ``--set section.key=value``. A preset's time budget
(``quick``) gives way to ``train.epochs`` or ``train.max_steps`` set by the user.

A TOML matrix file looks like::

    [matrix]
    backbones = ["resnet18", "vit_small"]
    datasets = ["cifar10"]
    augmentations = ["auto"]
    seeds = [0, 1, 2]
    preset = "standard"
    recipe = "auto"          # or convnet / vit for every backbone

    [defaults]
    train.epochs = 200

    [backbones.vit_small]
    optim.name = "adamw"
    optim.lr = 5e-4
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from byolbench.bench.presets import preset_overrides
from byolbench.bench.recipes import AUTO, check_recipe, family_for, recipe_overrides
from byolbench.config import RunConfig, merge_tables
from byolbench.errors import ConfigError, ProblemsError, close_matches
from byolbench.folder_names import folder_name
from byolbench.validation import SEED_MAX, config_problems

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MATRIX_KEYS = ("backbones", "datasets", "augmentations", "seeds", "preset", "recipe")
FILE_TABLES = ("matrix", "defaults", "datasets", "backbones", "executor")


@dataclass(frozen=True)
class Cell:
    """One run of a matrix: pretrain one backbone on one dataset with one seed.

    Attributes:
        config: The resolved configuration.
        recipe: ``<preset>/<family>`` of the starting recipe (``standard/vit``), recorded in
            the result rows.
        recipe_keys: The dotted keys the family recipe set (those the user did not).
    """

    config: RunConfig
    recipe: str = ""
    recipe_keys: tuple[str, ...] = ()

    @property
    def backbone(self) -> str:
        """Backbone name."""
        return self.config.model.backbone

    @property
    def dataset(self) -> str:
        """Dataset name."""
        return self.config.data.dataset

    @property
    def augmentation(self) -> str:
        """Augmentation preset name."""
        return self.config.augment.preset

    @property
    def seed(self) -> int:
        """Seed."""
        return self.config.train.seed

    @property
    def cell_id(self) -> str:
        """Folder-safe unique name: dataset, backbone, augmentation, seed and config hash.

        Names that would make it longer than ``byolbench.folder_names.NAME_MAX`` characters
        (a long ``imagefolder:`` path) are shortened in the middle; the hash keeps it unique.
        """
        parts = (self.dataset, self.backbone, self.augmentation)
        return folder_name(parts, (f"s{self.seed}", self.config.config_hash()))


@dataclass
class MatrixSpec:
    """What to run, before expansion.

    Attributes:
        backbones: Backbone names.
        datasets: Dataset names.
        augmentations: Augmentation preset names.
        seeds: Seeds.
        preset: Starting recipe (``paper``, ``standard``, ``quick``).
        recipe: Backbone-family recipe on top of the preset: ``auto`` (by each backbone's
            family), ``convnet`` or ``vit``.
        defaults: Nested tables applied to every cell (from the file's ``[defaults]``).
        per_dataset: Dataset name to nested tables.
        per_backbone: Backbone name to nested tables.
        cli: Dotted overrides from command-line options.
        sets: Dotted overrides from ``--set`` (applied last).
        source: Where the file tables came from (for error messages).
        executor: The file's ``[executor]`` table (cluster resources; see
            ``byolbench.bench.slurm.settings``).
    """

    backbones: list[str]
    datasets: list[str]
    augmentations: list[str] = field(default_factory=lambda: ["auto"])
    seeds: list[int] = field(default_factory=lambda: [0])
    preset: str = "standard"
    recipe: str = AUTO
    defaults: dict[str, Any] = field(default_factory=dict)
    per_dataset: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_backbone: dict[str, dict[str, Any]] = field(default_factory=dict)
    cli: dict[str, Any] = field(default_factory=dict)
    sets: dict[str, Any] = field(default_factory=dict)
    source: str = "command line"
    executor: dict[str, Any] = field(default_factory=dict)


def split_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def parse_seeds(items: Any, source: str) -> list[int]:
    """Seeds as non-negative integers, from a list or a comma-separated string.

    Integers and digit strings are accepted; floats (``0.5``), booleans (``true``) and other
    text are refused rather than rounded or split into characters.

    Raises:
        ConfigError: When there is no seed, or one is not a non-negative integer.
    """
    if isinstance(items, str):
        items = split_list(items)
    elif isinstance(items, (int, float, bool)):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise ConfigError(
            f"seeds in {source} must be a list of integers, got {items!r}; e.g. seeds = [0, 1, 2]"
        )
    if not items:
        raise ConfigError(f"no seed given in {source}; e.g. --seeds 0,1,2 or seeds = [0, 1, 2]")
    seeds = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            seed = None
        elif isinstance(item, int):
            seed = item
        else:
            seed = int(item.strip()) if item.strip().isdigit() else None
        if seed is None or not 0 <= seed <= SEED_MAX:
            raise ConfigError(
                f"seed {item!r} in {source} is not an integer in 0..{SEED_MAX}; "
                "e.g. --seeds 0,1,2 or seeds = [0, 1, 2]"
            )
        seeds.append(seed)
    return seeds


def load_matrix_file(path: Path) -> dict[str, Any]:
    """Reads a TOML matrix file.

    Raises:
        ConfigError: When the file is missing, not UTF-8 TOML, or has unknown tables or keys,
            or a table where a value belongs (and the reverse).
    """
    if path.is_dir():
        raise ConfigError(f"matrix file {path} is a folder; pass a .toml file (benchmarks/*.toml)")
    if not path.is_file():
        raise ConfigError(f"matrix file {path} does not exist; see benchmarks/*.toml for examples")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8 TOML"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read matrix file {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    for table in data:
        if table not in FILE_TABLES:
            hint = close_matches(table, FILE_TABLES)
            did = f" (did you mean {hint[0]}?)" if hint else ""
            raise ConfigError(
                f"unknown table [{table}] in {path}{did}; valid: {', '.join(FILE_TABLES)}"
            )
        _require_table(data[table], f"[{table}]", path)
    for key in data.get("matrix", {}):
        if key not in MATRIX_KEYS:
            raise ConfigError(
                f"unknown key matrix.{key} in {path}; valid: {', '.join(MATRIX_KEYS)}"
            )
    for kind in ("datasets", "backbones"):
        for name, table in data.get(kind, {}).items():
            _require_table(table, f"[{kind}.{name}]", path)
    _check_sections(data.get("defaults", {}), "[defaults]", path)
    for kind in ("datasets", "backbones"):
        for name, table in data.get(kind, {}).items():
            _check_sections(table, f"[{kind}.{name}]", path)
    return data


def _require_table(value: Any, where: str, path: Path) -> None:
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where} in {path} must be a table, got {type(value).__name__} {value!r}; "
            f"write it as a [{where.strip('[]')}] table of keys (see benchmarks/*.toml)"
        )


def _check_sections(table: dict[str, Any], where: str, path: Path) -> None:
    """Each entry of a settings table must be a section table (``train.epochs = 3`` makes
    ``train`` one)."""
    for section, values in table.items():
        if not isinstance(values, dict):
            raise ConfigError(
                f"{section} = {values!r} in {where} of {path} is not a setting; write "
                f"section.key = value, e.g. train.epochs = 100"
            )


def spec_from_file(path: Path) -> MatrixSpec:
    """Builds a ``MatrixSpec`` from a TOML file (command-line values are added later)."""
    data = load_matrix_file(path)
    matrix = data.get("matrix", {})

    def names(key: str, default: list[str]) -> list[str]:
        value = matrix.get(key, default)
        if isinstance(value, str):
            value = split_list(value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"matrix.{key} in {path} must be a list of names, got {value!r}")
        return value

    preset = matrix.get("preset", "standard")
    if not isinstance(preset, str):
        raise ConfigError(f"matrix.preset in {path} must be a name, got {preset!r}")

    return MatrixSpec(
        backbones=names("backbones", []),
        datasets=names("datasets", []),
        augmentations=names("augmentations", ["auto"]),
        seeds=parse_seeds(matrix.get("seeds", [0]), f"{path} matrix.seeds"),
        preset=preset,
        recipe=str(matrix.get("recipe", AUTO)),
        defaults=data.get("defaults", {}),
        per_dataset=data.get("datasets", {}),
        per_backbone=data.get("backbones", {}),
        source=str(path),
        executor=data.get("executor", {}),
    )


def _nest(dotted: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    nested: dict[str, dict[str, Any]] = {}
    for key, value in dotted.items():
        section, _, name = key.partition(".")
        nested.setdefault(section, {})[name] = value
    return nested


def _table_keys(tables: Mapping[str, Any]) -> set[str]:
    """Dotted keys of nested tables (``{"optim": {"lr": 1}}`` -> ``{"optim.lr"}``)."""
    return {
        f"{section}.{key}"
        for section, values in tables.items()
        if isinstance(values, Mapping)
        for key in values
    }


def user_keys(spec: MatrixSpec, dataset: str, backbone: str) -> set[str]:
    """The dotted keys a cell's user set: TOML tables, command-line options and ``--set``."""
    return (
        _table_keys(spec.defaults)
        | _table_keys(spec.per_dataset.get(dataset, {}))
        | _table_keys(spec.per_backbone.get(backbone, {}))
        | set(spec.cli)
        | set(spec.sets)
    )


def _check_table_names(spec: MatrixSpec) -> None:
    for kind, table, used in (
        ("datasets", spec.per_dataset, spec.datasets),
        ("backbones", spec.per_backbone, spec.backbones),
    ):
        for name in table:
            if name not in used:
                raise ConfigError(
                    f"[{kind}.{name}] in {spec.source} matches no entry of matrix.{kind} "
                    f"({', '.join(used) or 'empty'}); fix the name or add it to the matrix"
                )


def expand(spec: MatrixSpec, validate: bool = True) -> list[Cell]:
    """Resolves every cell's config, in the order datasets, backbones, augmentations, seeds.

    Args:
        spec: The matrix.
        validate: Also check every setting's range (``byolbench.validation``);
            ``byolbench.bench.preflight`` does it (with names and data) when this is off.

    Raises:
        ConfigError: For an empty matrix, unknown keys or wrong types (naming key and source),
            or invalid values; the problems of all cells are listed together, each once.
    """
    if not spec.backbones or not spec.datasets:
        missing = "backbones" if not spec.backbones else "datasets"
        raise ConfigError(
            f"the matrix has no {missing}; pass --{missing} or set matrix.{missing} in a "
            "--config file"
        )
    if not spec.augmentations:
        raise ConfigError("the matrix has no augmentations; pass e.g. --augmentations auto")
    if not spec.seeds:
        raise ConfigError("the matrix has no seeds; pass e.g. --seeds 0,1,2")
    _check_table_names(spec)
    check_recipe(spec.recipe, spec.source)
    base = RunConfig().replace(preset_overrides(spec.preset), f"preset {spec.preset!r}")
    base = merge_tables(base, spec.defaults, f"{spec.source} [defaults]")
    cells: list[Cell] = []
    problems: list[str] = []
    for dataset in spec.datasets:
        for backbone in spec.backbones:
            for augmentation in spec.augmentations:
                for seed in spec.seeds:
                    try:
                        config = _cell_config(spec, base, dataset, backbone, augmentation, seed)
                        keys = user_keys(spec, dataset, backbone)
                        config = _lengths_the_user_set_win(config, spec.preset, keys)
                        config = _preset_widths_for_its_own_backbone(config, spec.preset, keys)
                        family = family_for(spec.recipe, config.model.backbone)
                        recipe = recipe_overrides(family, config, keys, spec.preset)
                        config = config.replace(recipe, f"the {family} recipe")
                    except ConfigError as exc:
                        problems.append(str(exc))
                        continue
                    if validate:
                        problems += config_problems(config)
                    cells.append(Cell(config, f"{spec.preset}/{family}", tuple(recipe)))
    if problems:
        raise ProblemsError(problems)
    return cells


RUN_LENGTH_KEYS = ("train.epochs", "train.max_steps")


def _lengths_the_user_set_win(config: RunConfig, preset: str, keys: set[str]) -> RunConfig:
    """A preset's time budget (``quick``) gives way to epochs or steps the user set."""
    budgeted = "train.time_budget" in preset_overrides(preset)
    if budgeted and "train.time_budget" not in keys and keys.intersection(RUN_LENGTH_KEYS):
        return config.replace({"train.time_budget": ""}, f"preset {preset!r}")
    return config


def _preset_widths_for_its_own_backbone(
    config: RunConfig, preset: str, keys: set[str]
) -> RunConfig:
    """A preset's stage widths (``quick``: a half-width resnet10t) belong to the preset's own
    backbone: another backbone the user names keeps its widths, unless they set them."""
    overrides = preset_overrides(preset)
    if "model.channels" not in overrides or "model.channels" in keys:
        return config
    if config.model.backbone == overrides.get("model.backbone"):
        return config
    return config.replace({"model.channels": ""}, f"preset {preset!r}")


def _cell_config(
    spec: MatrixSpec, base: RunConfig, dataset: str, backbone: str, augmentation: str, seed: int
) -> RunConfig:
    """One cell's config: the matrix entries, then the per-dataset and per-backbone tables,
    then command-line options and ``--set``."""
    config = base.replace(
        {
            "data.dataset": dataset,
            "model.backbone": backbone,
            "augment.preset": augmentation,
            "train.seed": seed,
        },
        "matrix",
    )
    config = merge_tables(
        config, spec.per_dataset.get(dataset, {}), f"{spec.source} [datasets.{dataset}]"
    )
    config = merge_tables(
        config, spec.per_backbone.get(backbone, {}), f"{spec.source} [backbones.{backbone}]"
    )
    config = merge_tables(config, _nest(spec.cli), "command-line options")
    return merge_tables(config, _nest(spec.sets), "--set")


def diff_from_defaults(config: RunConfig) -> dict[str, Any]:
    """The dotted keys whose values differ from ``RunConfig()``."""
    defaults = RunConfig().flat()
    return {k: v for k, v in config.flat().items() if defaults.get(k) != v}
