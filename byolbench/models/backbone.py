"""``create_backbone``: any timm model (or backbone plugin) as a pooled feature extractor.

Small images are handled the way the field does it:

* ResNet-style nets (timm ``ResNet``) get a 3x3 stride-1 stem without max-pool at 64 px and
  below (the CIFAR variant of He et al.).
* Vision transformers get ``img_size=image_size`` and a patch size that keeps at least 8x8
  tokens (patch 4 at 32 px).

Other families (ConvNeXt, EfficientNet, MobileNet, ...) are used as timm builds them.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import timm
import torch
from torch import nn

from byolbench.errors import ConfigError, unknown_name_message
from byolbench.models.registry import BACKBONES

if TYPE_CHECKING:
    from byolbench.config import RunConfig

logger = logging.getLogger(__name__)

ALIASES: dict[str, str] = {
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "vit_tiny": "vit_tiny_patch16_224",
    "vit_small": "vit_small_patch16_224",
    "vit_base": "vit_base_patch16_224",
}

SMALL_IMAGE_MAX = 64
MIN_TOKENS_PER_SIDE = 8
# timm options that change only training-mode forwards; a rebuilt or exported backbone
# (``BackboneSpec.timm_kwargs``) leaves them out.
TRAINING_ONLY_KWARGS = frozenset({"patch_drop_rate"})
PATCH_SIZES = (32, 16, 14, 8, 4, 2, 1)
VIT_MODULES = frozenset(
    {
        "timm.models.vision_transformer",
        "timm.models.deit",
        "timm.models.eva",
        "timm.models.beit",
        "timm.models.vision_transformer_relpos",
    }
)


@dataclass(frozen=True)
class BackboneSpec:
    """How a backbone was built, enough to rebuild it (export, evaluation).

    Attributes:
        name: The name the user gave (alias, timm name or plugin name).
        arch: The timm architecture or plugin name actually built.
        image_size: Input resolution it was built for.
        in_chans: Input channels.
        num_features: Width of the pooled features.
        timm_kwargs: Keyword arguments passed to ``timm.create_model`` (img_size, patch_size).
        cifar_stem: Whether the stem was replaced by a 3x3 stride-1 conv without max-pool.
        source: ``timm`` or the plugin name it came from.
    """

    name: str
    arch: str
    image_size: int
    in_chans: int
    num_features: int
    timm_kwargs: dict[str, Any] = field(default_factory=dict)
    cifar_stem: bool = False
    source: str = "timm"

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-friendly dict."""
        return asdict(self)


def resolve_name(name: str) -> str:
    """Maps an alias to its timm name; other names are returned unchanged."""
    return ALIASES.get(name, name)


def is_timm_model(name: str) -> bool:
    """Whether timm can build ``name`` (a pretrained tag like ``resnet18.a1_in1k`` allowed)."""
    arch, _tag = timm.models.split_model_name_tag(name)
    return timm.models.is_model(arch)


def vit_patch_size(image_size: int, default_patch: int) -> int:
    """Returns the patch size that keeps at least 8x8 tokens, preferring the default."""
    if image_size // default_patch >= MIN_TOKENS_PER_SIDE:
        return default_patch
    for patch in PATCH_SIZES:
        if patch < default_patch and image_size // patch >= MIN_TOKENS_PER_SIDE:
            return patch
    return 1


def _timm_module(arch: str) -> str:
    return timm.models.model_entrypoint(arch).__module__


def _default_patch_size(arch: str) -> int:
    """Reads a ViT's default patch size from a weightless (meta-device) instance."""
    with torch.device("meta"):
        probe = timm.create_model(arch, pretrained=False, num_classes=0)
    patch = getattr(getattr(probe, "patch_embed", None), "patch_size", 16)
    return int(patch[0]) if isinstance(patch, (tuple, list)) else int(patch)


def _use_small_image_layout(image_size: int, small_image_stem: str) -> bool:
    if small_image_stem == "on":
        return True
    if small_image_stem == "off":
        return False
    return image_size <= SMALL_IMAGE_MAX


