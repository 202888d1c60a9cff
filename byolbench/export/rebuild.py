"""Rebuilding a backbone from its recorded spec and loading weights with a shape check."""

from __future__ import annotations

import torch
from torch import nn

from byolbench.errors import CheckpointError
from byolbench.models.backbone import BackboneSpec, create_backbone


def describe_spec(spec: BackboneSpec) -> str:
    """A short label such as ``test_resnet at 32 px with the small-image stem``."""
    extras = [f"{k}={v}" for k, v in sorted(spec.timm_kwargs.items()) if k != "img_size"]
    text = f"{spec.arch} at {spec.image_size} px"
    if spec.cifar_stem:
        text += " with the small-image stem"
    return f"{text} ({', '.join(extras)})" if extras else text


def build_backbone(spec: BackboneSpec) -> nn.Module:
    """Builds the randomly initialised backbone ``spec`` describes (no download)."""
    return create_backbone(
        spec.name,
        spec.image_size,
        in_chans=spec.in_chans,
        pretrained=False,
        small_image_stem="on" if spec.cifar_stem else "off",
        **spec.timm_kwargs,
    )


def _example(keys: list[str]) -> str:
    return f" (e.g. {keys[0]!r})" if keys else ""


def check_state_dict(
    model: nn.Module, state: dict[str, torch.Tensor], where: str, spec: BackboneSpec
) -> None:
    """Checks that ``state`` has exactly the model's keys and shapes.

    Raises:
        CheckpointError: One line naming the missing, unexpected and reshaped tensors.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [
        k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or reshaped):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing{_example(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected{_example(unexpected)}")
    if reshaped:
        key = reshaped[0]
        parts.append(
            f"{len(reshaped)} of another shape (e.g. {key!r}: {tuple(state[key].shape)} in the "
            f"file, {tuple(expected[key].shape)} in the model)"
        )
    raise CheckpointError(
        f"the weights in {where} do not fit {describe_spec(spec)}: tensors {', '.join(parts)}; "
        "they come from a different architecture: keep each weights file in the folder it was "
        "written to, or point to the run or export folder these weights belong to"
    )


def load_backbone(spec: BackboneSpec, state: dict[str, torch.Tensor], where: str) -> nn.Module:
    """Builds the backbone of ``spec``, loads ``state`` strictly and puts it in eval mode.

    Raises:
        CheckpointError: When the keys or shapes do not match.
    """
    model = build_backbone(spec)
    check_state_dict(model, state, where, spec)
    model.load_state_dict(state, strict=True)
    return model.eval()
