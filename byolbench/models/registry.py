"""The backbone registry: plugins under the ``byolbench.backbones`` entry-point group.

Every timm model name works without registration; the registry holds plugin factories in
timm's style, ``fn(pretrained=False, **kwargs) -> nn.Module`` with ``num_features`` and pooled
``(B, D)`` output. A plugin whose factory is decorated with ``timm.models.register_model``
becomes a timm model on import and is built through timm (then it also gets timm's
``num_classes=0`` and ``in_chans`` keywords).

A plugin name that timm already knows from another package, or that is one of byolbench's
aliases (``resnet18``, ``vit_small``, ...), is a clash.
"""

from __future__ import annotations

from typing import Any

import timm

from byolbench.errors import ByolbenchError, PluginError
from byolbench.registry import BUILTIN_SOURCE, Registry, signature_problem

PROBE_IMAGE_SIZE = 32
LARGE_PROBE_IMAGE_SIZE = 224
FACTORY_CALL = "fn(pretrained=False, **kwargs) -> nn.Module"


def _validate_backbone(name: str, factory: Any) -> None:
    """The load-time contract: a callable in timm's factory style."""
    del name
    if not callable(factory):
        raise PluginError(
            f"the entry point must name a factory {FACTORY_CALL}, got a "
            f"{type(factory).__name__}; point it at the function (module:function)"
        )
    problem = signature_problem(factory, keywords=("pretrained",), var_keyword=True)
    if problem:
        raise PluginError(f"{problem}; a backbone factory is called as {FACTORY_CALL}")


def _top_package(module: str) -> str:
    return module.partition(".")[0]


def _existing_owner(name: str, plugin_target: str) -> str:
    """Who owns ``name`` besides the plugin: a byolbench alias or another timm model.

    Returns ``""`` when nobody does, or when the timm model comes from the plugin's own
    package (its factory registered itself with ``timm.models.register_model``).
    """
    from byolbench.models.backbone import ALIASES  # backbone.py imports this module

    if name in ALIASES:
        return f"{BUILTIN_SOURCE} alias of timm's {ALIASES[name]}"
    arch = timm.models.split_model_name_tag(name)[0]
    if not timm.models.is_model(arch):
        return ""
    owner = timm.models.model_entrypoint(arch).__module__
    if _top_package(owner) == _top_package(plugin_target.partition(":")[0]):
        return ""
    return f"timm {timm.__version__} ({owner})"


def _probe_backbone(name: str, factory: Any) -> None:
    """Builds the backbone at 32 px, or else at 224 px (a net made for ImageNet-size input);
    ``create_backbone`` checks the pooled output. Raises the 32 px error when both fail."""
    del factory
    from byolbench.models.backbone import create_backbone

    try:
        create_backbone(name, PROBE_IMAGE_SIZE)
    except ByolbenchError as small_error:
        try:
            create_backbone(name, LARGE_PROBE_IMAGE_SIZE)
        except ByolbenchError:
            raise small_error from None


BACKBONES: Registry[Any] = Registry(
    "backbone",
    "byolbench.backbones",
    validate=_validate_backbone,
    hint="Any timm model name also works; see `byolbench list backbones --all-timm`.",
)
BACKBONES.set_clash_check(_existing_owner)
BACKBONES.set_probe(_probe_backbone)
