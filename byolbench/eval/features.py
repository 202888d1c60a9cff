"""Pooled features of a frozen backbone for a whole in-memory split."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from byolbench.augment.transforms import EvalTransform


@torch.no_grad()
def extract_features(
    backbone: nn.Module,
    images: torch.Tensor,
    transform: EvalTransform,
    device: torch.device | str = "cpu",
    batch_size: int = 512,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    accelerator: Any = None,
) -> torch.Tensor:
    """Runs ``backbone`` in eval mode over uint8 ``images`` and returns float32 features.

    Args:
        backbone: The network to evaluate (for BYOL: the ONLINE backbone).
        images: uint8 ``(N, C, H, W)`` on any device.
        transform: Maps a uint8 batch to normalised float input.
        device: Where to run.
        batch_size: Images per forward pass.
        autocast_dtype: Run under autocast in this dtype (e.g. ``torch.bfloat16``); None: fp32.
        channels_last: Feed channels-last input.
        accelerator: With several processes, each extracts a shard and the features are
            collected with ``gather_for_metrics`` (every process receives all of them, in
            order, without the padding of an uneven last batch).

    Returns:
        ``(N, D)`` float32 features on ``device``.
    """
    device = torch.device(device)
    was_training = backbone.training
    backbone.eval()
    outputs: list[torch.Tensor] = []
    autocast = (
        torch.autocast(device_type=device.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    )
    distributed = accelerator is not None and accelerator.num_processes > 1
    if distributed:
        loader = accelerator.prepare_data_loader(
            DataLoader(range(images.shape[0]), batch_size=batch_size, shuffle=False),
            device_placement=False,
        )
        batches = (images[idx] for idx in loader)
    else:
        batches = (images[s : s + batch_size] for s in range(0, images.shape[0], batch_size))
    try:
        for chunk in batches:
            batch = transform(chunk.to(device, non_blocking=True))
            if channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            with autocast:
                features = backbone(batch).float()
            outputs.append(accelerator.gather_for_metrics(features) if distributed else features)
    finally:
        backbone.train(was_training)
    return torch.cat(outputs)
