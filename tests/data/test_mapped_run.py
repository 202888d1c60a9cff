"""A whole cell trains and evaluates on a folder served from its memory-mapped copy."""

import os
from pathlib import Path

import pandas as pd
import psutil

from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.runner import RunOptions, run_matrix
from byolbench.config import parse_overrides
from tests.export_helpers import SETS, write_image_folder


class _TinyMemory:
    available = 10_000


def test_cell_runs_on_a_memory_mapped_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(psutil, "virtual_memory", lambda: _TinyMemory())
    data = write_image_folder(tmp_path / "pets")
    spec = MatrixSpec(["test_resnet"], [f"imagefolder:{data}"], preset="standard")
    spec.cli = {"train.epochs": 1, "train.batch_size": 8, "train.mixed_precision": "no"}
    spec.sets = parse_overrides(SETS)
    outcomes = run_matrix(expand(spec), RunOptions(results_dir=tmp_path / "results", cpu=True))

    assert [o.status for o in outcomes] == ["done"], [o.error for o in outcomes]
    assert len(list(Path(os.environ["BYOLBENCH_DATA"]).rglob("*.u8"))) == 2  # train, test
    rows = pd.read_csv(tmp_path / "results" / "runs.csv")
    assert rows["top1"].between(0, 100).all() and len(rows) >= 1
