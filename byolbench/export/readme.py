"""The README of an export: what the backbone is, how it was trained, evaluated and loaded."""

from __future__ import annotations

import math
from typing import Any

from byolbench.export.source import HEADS_FILE, TRAINING_FILE, BackboneSource

TRAINING_KEYS = (
    ("data", "dataset"),
    ("data", "image_size"),
    ("data", "max_train_samples"),
    ("augment", "preset"),
    ("augment", "crop_min_scale"),
    ("model", "backbone"),
    ("model", "pretrained"),
    ("model", "projector_hidden_dim"),
    ("model", "projector_dim"),
    ("model", "predictor_hidden_dim"),
    ("optim", "name"),
    ("optim", "lr"),
    ("optim", "weight_decay"),
    ("optim", "warmup_epochs"),
    ("byol", "tau_base"),
    ("byol", "tau_final"),
    ("train", "epochs"),
    ("train", "batch_size"),
    ("train", "grad_accum_steps"),
    ("train", "mixed_precision"),
    ("train", "seed"),
)


def _adaptation(source: BackboneSource) -> str:
    spec = source.spec
    if spec.cifar_stem:
        return "ResNet stem replaced by a 3x3 stride-1 conv, max-pool removed"
    if "patch_size" in spec.timm_kwargs:
        return f"ViT patch size {spec.timm_kwargs['patch_size']} at {spec.image_size} px"
    return "none"


def _eval_transform(crop_pct: float, size: int) -> str:
    if crop_pct >= 1.0:
        return f"resize to {size} x {size} (crop_pct 1.0)"
    scale = math.floor(size / crop_pct)
    return f"resize the shorter side to {scale}, centre crop {size} x {size} (crop_pct {crop_pct})"


def _summary(source: BackboneSource) -> list[str]:
    spec = source.spec
    size = spec.image_size
    mean = ", ".join(f"{v:.4f}" for v in source.mean)
    std = ", ".join(f"{v:.4f}" for v in source.std)
    rows = [
        ("architecture", f"`{spec.arch}` ({spec.source})"),
        (
            "input",
            f"{spec.in_chans} x {size} x {size}, RGB scaled to [0, 1], normalised with "
            f"mean ({mean}) and std ({std})",
        ),
        ("evaluation transform", _eval_transform(source.crop_pct, size)),
        ("output", f"pooled features of width {spec.num_features} (no classifier)"),
        ("small-image adaptation", _adaptation(source)),
        ("pretraining data", f"`{source.dataset or 'unknown'}`"),
        ("optimizer steps", str(source.steps if source.steps is not None else "unknown")),
        ("run", f"`{source.cell_id or 'unknown'}` (config hash `{source.config_hash or '-'}`)"),
        ("exported from", f"{source.kind} `{source.weights_file}`"),
    ]
    return ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def _training(config: dict[str, Any] | None) -> list[str]:
    if not config:
        return ["The run's configuration was not recorded with these weights."]
    lines = [
        "BYOL (Grill et al. 2020) with byolbench: online backbone + projector + predictor, "
        "target = EMA of backbone + projector; this file holds the ONLINE backbone. The full "
        f"configuration is in `{TRAINING_FILE}`.",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    for section, key in TRAINING_KEYS:
        value = config.get(section, {}).get(key)
        if value is not None:
            lines.append(f"| {section}.{key} | `{value}` |")
    return lines


def _details(details: Any) -> str:
    if not isinstance(details, dict):
        return str(details)
    return ", ".join(f"{k}={v}" for k, v in details.items() if k != "seconds")


def _evaluation(source: BackboneSource) -> list[str]:
    rows = source.eval_rows
    if not rows:
        return [
            "Not evaluated yet (exported from a training checkpoint). Evaluate it with "
            "`byolbench evaluate FOLDER --dataset NAME`."
        ]
    lines = [
        "Frozen online-backbone features; kNN: cosine similarity, votes weighted by "
        "exp(sim / T); linear: logistic regression with L2 chosen on a held-out part of the "
        "training split. `random` is the same architecture at random initialisation.",
        "",
        "| dataset | method | protocol | top-1 | top-5 | details |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.get('dataset', '')} | {row.get('method', '')} | {row.get('protocol', '')} "
            f"| {row.get('top1', '')} | {row.get('top5', '')} "
            f"| {_details(row.get('protocol_details'))} |"
        )
    return lines


def _loading(source: BackboneSource, snippets: list[str]) -> list[str]:
    lines = [
        "Plain timm and torch, no byolbench needed:",
        "",
        "```python",
        snippets[0].rstrip(),
        "```",
        "",
    ]
    if source.spec.cifar_stem:
        lines.append(
            'timm has no constructor option for this stem, so `timm.create_model("local-dir:'
            '...")` alone fails on the `conv1` weights (it never loads them silently into the '
            "wrong layer); the stem is also recorded in `config.json` under "
            "`byolbench.small_image_stem`."
        )
    else:
        lines += [
            "or, naming the architecture:",
            "",
            "```python",
            snippets[1].rstrip(),
            "```",
            "",
            "`timm.data.resolve_model_data_config(model)` gives the input size and "
            "normalisation of the first form (they are in `config.json`).",
        ]
    if source.spec.source != "timm":
        lines.append(
            f"This backbone comes from {source.spec.source}: import that plugin first so "
            "timm knows the architecture."
        )
    lines += ["", "Fine-tuning: `model.reset_classifier(N)` after loading adds a new N-class head."]
    return lines


def readme_text(source: BackboneSource, snippets: list[str], with_heads: bool) -> str:
    """Markdown for the export's ``README.md``."""
    files = [
        "- `model.safetensors`: the online backbone's weights (timm state dict, no classifier)",
        "- `config.json`: timm's local-folder config (architecture, model_args, pretrained_cfg)",
        f"- `{TRAINING_FILE}`: the run's full configuration and evaluation rows",
    ]
    if with_heads:
        projector = source.head_state.get("projector.0.weight")
        files.append(
            f"- `{HEADS_FILE}`: BYOL projector and predictor (`projector.*`, `predictor.*`), "
            "each Linear -> BatchNorm1d -> ReLU -> Linear (indices 0, 1, 3)"
            + (f"; projector input {projector.shape[1]}" if projector is not None else "")
        )
    parts = [
        f"# {source.spec.arch}: BYOL-pretrained backbone (byolbench)",
        "",
        *_summary(source),
        "",
        "## How it was trained",
        "",
        *_training(source.config),
        "",
        "## How it was evaluated",
        "",
        *_evaluation(source),
        "",
        "## How to load it",
        "",
        *_loading(source, snippets),
        "",
        "## Files",
        "",
        *files,
    ]
    return "\n".join(parts) + "\n"
