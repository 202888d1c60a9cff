"""Seeded, sharded, resumable batches of indices into an in-memory split."""

from __future__ import annotations

import torch


class ShardedBatches:
    """Per-epoch shuffled index batches, split across processes.

    Epoch ``e`` is a permutation drawn from ``seed`` and ``e`` alone, so any process can
    rebuild it and a resumed run can skip to any batch. Each global batch of
    ``batch_size * num_processes`` indices is cut into one contiguous slice per process; the
    incomplete last global batch is dropped.

    Args:
        num_samples: Size of the split.
        batch_size: Indices per process per batch.
        num_processes: Number of processes.
        process_index: This process's rank.
        seed: Base seed of the order.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        num_processes: int = 1,
        process_index: int = 0,
        seed: int = 0,
    ) -> None:
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.num_processes = num_processes
        self.process_index = process_index
        self.seed = seed

    @property
    def global_batch(self) -> int:
        """Indices per batch over all processes."""
        return self.batch_size * self.num_processes

    def __len__(self) -> int:
        """Batches per epoch (the same on every process)."""
        return self.num_samples // self.global_batch

    def epoch(self, epoch: int, start: int = 0) -> list[torch.Tensor]:
        """This process's batches of ``epoch``, from batch ``start`` on."""
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = torch.randperm(self.num_samples, generator=generator)
        batches = []
        for b in range(start, len(self)):
            first = b * self.global_batch + self.process_index * self.batch_size
            batches.append(order[first : first + self.batch_size])
        return batches
