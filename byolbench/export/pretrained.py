"""timm's own pretrained weights, read only from the local cache (never downloaded)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import timm
from torch import nn

from byolbench.errors import ConfigError, unknown_name_message
from byolbench.models.backbone import ALIASES, create_backbone, resolve_name

HUB_FILE = "model.safetensors"


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Sets Hugging Face Hub offline mode (``HF_HUB_OFFLINE=1``) for the block."""
    from huggingface_hub import constants

    previous_env = os.environ.get("HF_HUB_OFFLINE")
    previous = constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous
        if previous_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous_env


def _cached_hub_file(repo: str, filename: str) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    repo_id, _, revision = repo.partition("@")
    found = try_to_load_from_cache(repo_id, filename, revision=revision or None)
    return found if isinstance(found, str) else None


def pretrained_cfg(name: str) -> timm.models.PretrainedCfg:
    """timm's pretrained config for ``name`` (alias, timm name, optionally with ``.tag``).

    Raises:
        ConfigError: For an unknown name or a model timm has no weights for.
    """
    full = resolve_name(name)
    arch, _ = timm.models.split_model_name_tag(full)
    if not timm.models.is_model(arch):
        raise ConfigError(
            unknown_name_message(
                "timm model",
                name,
                [*ALIASES, *timm.list_models()],
                "See `byolbench list backbones --all-timm`.",
            )
        )
    cfg = timm.models.get_pretrained_cfg(full)
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        raise ConfigError(
            f"timm has no pretrained weights for {name!r}; list the ones it has with "
            f"python -c \"import timm; print(timm.list_pretrained('{arch}*'))\""
        )
    return cfg


def cached_weights(cfg: timm.models.PretrainedCfg) -> str | None:
    """The cached safetensors file timm would load for ``cfg``; ``None`` when it is not cached.

    Only Hugging Face Hub safetensors count: other formats would be unpickled by torch.
    """
    if not cfg.hf_hub_id:
        return None
    filename = cfg.hf_hub_filename or HUB_FILE
    return _cached_hub_file(cfg.hf_hub_id, filename) if filename.endswith(".safetensors") else None


def create_pretrained_backbone(name: str, image_size: int) -> nn.Module:
    """Builds a headless timm model with timm's pretrained weights from the local cache.

    The ImageNet layout is kept at every size (no small-image stem) so every pretrained
    tensor is used.

    Raises:
        ConfigError: When the weights are not cached locally (they would need a download).
    """
    cfg = pretrained_cfg(name)
    if cached_weights(cfg) is None:
        where = cfg.hf_hub_id or cfg.url
        raise ConfigError(
            f"timm's pretrained weights for {name!r} ({where}) are not in the local cache as "
            "safetensors and would need a download, which byolbench evaluate never does; fetch "
            "them once "
            f'where there is network access (python -c "import timm; timm.create_model('
            f"'{name}', pretrained=True)\") or evaluate a byolbench export instead"
        )
    with hub_offline():
        try:
            return create_backbone(name, image_size, pretrained=True, small_image_stem="off")
        except ConfigError as exc:
            raise ConfigError(" ".join(str(exc).split())) from exc
