"""The ``config.json`` timm reads from a local folder, and the code that loads an export.

``timm.create_model("local-dir:FOLDER", pretrained=True)`` builds ``architecture`` with
``model_args`` and loads ``model.safetensors``; ``pretrained_cfg`` carries the input size
and normalisation. byolbench's extra facts live under the ``byolbench`` key, which timm
ignores.

The small-image ResNet stem (3x3 stride-1 conv, no max-pool) is not a timm constructor
option, so timm alone cannot rebuild it: such exports record the stem under
``byolbench.small_image_stem`` and their README gives the plain timm + torch code that
replaces the stem before loading the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
from torch import nn

from byolbench import __version__
from byolbench.export.source import EXPORT_FORMAT, BackboneSource

EXPORT_VERSION = 1


def stem_record(model: nn.Module) -> dict[str, Any]:
    """The replaced ResNet stem as ``torch.nn.Conv2d`` arguments plus the removed max-pool."""
    conv = model.conv1
    assert isinstance(conv, nn.Conv2d), type(conv)
    return {
        "conv1": {
            "in_channels": conv.in_channels,
            "out_channels": conv.out_channels,
            "kernel_size": conv.kernel_size[0],
            "stride": conv.stride[0],
            "padding": conv.padding[0],
            "bias": conv.bias is not None,
        },
        "maxpool": "Identity",
    }


def _timm_defaults(arch: str) -> dict[str, Any]:
    cfg = timm.models.get_pretrained_cfg(arch) if timm.models.is_model(arch) else None
    return cfg.to_dict() if cfg is not None else {}


def model_args(source: BackboneSource) -> dict[str, Any]:
    """Constructor arguments beyond the architecture name (``img_size``, ``patch_size``, ...)."""
    return {"num_classes": 0, "in_chans": source.spec.in_chans, **source.spec.timm_kwargs}


def timm_config(
    source: BackboneSource, model: nn.Module, weights_sha256: str, heads_file: str | None
) -> dict[str, Any]:
    """The export's ``config.json``.

    Args:
        source: Where the weights came from.
        model: The backbone built with them.
        weights_sha256: SHA-256 of the exported ``model.safetensors``.
        heads_file: Name of the projector/predictor file, if exported.
    """
    spec = source.spec
    defaults = _timm_defaults(spec.arch)
    size = spec.image_size
    pretrained_cfg: dict[str, Any] = {
        "tag": "byol",
        "custom_load": False,
        "input_size": [spec.in_chans, size, size],
        "fixed_input_size": bool(defaults.get("fixed_input_size", False)),
        "interpolation": "bilinear",
        "crop_pct": source.crop_pct,
        "crop_mode": "center",
        "mean": list(source.mean),
        "std": list(source.std),
        "num_classes": 0,
        "pool_size": None,
        "first_conv": defaults.get("first_conv"),
        "classifier": defaults.get("classifier"),
    }
    return {
        "architecture": spec.arch,
        "num_classes": 0,
        "num_features": spec.num_features,
        "model_args": model_args(source),
        "pretrained_cfg": pretrained_cfg,
        "byolbench": {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "byolbench_version": __version__,
            "backbone": spec.to_dict(),
            "small_image_stem": stem_record(model) if spec.cifar_stem else None,
            "dataset": source.dataset,
            "class_names": source.class_names,
            "cell_id": source.cell_id,
            "config_hash": source.config_hash,
            "steps": source.steps,
            "exported_from": source.kind,
            "weights_sha256": weights_sha256,
            "heads_file": heads_file,
        },
    }


def _kwargs_text(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def loading_snippets(config: dict[str, Any], folder: Path) -> list[str]:
    """Python code (no byolbench import) that rebuilds the exported backbone, best first."""
    arch = config["architecture"]
    args = _kwargs_text(config["model_args"])
    stem = config["byolbench"]["small_image_stem"]
    head = f'folder = "{folder.resolve()}"\n'
    if stem is not None:
        conv = stem["conv1"]
        return [
            "import timm\nimport torch\nfrom safetensors.torch import load_file\n\n"
            + head
            + f'model = timm.create_model("{arch}", pretrained=False, {args})\n'
            "# byolbench's small-image stem is not a timm option: rebuild it, then load\n"
            f"model.conv1 = torch.nn.Conv2d({conv['in_channels']}, {conv['out_channels']}, "
            f"kernel_size={conv['kernel_size']}, stride={conv['stride']}, "
            f"padding={conv['padding']}, bias={conv['bias']})\n"
            "model.maxpool = torch.nn.Identity()\n"
            'model.load_state_dict(load_file(f"{folder}/model.safetensors"))\n'
            "model.eval()\n"
        ]
    return [
        "import timm\n\n"
        + head
        + 'model = timm.create_model(f"local-dir:{folder}", pretrained=True)\n'
        "model.eval()\n",
        "import timm\n\n"
        + head
        + f'model = timm.create_model(\n    "{arch}", pretrained=True, {args},\n'
        '    pretrained_cfg_overlay=dict(file=f"{folder}/model.safetensors"),\n)\n'
        "model.eval()\n",
    ]
