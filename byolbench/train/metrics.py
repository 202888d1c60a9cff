"""Training metrics: accumulated on the device, read every N steps, written as JSON lines."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)


class DeviceMeter:
    """Sums loss and projection std on the device; ``read`` is the only host sync."""

    def __init__(self) -> None:
        self._sums: torch.Tensor | None = None
        self._count = 0

    def add(self, loss: torch.Tensor, projection_std: torch.Tensor) -> None:
        """Adds one micro-batch's values (no synchronisation)."""
        values = torch.stack((loss.detach().float(), projection_std.detach().float()))
        self._sums = values if self._sums is None else self._sums + values
        self._count += 1

    def pending_loss_sum(self) -> torch.Tensor | None:
        """Sum of the losses not yet read (on the device), or ``None``."""
        return None if self._sums is None else self._sums[0]

    def read(self, reduce: Any = None) -> tuple[float, float]:
        """Returns the mean loss and std since the last read and resets.

        Args:
            reduce: Optional function averaging a tensor over processes (e.g.
                ``lambda t: accelerator.reduce(t, "mean")``).
        """
        if self._sums is None or self._count == 0:
            return math.nan, math.nan
        means = self._sums / self._count
        if reduce is not None:
            means = reduce(means)
        loss, std = means.tolist()
        self._sums = None
        self._count = 0
        return loss, std


class MetricsFile:
    """Appends one JSON object per line to ``metrics.jsonl`` (flushed after each line)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def write(self, record: dict[str, Any]) -> None:
        """Appends ``record``."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, allow_nan=True) + "\n")
            handle.flush()

    def truncate_after(self, step: int) -> None:
        """Drops records past ``step`` (written after the checkpoint a run resumes from)."""
        if self.path is None or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except ValueError:
                continue  # a line cut by a kill
        self.path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def healthy_std(projector_dim: int) -> float:
    """Std of L2-normalised projections when they are spread out: ``1/sqrt(d)``."""
    return 1.0 / math.sqrt(projector_dim)


COLLAPSE_ADVICE = (
    "likely causes: learning rate too high or too low (optim.lr), an optimizer unsuited to the "
    "batch size (optim.name), a missing predictor (model.use_predictor), or a target that moves "
    "too fast (byol.tau_base too low)"
)


def collapse_message(step: int, std: float, threshold: float, projector_dim: int) -> str:
    """The warning given when projections have stayed collapsed."""
    return (
        f"possible representation collapse at step {step}: std of normalised projections is "
        f"{std:.4f}, below {threshold:.2f} x the healthy {healthy_std(projector_dim):.4f}; "
        f"{COLLAPSE_ADVICE}"
    )
