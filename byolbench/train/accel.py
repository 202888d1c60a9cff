"""Creating the Accelerator for a run (one per matrix cell)."""

from __future__ import annotations

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState, PartialState

from byolbench.errors import ConfigError
from byolbench.train.precision import resolve_mixed_precision

TRACKERS = ("tensorboard", "wandb", "mlflow")


def _has_accelerator_device() -> bool:
    xpu = getattr(torch, "xpu", None)
    return bool(
        torch.cuda.is_available()
        or torch.backends.mps.is_available()
        or (xpu is not None and xpu.is_available())
    )


def use_cpu(cpu: bool) -> bool:
    """Whether a run uses the CPU: when asked, or when the machine has no accelerator.

    On a machine without GPUs, Accelerate only forms a multi-process CPU group (gloo) when
    asked for the CPU explicitly; every ``PartialState`` of a run must be built with this.
    """
    return cpu or not _has_accelerator_device()


def _device_type(cpu: bool) -> str:
    return PartialState(cpu=cpu).device.type


def make_accelerator(
    mixed_precision: str = "auto",
    grad_accum_steps: int = 1,
    log_with: str = "",
    project_dir: str | None = None,
    cpu: bool = False,
) -> Accelerator:
    """Builds an Accelerator, resetting the one a previous matrix cell left behind.

    Args:
        mixed_precision: ``auto``, ``no``, ``bf16`` or ``fp16``.
        grad_accum_steps: Micro-batches per optimizer step.
        log_with: Optional tracker (``tensorboard``, ``wandb`` or ``mlflow``).
        project_dir: Where trackers write.
        cpu: Force the CPU even where a GPU is present.

    Raises:
        ConfigError: For an unknown tracker or one whose package is missing.
    """
    if AcceleratorState._shared_state:
        AcceleratorState._reset_state(reset_partial_state=False)
        GradientState._reset_state()
    cpu = use_cpu(cpu)
    device_type = _device_type(cpu)
    precision = resolve_mixed_precision(mixed_precision, device_type)
    trackers = None
    if log_with:
        if log_with not in TRACKERS:
            raise ConfigError(f"--log-with {log_with!r} is invalid; valid: {', '.join(TRACKERS)}")
        _require_tracker(log_with)
        trackers = log_with
    return Accelerator(
        mixed_precision=precision,
        gradient_accumulation_steps=grad_accum_steps,
        log_with=trackers,
        project_dir=project_dir,
        cpu=cpu,
        step_scheduler_with_optimizer=False,
    )


def _require_tracker(name: str) -> None:
    import importlib.util

    module = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}[name]
    if importlib.util.find_spec(module) is None and not (
        name == "tensorboard" and importlib.util.find_spec("tensorboardX") is not None
    ):
        raise ConfigError(
            f"--log-with {name} needs the {module} package; install it with "
            f"pip install 'byolbench[{name}]' (or pip install {module})"
        )
