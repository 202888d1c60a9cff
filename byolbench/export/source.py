"""Finding the ONLINE backbone's weights in a run folder, a training checkpoint or an export.

* run folder (``results/runs/<cell>/``): ``model.safetensors`` holds the whole BYOL module;
  ``backbone.json`` says how the backbone was built. A run still training has only
  ``checkpoints/step-N/``: the newest checkpoint that verifies is used.
* checkpoint folder (``checkpoints/step-N/``): verified against its ``state.json`` manifest;
  the backbone is described by the run's ``config.json`` (two levels up).
* export folder (written by ``byolbench export``, or any timm folder with ``config.json`` and
  ``model.safetensors``): backbone keys without prefix.

Only safetensors are read; nothing is unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from byolbench.config import RunConfig, from_dict
from byolbench.data import load_dataset
from byolbench.errors import CheckpointError, ConfigError
from byolbench.export.rebuild import load_backbone
from byolbench.export.safe_io import read_safetensors
from byolbench.hashing import sha256_file
from byolbench.models.backbone import BackboneSpec, backbone_spec, create_backbone, model_kwargs
from byolbench.train.checkpoint import STATE_FILE, CheckpointManager

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
BACKBONE_FILE = "backbone.json"
EVAL_FILE = "eval.json"
TRAINING_FILE = "training.json"
HEADS_FILE = "heads.safetensors"
EXPORT_FORMAT = "byolbench-export"
BACKBONE_PREFIX = "backbone."
HEAD_PREFIXES = ("projector.", "predictor.")
EXPECTED = (
    "expected a run folder (results/runs/<cell>/), a training checkpoint "
    "(<run>/checkpoints/step-N/) or a folder written by `byolbench export`"
)


@dataclass
class BackboneSource:
    """The online backbone's weights and everything recorded about how they were made.

    Attributes:
        kind: ``run``, ``checkpoint`` or ``export``.
        folder: The folder the weights came from.
        weights_file: The safetensors file read.
        spec: How to rebuild the backbone.
        backbone_state: The online backbone's tensors (keys without prefix).
        head_state: Projector and predictor tensors (``projector.*``, ``predictor.*``).
        mean: RGB normalisation mean the backbone was trained with.
        std: RGB normalisation std.
        crop_pct: The evaluation centre crop it was evaluated with (timm's ``crop_pct``).
        dataset: Pretraining dataset.
        class_names: Its class names.
        config: The run's ``RunConfig.to_dict()``, when known.
        eval_rows: Result rows of the run's own evaluation, when known.
        steps: Optimizer steps trained, when known.
        config_hash: The run's config hash, when known.
        cell_id: The run's cell id (its folder name), when known.
    """

    kind: str
    folder: Path
    weights_file: Path
    spec: BackboneSpec
    backbone_state: dict[str, torch.Tensor]
    head_state: dict[str, torch.Tensor]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dataset: str = ""
    class_names: list[str] = field(default_factory=list)
    crop_pct: float = 1.0
    config: dict[str, Any] | None = None
    eval_rows: list[dict[str, Any]] = field(default_factory=list)
    steps: int | None = None
    config_hash: str = ""
    cell_id: str = ""

    def load(self) -> nn.Module:
        """The backbone with these weights, in eval mode.

        Raises:
            CheckpointError: When the weights do not fit the recorded architecture.
        """
        return load_backbone(self.spec, self.backbone_state, str(self.weights_file))

    def run_config(self) -> RunConfig | None:
        """The run's configuration as a ``RunConfig``, when known."""
        return from_dict(self.config, f"{self.folder}") if self.config else None


def read_json(path: Path) -> Any:
    """Reads a JSON file.

    Raises:
        ConfigError: When it is missing or not valid JSON.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(f"{path} is not a readable JSON file ({reason}); restore it") from exc


def _spec_from_dict(data: Any, where: Path) -> BackboneSpec:
    try:
        return BackboneSpec(**data)
    except TypeError as exc:
        raise ConfigError(
            f"{where} has no valid backbone description ({exc}); it was not written by this "
            "byolbench version: run the cell again or export it with the version that trained it"
        ) from exc


def split_byol_state(
    tensors: dict[str, torch.Tensor], where: Path
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Splits a BYOL module's tensors into online backbone and projector/predictor tensors.

    Raises:
        CheckpointError: When there are no ``backbone.*`` tensors.
    """
    backbone = {
        k[len(BACKBONE_PREFIX) :]: v for k, v in tensors.items() if k.startswith(BACKBONE_PREFIX)
    }
    heads = {k: v for k, v in tensors.items() if k.startswith(HEAD_PREFIXES)}
    if not backbone:
        first = ", ".join(sorted(tensors)[:3]) or "none"
        raise CheckpointError(
            f"{where} holds no 'backbone.*' tensors (first keys: {first}); it is not a "
            f"byolbench BYOL checkpoint: {EXPECTED}"
        )
    return backbone, heads


def _is_export_config(path: Path) -> bool:
    return path.is_file() and "architecture" in read_json(path)


def open_source(path: Path, data_dir: str | None = None) -> BackboneSource:
    """Finds and reads the online backbone's weights below ``path``.

    Args:
        path: A run folder, a checkpoint folder, an export folder, or a ``model.safetensors``
            inside one of them.
        data_dir: Data directory, used only for a checkpoint of a run that has not finished
            (its pretraining dataset says the image size and normalisation).

    Raises:
        CheckpointError: For a missing path, a folder without weights, a damaged file or
            weights that do not belong to the recorded backbone.
        ConfigError: For unreadable JSON records.
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".safetensors":
        path = path.parent
    if not path.exists():
        raise CheckpointError(f"{path} does not exist; {EXPECTED}")
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file, not a folder of weights; {EXPECTED}")
    if (path / STATE_FILE).is_file():
        return _from_checkpoint(path, data_dir)
    if _is_export_config(path / CONFIG_FILE):
        return _from_export(path)
    if (path / WEIGHTS_FILE).is_file() and (path / BACKBONE_FILE).is_file():
        return _from_run(path)
    found = CheckpointManager(path / "checkpoints").latest_valid()
    if found is not None:
        return _from_checkpoint(found[0], data_dir)
    present = ", ".join(sorted(p.name for p in path.iterdir())[:6]) or "nothing"
    raise CheckpointError(f"no weights in {path} (it holds {present}); {EXPECTED}")


def _eval_rows(folder: Path) -> list[dict[str, Any]]:
    eval_file = folder / EVAL_FILE
    return list(read_json(eval_file).get("rows", [])) if eval_file.is_file() else []


@dataclass(frozen=True)
class _TrainedOn:
    """What a run's ``backbone.json`` (or its config) says about the pretraining."""

    spec: BackboneSpec
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dataset: str
    class_names: list[str]
    crop_pct: float = 1.0


def _trained_on_record(info: dict[str, Any], path: Path) -> _TrainedOn:
    """Reads the fields of a ``backbone.json`` record ``info`` read from ``path``."""
    return _TrainedOn(
        spec=_spec_from_dict(info.get("backbone"), path),
        mean=tuple(info["mean"]),
        std=tuple(info["std"]),
        dataset=str(info.get("dataset", "")),
        class_names=list(info.get("class_names", [])),
        crop_pct=float(info.get("crop_pct", 1.0)),
    )


def _byol_source(kind: str, folder: Path, trained: _TrainedOn, **provenance: Any) -> BackboneSource:
    """Reads ``folder/model.safetensors`` of a run or checkpoint into a source."""
    weights = folder / WEIGHTS_FILE
    tensors, _ = read_safetensors(weights)
    backbone, heads = split_byol_state(tensors, weights)
    return BackboneSource(
        kind=kind,
        folder=folder,
        weights_file=weights,
        spec=trained.spec,
        backbone_state=backbone,
        head_state=heads,
        mean=trained.mean,
        std=trained.std,
        dataset=trained.dataset,
        class_names=trained.class_names,
        crop_pct=trained.crop_pct,
        **provenance,
    )


def _from_run(folder: Path) -> BackboneSource:
    info = read_json(folder / BACKBONE_FILE)
    trained = _trained_on_record(info, folder / BACKBONE_FILE)
    config_file = folder / CONFIG_FILE
    return _byol_source(
        "run",
        folder,
        trained,
        config=read_json(config_file) if config_file.is_file() else None,
        eval_rows=_eval_rows(folder),
        steps=info.get("steps"),
        config_hash=str(info.get("config_hash", "")),
        cell_id=folder.name,
    )


def _trained_on_config(config: RunConfig, data_dir: str | None) -> _TrainedOn:
    """Rebuilds what the trainer built, reading the pretraining dataset for size and stats."""
    splits = load_dataset(
        config.data.dataset,
        data_dir or config.data.data_dir or None,
        False,
        config.data.image_size,
    )
    image_size = config.data.image_size or splits.info.training_size
    probe = create_backbone(
        config.model.backbone,
        image_size,
        pretrained=False,
        small_image_stem=config.model.small_image_stem,
        **model_kwargs(config),
    )
    info = splits.info
    return _TrainedOn(
        backbone_spec(probe), info.mean, info.std, info.name, list(info.class_names), info.crop_pct
    )


def _from_checkpoint(folder: Path, data_dir: str | None) -> BackboneSource:
    try:
        record = CheckpointManager(folder.parent).verify(folder)
    except CheckpointError as exc:
        raise CheckpointError(
            f"{exc}; use another checkpoint in {folder.parent} or the finished run folder"
        ) from exc
    run_dir = folder.parent.parent
    config_file = run_dir / CONFIG_FILE
    if not config_file.is_file():
        raise CheckpointError(
            f"checkpoint {folder} has no run configuration at {config_file}; keep the "
            "checkpoint inside its run folder (<run>/checkpoints/step-N/)"
        )
    config_dict = read_json(config_file)
    if (run_dir / BACKBONE_FILE).is_file():
        path = run_dir / BACKBONE_FILE
        trained = _trained_on_record(read_json(path), path)
    else:
        trained = _trained_on_config(from_dict(config_dict, str(config_file)), data_dir)
    return _byol_source(
        "checkpoint",
        folder,
        trained,
        config=config_dict,
        eval_rows=[],
        steps=int(record.get("state", {}).get("step", 0)),
        config_hash=str(record.get("config_hash", "")),
        cell_id=run_dir.name,
    )


def _plain_timm_spec(cfg: dict[str, Any]) -> BackboneSpec:
    """The spec of a timm folder that byolbench did not write."""
    pretrained = cfg.get("pretrained_cfg", {})
    args = dict(cfg.get("model_args", {}))
    size = pretrained.get("input_size", (3, 224, 224))
    return BackboneSpec(
        name=cfg["architecture"],
        arch=cfg["architecture"],
        image_size=int(size[-1]),
        in_chans=int(args.pop("in_chans", size[0])),
        num_features=int(cfg.get("num_features") or 0),
        # global_pool "" would return unpooled tokens; another pooling ("avg") is kept
        timm_kwargs={
            k: v
            for k, v in args.items()
            if k != "num_classes" and not (k == "global_pool" and not v)
        },
    )


def _from_export(folder: Path) -> BackboneSource:
    cfg = read_json(folder / CONFIG_FILE)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        others = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".pth", ".pt"))
        hint = f" (found {', '.join(others)}; byolbench reads only safetensors)" if others else ""
        raise CheckpointError(
            f"no weights in {folder}: it has config.json but no {WEIGHTS_FILE}{hint}; export "
            "the run again with `byolbench export RUN_DIR --out DIR`"
        )
    section = cfg.get("byolbench") or {}
    pretrained = cfg.get("pretrained_cfg", {})
    if section.get("format") == EXPORT_FORMAT:
        spec = _spec_from_dict(section.get("backbone"), folder / CONFIG_FILE)
        recorded = section.get("weights_sha256")
        if recorded and sha256_file(weights) != recorded:
            raise CheckpointError(
                f"{weights} does not match the SHA-256 recorded in {folder / CONFIG_FILE}; it "
                "was altered or damaged after export: export the run again"
            )
    else:
        spec = _plain_timm_spec(cfg)
    tensors, _ = read_safetensors(weights)
    classifier = pretrained.get("classifier")
    if isinstance(classifier, str) and not section:
        tensors = {k: v for k, v in tensors.items() if not k.startswith(f"{classifier}.")}
    heads: dict[str, torch.Tensor] = {}
    if (folder / HEADS_FILE).is_file():
        heads, _ = read_safetensors(folder / HEADS_FILE)
    training_file = folder / TRAINING_FILE
    training = read_json(training_file) if training_file.is_file() else {}
    return BackboneSource(
        kind="export",
        folder=folder,
        weights_file=weights,
        spec=spec,
        backbone_state=tensors,
        head_state=heads,
        mean=tuple(pretrained.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(pretrained.get("std", (0.229, 0.224, 0.225))),
        dataset=str(section.get("dataset", "")),
        class_names=list(section.get("class_names", [])),
        crop_pct=float(pretrained.get("crop_pct", 1.0)),
        config=training.get("config"),
        eval_rows=list(training.get("eval_rows", [])),
        steps=section.get("steps"),
        config_hash=str(section.get("config_hash", "")),
        cell_id=str(section.get("cell_id", "")),
    )
