"""``results/matrix.json``: the cells of the matrix last run or submitted into a folder.

``byolbench status`` reads it to know the cells that have not started yet. Every ``run``
writes the whole matrix (all shards of it), atomically, so shards started at once write the
same file and readers never see a partial one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from byolbench.bench.matrix import Cell
from byolbench.bench.store import read_json, utc_now, write_json

PLAN_FILE = "matrix.json"


@dataclass(frozen=True)
class PlannedCell:
    """A cell of the planned matrix, as ``byolbench status`` lists it."""

    cell_id: str
    config_hash: str
    dataset: str
    backbone: str
    augmentation: str
    seed: int

    @classmethod
    def of(cls, cell: Cell) -> PlannedCell:
        """The record of a matrix cell."""
        return cls(
            cell.cell_id,
            cell.config.config_hash(),
            cell.dataset,
            cell.backbone,
            cell.augmentation,
            cell.seed,
        )

    @property
    def label(self) -> str:
        """``dataset / backbone / augmentation / seed N``."""
        return f"{self.dataset} / {self.backbone} / {self.augmentation} / seed {self.seed}"


def write_plan(results_dir: Path, cells: Sequence[Cell], executor: str = "local") -> Path:
    """Records the matrix's cells in ``results_dir/matrix.json``; returns its path."""
    path = Path(results_dir) / PLAN_FILE
    write_json(
        path,
        {
            "written": utc_now(),
            "executor": executor,
            "cells": [asdict(PlannedCell.of(cell)) for cell in cells],
        },
    )
    return path


def read_plan(results_dir: Path) -> list[PlannedCell]:
    """The recorded cells (empty when there is no readable ``matrix.json``)."""
    try:
        record: Any = read_json(Path(results_dir) / PLAN_FILE)
        return [PlannedCell(**entry) for entry in record["cells"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
