"""The backbone registry: plugins under the ``byolbench.backbones`` entry-point group.

Every timm model name works without registration; the registry holds plugin factories in
timm's style, ``fn(pretrained=False, **kwargs) -> nn.Module`` with ``num_features`` and pooled
``(B, D)`` output. A plugin whose factory is decorated with ``timm.models.register_model``
becomes a timm model on import and is built through timm.
"""

from __future__ import annotations

from typing import Any

import timm

from byolbench.errors import PluginError
from byolbench.registry import Registry


def _validate_backbone(name: str, factory: Any) -> None:
    if not callable(factory):
        raise PluginError(
            f"backbone plugin {name!r} must point to a factory "
            f"fn(pretrained=False, **kwargs) -> nn.Module, got {type(factory).__name__}"
        )


def _timm_owner(name: str, plugin_target: str) -> str:
    """Returns ``timm <version> (<module>)`` when timm already has ``name`` from elsewhere."""
    arch = timm.models.split_model_name_tag(name)[0]
    if not timm.models.is_model(arch):
        return ""
    owner = timm.models.model_entrypoint(arch).__module__
    plugin_module = plugin_target.partition(":")[0]
    if owner == plugin_module:
        return ""  # the plugin itself registered the name with timm
    return f"timm {timm.__version__} ({owner})"


BACKBONES: Registry[Any] = Registry(
    "backbone",
    "byolbench.backbones",
    validate=_validate_backbone,
    hint="Any timm model name also works; see `byolbench list backbones --all-timm`.",
)
BACKBONES.set_clash_check(_timm_owner)
