"""Reading and writing weights as safetensors only, with one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from byolbench.atomic import atomic_path
from byolbench.errors import CheckpointError


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Reads every tensor (on the CPU) and the metadata of a safetensors file.

    Raises:
        CheckpointError: When the file is missing, empty, truncated or not safetensors.
    """
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise CheckpointError(
            f"{path} ({path.stat().st_size} bytes) is not a readable safetensors file "
            f"({reason}); it is truncated or corrupt: copy it again from the run folder or "
            "export it again"
        ) from exc
    return tensors, metadata


def write_safetensors(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]
) -> None:
    """Atomically writes contiguous CPU copies of ``tensors`` with string ``metadata``."""
    state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
