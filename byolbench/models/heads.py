"""Projector and predictor MLPs."""

from __future__ import annotations

import torch
from torch import nn


class MLPHead(nn.Sequential):
    """``Linear -> BatchNorm1d -> ReLU -> Linear``, the BYOL projector and predictor.

    Args:
        in_dim: Input width.
        hidden_dim: Hidden width (paper: 4096).
        out_dim: Output width (paper: 256).
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )
        self.in_dim = in_dim
        self.hidden_dim = hidden_dim
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps ``(B, in_dim)`` to ``(B, out_dim)``."""
        return super().forward(x)
