"""Checkpoint folder names (``step-<N>``), readable without torch (``byolbench status``)."""

from __future__ import annotations

from pathlib import Path

PREFIX = "step-"


def checkpoint_step(path: Path) -> int:
    """The step number in a ``step-<N>`` folder name (-1 if it is not one)."""
    suffix = path.name[len(PREFIX) :]
    return int(suffix) if path.name.startswith(PREFIX) and suffix.isdigit() else -1