def _replace_resnet_stem(model: nn.Module, in_chans: int) -> None:
    """Swaps a timm ResNet stem for a 3x3 stride-1 conv and removes the max-pool."""
    stem_width = model.bn1.num_features
    model.conv1 = nn.Conv2d(in_chans, stem_width, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()


def create_backbone(
    name: str,
    image_size: int,
    in_chans: int = 3,
    pretrained: bool = False,
    small_image_stem: str = "auto",
    **kwargs: Any,
) -> nn.Module:
    """Builds a backbone that maps ``(B, in_chans, S, S)`` images to pooled ``(B, D)`` features.

    Args:
        name: A timm model name, an alias (``resnet18``, ``resnet50``, ``vit_tiny``,
            ``vit_small``, ``vit_base``) or a backbone plugin's name.
        image_size: Input resolution ``S``.
        in_chans: Input channels.
        pretrained: Load timm's pretrained weights (they must be available locally).
        small_image_stem: ``auto`` (adapt at 64 px and below), ``on`` or ``off``.
        **kwargs: Passed on to ``timm.create_model`` or the plugin factory.

    Returns:
        The module; ``backbone_spec(module).num_features`` is ``D``.

    Raises:
        ConfigError: For an unknown name (with close matches).
        PluginError: For a plugin name that clashes, fails to load or breaks its contract.
    """
    if name in BACKBONES:  # a plugin; a clash with an alias or timm model raises here
        factory = BACKBONES.get(name)  # importing a plugin may register it with timm
        if not is_timm_model(name):
            return _create_from_factory(name, factory, image_size, in_chans, pretrained, kwargs)
        with BACKBONES.guard(name, "to build through timm"):
            model = _create_timm(
                name, name, image_size, in_chans, pretrained, small_image_stem, kwargs
            )
            _check_pooled_output(name, model, pooled_dim(model), image_size, in_chans)
        return model
    arch = resolve_name(name)
    if not is_timm_model(arch):
        choices = [*ALIASES, *BACKBONES.names(), *timm.list_models()]
        raise ConfigError(
            unknown_name_message(
                "backbone", name, choices, "See `byolbench list backbones --all-timm`."
            )
        )
    return _create_timm(name, arch, image_size, in_chans, pretrained, small_image_stem, kwargs)


def _create_timm(
    name: str,
    arch: str,
    image_size: int,
    in_chans: int,
    pretrained: bool,
    small_image_stem: str,
    kwargs: dict[str, Any],
) -> nn.Module:
    small = _use_small_image_layout(image_size, small_image_stem)
    timm_kwargs = dict(kwargs)
    module_name = _timm_module(timm.models.split_model_name_tag(arch)[0])
    if module_name in VIT_MODULES:
        timm_kwargs.setdefault("img_size", image_size)
        default_patch = _default_patch_size(arch)
        patch = vit_patch_size(image_size, default_patch) if small else default_patch
        if patch != default_patch:
            timm_kwargs.setdefault("patch_size", patch)
    try:
        model = timm.create_model(
            arch, pretrained=pretrained, num_classes=0, in_chans=in_chans, **timm_kwargs
        )
    except (RuntimeError, OSError) as exc:
        if pretrained:
            raise ConfigError(
                f"pretrained weights for {arch!r} are not available locally ({exc}); "
                "download them once with network access (timm caches them in "
                "~/.cache/huggingface) or drop --pretrained"
            ) from exc
        raise
    except TypeError as exc:
        raise ConfigError(
            f"timm model {arch!r} does not accept the options {sorted(timm_kwargs)}: {exc}"
        ) from exc
    if "channels" in timm_kwargs and isinstance(model, timm.models.ResNet):
        _check_stage_widths(arch, model, tuple(timm_kwargs["channels"]))
    if "stem_width" in timm_kwargs:
        _check_deep_stem(arch, model, timm_kwargs["stem_width"])
    cifar_stem = False
    if small and isinstance(model, timm.models.ResNet):
        _replace_resnet_stem(model, in_chans)
        cifar_stem = True
        if pretrained:
            logger.info("%s: the pretrained 7x7 stem was replaced by a new 3x3 stem", arch)
    model.byolbench_spec = BackboneSpec(  # type: ignore[assignment]
        name=name,
        arch=arch,
        image_size=image_size,
        in_chans=in_chans,
        num_features=pooled_dim(model),
        timm_kwargs={k: v for k, v in timm_kwargs.items() if k not in TRAINING_ONLY_KWARGS},
        cifar_stem=cifar_stem,
    )
    return model


def _stage_count(model: nn.Module) -> int:
    """The stages of a timm ResNet (``layer1``, ``layer2``, ...)."""
    return sum(1 for child in model.named_children() if child[0].startswith("layer"))


def _check_stage_widths(arch: str, model: nn.Module, channels: tuple[int, ...]) -> None:
    """timm builds only as many stages as ``channels`` names: refuse a count other than the
    model's own, which would silently drop stages."""
    with torch.device("meta"):
        stages = _stage_count(timm.create_model(arch, num_classes=0))
    if len(channels) != stages:
        widths = ",".join(str(c) for c in channels)
        raise ConfigError(
            f"model.channels={widths}: {arch!r} has {stages} stages, so it takes {stages} "
            f"widths (e.g. {','.join(str(32 * 2**i) for i in range(stages))})"
        )


def _check_deep_stem(arch: str, model: nn.Module, stem_width: int) -> None:
    """timm ignores ``stem_width`` where a ResNet's stem is one 7x7 conv: refuse it there."""
    if isinstance(model, timm.models.ResNet) and not isinstance(model.conv1, nn.Sequential):
        raise ConfigError(
            f"model.stem_width={stem_width}: {arch!r} has a one-conv stem, which timm builds "
            "64 wide whatever the stem width; it works with ResNets whose stem is deep "
            "(resnet10t, resnet26d, ...); drop --set model.stem_width"
        )


def pooled_dim(model: nn.Module) -> int:
    """Width of a timm model's pooled output (``head_hidden_size`` where a pre-logits head
    such as MobileNetV3's ``conv_head`` widens it, else ``num_features``)."""
    return int(getattr(model, "head_hidden_size", None) or model.num_features)


def _create_from_factory(
    name: str,
    factory: Any,
    image_size: int,
    in_chans: int,
    pretrained: bool,
    kwargs: dict[str, Any],
) -> nn.Module:
    """Builds a plugin backbone and checks its contract on a tiny input."""
    call_kwargs = dict(kwargs)
    if in_chans != 3:
        call_kwargs["in_chans"] = in_chans
    with BACKBONES.guard(name, "to build"):
        model = factory(pretrained=pretrained, **call_kwargs)
        if not isinstance(model, nn.Module):
            raise BACKBONES.contract_error(
                name, f"the factory returned {type(model).__name__}, not an nn.Module"
            )
        dim = getattr(model, "num_features", None)
        if not isinstance(dim, int) or dim <= 0:
            raise BACKBONES.contract_error(
                name,
                f"the model has no positive integer `num_features` (got {dim!r}); "
                "set it to the width of the pooled features",
            )
        _check_pooled_output(name, model, dim, image_size, in_chans)
    model.byolbench_spec = BackboneSpec(  # type: ignore[assignment]
        name=name,
        arch=name,
        image_size=image_size,
        in_chans=in_chans,
        num_features=dim,
        timm_kwargs=dict(kwargs),
        source=f"plugin {name}",
    )
    return model


def _check_pooled_output(
    name: str, model: nn.Module, dim: int, image_size: int, in_chans: int
) -> None:
    """Runs a plugin backbone on two blank images and checks for pooled ``(2, dim)`` output."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(2, in_chans, image_size, image_size))
    model.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, dim):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise BACKBONES.contract_error(
            name,
            f"it must return pooled features of shape (B, {dim}) for "
            f"(B, {in_chans}, {image_size}, {image_size}) input; got {shape}",
        )


def backbone_spec(model: nn.Module) -> BackboneSpec:
    """Returns how ``model`` was built by ``create_backbone``."""
    spec = getattr(model, "byolbench_spec", None)
    if not isinstance(spec, BackboneSpec):
        raise TypeError("this module was not built by byolbench.models.create_backbone")
    return spec


def model_kwargs(config: RunConfig) -> dict[str, Any]:
    """Backbone options of ``config.model`` beyond the name and size: the pooling, a ResNet's
    stage widths, and the options that act only while pretraining (PatchDropout for ViTs)."""
    kwargs: dict[str, Any] = {}
    if config.model.global_pool:
        kwargs["global_pool"] = config.model.global_pool
    if config.model.patch_drop_rate:
        kwargs["patch_drop_rate"] = config.model.patch_drop_rate
    if config.model.channels:
        kwargs["channels"] = tuple(config.model.channels)
    if config.model.stem_width:
        kwargs["stem_width"] = config.model.stem_width
    return kwargs


def model_kwargs_problem(name: str, image_size: int, **kwargs: Any) -> str:
    """``""`` when backbone ``name`` accepts the options ``kwargs``, else why not.

    The backbone is built on the meta device (no memory, no weights).
    """
    try:
        with torch.device("meta"):
            create_backbone(name, image_size, **kwargs)
    except ConfigError as exc:
        return str(exc).splitlines()[0]
    except (TypeError, ValueError, AssertionError) as exc:  # a value the model has not
        return f"backbone {name!r} does not accept {kwargs}: {exc}"
    return ""
