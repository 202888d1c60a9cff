"""``--shard I/N``: the I-th of N disjoint, deterministic parts of a matrix.

Shard I (1-based) holds the cells whose position in the expanded matrix, counted from 0, is
``I - 1`` modulo N. The order of the expanded matrix is fixed by the matrix itself (datasets,
backbones, augmentations, seeds), so N processes started anywhere with the same matrix and
``--shard 1/N`` ... ``--shard N/N`` run every cell exactly once; dealing cells round-robin
spreads slow datasets and backbones over the shards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from byolbench.errors import ConfigError

T = TypeVar("T")

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def select(self, items: Sequence[T]) -> list[T]:
        """The items of this shard, in their original order."""
        return [
            item for position, item in enumerate(items) if position % self.count == self.index - 1
        ]

    def positions(self, total: int) -> list[int]:
        """1-based positions in the matrix of this shard's cells."""
        return [p + 1 for p in range(total) if p % self.count == self.index - 1]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """Parses ``"I/N"`` (1 <= I <= N).

    Raises:
        ConfigError: When the text is not two integers ``I/N`` with 1 <= I <= N.
    """
    match = _SHARD.match(text or "")
    hint = (
        "use --shard I/N with 1 <= I <= N, e.g. --shard 1/4 ... --shard 4/4 (a 0-based task "
        "index such as JOB_COMPLETION_INDEX needs +1)"
    )
    if match is None:
        raise ConfigError(f"--shard {text!r} is not of the form I/N; {hint}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ConfigError(f"--shard {text!r} is out of range; {hint}")
    return Shard(index, count)
