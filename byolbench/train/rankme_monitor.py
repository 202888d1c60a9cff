"""RankMe of the online features during pretraining, without labels and without extra passes.

The online backbone's features of the training views (both views of every micro-batch,
detached) go into a ring buffer of the newest ``eval.rankme_samples`` rows on the training
device; every ``eval.rankme_every`` optimizer steps (and at the last step) RankMe of the
buffer is computed and logged. Like stable-pretraining's RankMe callback, it reuses features
the step computed anyway, so it costs one SVD per reading and no forward pass; the rows come
from the last few hundred steps' augmented views (a slightly moving network), which is what
makes it free. The RankMe in result rows is measured on clean test-set features instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from byolbench.eval.rankme import rankme


class RankMeMonitor:
    """A ring buffer of recent features and the RankMe readings taken from it.

    Args:
        samples: Rows kept (the newest ones).
        every: Optimizer steps between readings.
    """

    def __init__(self, samples: int, every: int) -> None:
        self.samples = samples
        self.every = every
        self._buffer: torch.Tensor | None = None
        self._next = 0
        self._filled = 0

    def observe(self, features: Sequence[torch.Tensor]) -> None:
        """Adds the detached features of a micro-batch's views (no host synchronisation)."""
        rows = torch.cat([f.detach() for f in features])[-self.samples :].float()
        if self._buffer is None:
            self._buffer = torch.zeros(self.samples, rows.shape[1], device=rows.device)
        n = rows.shape[0]
        end = self._next + n
        if end <= self.samples:
            self._buffer[self._next : end] = rows
        else:
            first = self.samples - self._next
            self._buffer[self._next :] = rows[:first]
            self._buffer[: n - first] = rows[first:]
        self._next = end % self.samples
        self._filled = min(self.samples, self._filled + n)

    def due(self, step: int, last_step: int) -> bool:
        """Whether ``step`` is a reading step."""
        return self._filled > 1 and (step % self.every == 0 or step == last_step)

    def read(self) -> float:
        """RankMe of the buffered features."""
        assert self._buffer is not None
        return rankme(self._buffer[: self._filled])
