"""Choosing mixed precision for the device at hand."""

from __future__ import annotations

import torch

from byolbench.errors import ConfigError


def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bf16 matrix instructions (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


NATIVE_BF16_CAPABILITY = (8, 0)


def cuda_supports_bf16() -> bool:
    """Whether the current CUDA GPU computes bf16 natively (compute capability 8.0 or newer:
    Ampere, Hopper, ...).

    ``torch.cuda.is_bf16_supported()`` also answers ``True`` on V100 and T4 (capability 7.x),
    where bf16 is emulated and several times slower than fp16, so it is not used here.
    """
    return tuple(torch.cuda.get_device_capability()) >= NATIVE_BF16_CAPABILITY


def resolve_mixed_precision(requested: str, device_type: str) -> str:
    """Maps ``auto`` to ``bf16`` where the device computes bf16 natively, else fp16 on GPUs
    (with loss scaling) and full precision on CPUs.

    Args:
        requested: ``auto``, ``no``, ``bf16`` or ``fp16``.
        device_type: ``cpu`` or ``cuda`` (others: treated like ``cpu``).

    Raises:
        ConfigError: For ``fp16`` on a CPU.
    """
    if requested == "auto":
        if device_type == "cuda":
            return "bf16" if cuda_supports_bf16() else "fp16"
        return "bf16" if cpu_supports_bf16() else "no"
    if requested == "fp16" and device_type == "cpu":
        raise ConfigError(
            "train.mixed_precision=fp16 needs a GPU; on a CPU use bf16 (if supported) or no"
        )
    return requested


def autocast_dtype(mixed_precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision (``None`` for full precision)."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mixed_precision)
