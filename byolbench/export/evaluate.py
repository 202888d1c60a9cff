"""Evaluating any weights (run, checkpoint, export, timm's own) with the benchmark protocols."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import set_seed
from torch import nn

from byolbench import __version__
from byolbench.bench.cell_eval import ONLINE_TRAINED
from byolbench.bench.store import ResultsStore, utc_now
from byolbench.config import MIXED_PRECISION_CHOICES, PROTOCOL_CHOICES, EvalConfig
from byolbench.config import parse_protocols as parse_config_protocols
from byolbench.data import load_dataset
from byolbench.data.base import DatasetSplits, limit_labelled_samples
from byolbench.env_info import device_name, git_commit
from byolbench.errors import ConfigError
from byolbench.eval.evaluate import OnlineProbeResult, evaluate_backbone, protocol_variant
from byolbench.export.pretrained import create_pretrained_backbone, pretrained_cfg
from byolbench.export.source import BackboneSource
from byolbench.folder_names import NAME_MAX, folder_name
from byolbench.train.online_probe import PROBE_FILE, load_probe_head
from byolbench.train.precision import autocast_dtype, resolve_mixed_precision

logger = logging.getLogger(__name__)

METHOD_BYOL = "byol"
METHOD_TIMM = "timm-pretrained"
PRETRAINING_COLUMNS = (
    "config_group",
    "augmentation",
    "recipe",
    "seed",
    "epochs",
    "steps",
    "time_budget",
    "batch_size",
    "pretrain_samples",
    "pretrain_seconds",
    "images_per_second",
    "settings",
)


@dataclass(frozen=True)
class EvaluateRequest:
    """What to evaluate on and how.

    Attributes:
        dataset: Registered dataset name (``byolbench list datasets``).
        protocols: Any of ``knn``, ``linear``, ``fewshot``, ``finetune`` and
            ``online-linear`` (run folders with a probe only); empty keeps the run's own (or
            the default) ones.
        data_dir: Data directory (default ``$BYOLBENCH_DATA``).
        image_size: Evaluation resolution; 0 uses the size the weights were trained at.
        max_train_samples: Use only N labelled training images for the probes (0: all).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``.
        download: Allow downloading the dataset.
        mixed_precision: Autocast of the feature extraction: ``no`` (fp32), ``bf16``, ``fp16``
            or ``auto``. ``byolbench run`` extracts features under its training precision.
    """

    dataset: str
    protocols: tuple[str, ...] = ()
    data_dir: str | None = None
    image_size: int = 0
    max_train_samples: int = 0
    device: str = "auto"
    download: bool = True
    mixed_precision: str = "no"


def parse_protocols(text: str) -> tuple[str, ...]:
    """``"knn,linear"`` -> ``("knn", "linear")``.

    Raises:
        ConfigError: One line naming the unknown protocols and listing the valid ones.
    """
    return parse_config_protocols(text, "--protocols")


def _online_probe(
    source: BackboneSource, request: EvaluateRequest, protocols: tuple[str, ...]
) -> OnlineProbeResult | None:
    """The run's online probe when ``online-linear`` is asked for.

    Raises:
        ConfigError: When the weights carry no probe, or it was trained on another dataset.
    """
    if "online-linear" not in protocols:
        return None
    path = source.folder / PROBE_FILE
    if source.kind != "run" or not path.is_file():
        raise ConfigError(
            f"online-linear needs the online probe trained during pretraining, but {source.folder} "
            f"has no {PROBE_FILE} (only run folders of `byolbench run` with online-linear among "
            "eval.protocols have one); choose among "
            f"{', '.join(p for p in PROTOCOL_CHOICES if p != 'online-linear')}"
        )
    if source.dataset and source.dataset != request.dataset:
        raise ConfigError(
            f"online-linear: the probe in {source.folder} was trained on {source.dataset}'s "
            f"labels, not {request.dataset}'s; evaluate it with --dataset {source.dataset} or "
            "choose knn, linear, fewshot or finetune for transfer"
        )
    head = load_probe_head(path).to(_device(request.device))
    return OnlineProbeResult(head, {"trained": ONLINE_TRAINED, "probe_file": str(path)})


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _precision(requested: str, device: torch.device) -> str:
    """The resolved autocast precision of the evaluation.

    Raises:
        ConfigError: For an unknown value, or fp16 on a CPU.
    """
    if requested not in MIXED_PRECISION_CHOICES:
        raise ConfigError(
            f"--mixed-precision {requested!r} is not valid; choose from "
            f"{', '.join(MIXED_PRECISION_CHOICES)}"
        )
    return resolve_mixed_precision(requested, device.type)


def _load_splits(
    request: EvaluateRequest, mean: tuple[float, ...], std: tuple[float, ...], image_size: int
) -> DatasetSplits:
    """The evaluation data at ``image_size``, normalised with the statistics the weights were
    trained with. It is loaded as ``byolbench run`` loads it for that training size, so an
    image folder is stored and centre-cropped (crop_pct) exactly as in the run."""
    splits = load_dataset(request.dataset, request.data_dir, request.download, image_size)
    splits = limit_labelled_samples(splits, request.max_train_samples)
    info = dataclasses.replace(splits.info, mean=tuple(mean), std=tuple(std))
    return DatasetSplits(info, splits.pretrain, splits.train, splits.test)


def _cell_id(label: str, identity: str, request: EvaluateRequest, image_size: int) -> str:
    key = json.dumps(
        [identity, request.dataset, request.protocols, image_size, request.max_train_samples]
        + ([request.mixed_precision] if request.mixed_precision != "no" else [])
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return "evaluate__" + folder_name((request.dataset, label), (digest,), NAME_MAX - 10)


def _run(
    backbone: nn.Module,
    splits: DatasetSplits,
    eval_config: EvalConfig,
    image_size: int,
    method: str,
    request: EvaluateRequest,
    seed: int,
    meta: dict[str, Any],
    details: dict[str, Any],
    online_probe: OnlineProbeResult | None = None,
) -> list[dict[str, Any]]:
    device = _device(request.device)
    precision = _precision(request.mixed_precision, device)
    set_seed(seed)
    start = time.perf_counter()
    rows = evaluate_backbone(
        backbone.to(device),
        splits,
        eval_config,
        image_size,
        method,
        device=device,
        autocast_dtype=autocast_dtype(precision),
        seed=seed,
        online_probe=online_probe,
    )
    common = {
        "timestamp": utc_now(),
        "source": "evaluate",
        "dataset": request.dataset,
        "eval_dataset": request.dataset,
        "image_size": image_size,
        "train_samples": len(splits.train),
        "eval_seconds": round(time.perf_counter() - start, 1),
        "mixed_precision": precision,
        "device": device_name(device),
        "num_processes": 1,
        "byolbench_version": __version__,
        "git_commit": git_commit(),
        **meta,
    }
    extra = {
        **details,
        "max_train_samples": request.max_train_samples,
        "eval_mixed_precision": precision,
        "eval_image_size": image_size,
        "eval_crop_pct": splits.info.crop_pct,
    }
    return [
        {
            **common,
            "method": row.method,
            "protocol": row.protocol,
            "variant": protocol_variant(row),
            "top1": round(row.top1, 4),
            "top5": round(row.top5, 4),
            "rankme": round(row.rankme, 3) if row.rankme == row.rankme else None,
            "protocol_details": {**row.details, **extra},
        }
        for row in rows
    ]


def _eval_config(request: EvaluateRequest, base: EvalConfig) -> EvalConfig:
    if request.protocols:
        return dataclasses.replace(base, protocols=request.protocols)
    return base


def evaluate_source(source: BackboneSource, request: EvaluateRequest) -> list[dict[str, Any]]:
    """Evaluates the online backbone of ``source``; returns result rows (``RESULT_COLUMNS``).

    Raises:
        ConfigError: For an image size a ViT cannot take, or bad protocols.
        CheckpointError: When the weights do not fit their recorded architecture.
    """
    spec = source.spec
    image_size = request.image_size or spec.image_size
    if "img_size" in spec.timm_kwargs and image_size != spec.image_size:
        raise ConfigError(
            f"--image-size {image_size} differs from the {spec.image_size} px this "
            f"{spec.arch} was trained at, and its position embeddings fix that size; drop "
            "--image-size"
        )
    run_config = source.run_config()
    seed = run_config.train.seed if run_config else 0
    eval_config = _eval_config(request, run_config.eval if run_config else EvalConfig())
    if not request.protocols and "online-linear" in eval_config.protocols:
        try:  # the run's own protocols: online-linear only where its probe applies
            _online_probe(source, request, eval_config.protocols)
        except ConfigError as exc:
            logger.info("leaving out online-linear: %s", exc)
            kept = tuple(p for p in eval_config.protocols if p != "online-linear")
            eval_config = dataclasses.replace(eval_config, protocols=kept or ("knn",))
    probe = _online_probe(source, request, eval_config.protocols)
    backbone = source.load()
    splits = _load_splits(request, source.mean, source.std, image_size)
    pretrained_on = source.dataset or request.dataset
    meta: dict[str, Any] = {
        "cell_id": _cell_id(
            f"{spec.name}@{pretrained_on}", str(source.weights_file.resolve()), request, image_size
        ),
        "config_hash": source.config_hash,
        "config_group": run_config.config_group() if run_config else "",
        "settings": run_config.settings() if run_config else {},
        "dataset": pretrained_on,
        "backbone": spec.name,
        "augmentation": run_config.augment.preset if run_config else "-",
        "seed": seed,
        "epochs": run_config.train.epochs if run_config else 0,
        "batch_size": run_config.train.batch_size if run_config else "",
        "steps": source.steps if source.steps is not None else "",
        "run_dir": str(source.folder),
    }
    if source.eval_rows:
        first = source.eval_rows[0]
        meta.update({k: first[k] for k in PRETRAINING_COLUMNS if k in first})
    details = {
        "source": str(source.folder),
        "source_kind": source.kind,
        "pretrained_on": source.dataset,
    }
    return _run(
        backbone,
        splits,
        eval_config,
        image_size,
        METHOD_BYOL,
        request,
        int(seed),
        meta,
        details,
        probe,
    )


def evaluate_pretrained(name: str, request: EvaluateRequest) -> list[dict[str, Any]]:
    """Evaluates timm's own pretrained weights (local cache only); returns result rows.

    Raises:
        ConfigError: For an unknown name or weights that would need a download.
    """
    if "online-linear" in request.protocols:
        raise ConfigError(
            "online-linear needs a probe trained during BYOL pretraining; timm's pretrained "
            "weights have none: choose among knn, linear, fewshot, finetune"
        )
    cfg = pretrained_cfg(name)
    image_size = request.image_size or int(cfg.input_size[-1])
    backbone = create_pretrained_backbone(name, image_size)
    splits = _load_splits(request, tuple(cfg.mean), tuple(cfg.std), image_size)
    meta: dict[str, Any] = {
        "cell_id": _cell_id(name, f"timm:{name}", request, image_size),
        "config_hash": "",
        "dataset": f"timm:{cfg.tag or 'pretrained'}",
        "backbone": name,
        "augmentation": "-",
        "seed": 0,
        "epochs": 0,
        "steps": 0,
        "run_dir": "",
    }
    details = {
        "source": f"timm:{name}",
        "source_kind": "timm",
        "pretrained_tag": f"{cfg.architecture}.{cfg.tag}",
    }
    return _run(
        backbone,
        splits,
        _eval_config(request, EvalConfig()),
        image_size,
        METHOD_TIMM,
        request,
        0,
        meta,
        details,
    )


def write_evaluation(results_dir: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Writes one evaluation's rows into its own folder (``runs/<evaluate id>/eval.json``),
    replacing an earlier identical evaluation, and rebuilds ``runs.csv``; returns the folder."""
    store = ResultsStore(Path(results_dir))
    assert rows, "an evaluation produces at least one row"
    cell_id = str(rows[0]["cell_id"])
    store.write_cell_rows(cell_id, str(rows[0].get("config_hash", "")), rows)
    return store.run_dir(cell_id)
