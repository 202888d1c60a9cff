"""Hand-built results folders for report tests (no training)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from byolbench.bench.store import RESULT_COLUMNS

KNN_DETAILS = json.dumps({"k": 200, "temperature": 0.1, "seconds": 1.0})
LINEAR_DETAILS = json.dumps({"l2": 0.001, "val_top1": 50.0, "val_fraction": 0.1, "seconds": 2.0})


def result_row(
    dataset: str,
    backbone: str,
    seed: int,
    method: str,
    protocol: str,
    top1: float,
    **extra: Any,
) -> dict[str, Any]:
    """One runs.csv row with every column filled the way `byolbench run` fills it."""
    cell_id = f"{dataset}__{backbone}__auto__s{seed}__h"
    row: dict[str, Any] = {
        "timestamp": "2025-01-01T00:00:00+00:00",
        "cell_id": cell_id,
        "config_hash": "h",
        "dataset": dataset,
        "backbone": backbone,
        "augmentation": "byol-small",
        "seed": seed,
        "method": method,
        "protocol": protocol,
        "top1": top1,
        "top5": min(100.0, top1 + 10),
        "protocol_details": KNN_DETAILS if protocol == "knn" else LINEAR_DETAILS,
        "epochs": 100,
        "steps": 1000,
        "batch_size": 256,
        "image_size": 32,
        "pretrain_seconds": 600.0,
        "images_per_second": 400.0,
        "mixed_precision": "no",
        "device": "cpu",
        "num_processes": 1,
        "byolbench_version": "0.1.0",
        "git_commit": "abc",
        "run_dir": "",
    }
    row.update(extra)
    return row


def write_runs(results_dir: Path, rows: list[dict[str, Any]]) -> Path:
    """Writes ``rows`` as ``results_dir/runs.csv``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "runs.csv"
    pd.DataFrame(rows, columns=list(RESULT_COLUMNS)).to_csv(path, index=False)
    return path


def write_metrics(results_dir: Path, cell_id: str, records: list[dict[str, Any]]) -> Path:
    """Writes a run folder's ``metrics.jsonl``."""
    path = results_dir / "runs" / cell_id / "metrics.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def two_dataset_results(results_dir: Path, with_metrics: bool = True) -> None:
    """cifar10 (resnet18 x 2 seeds, vit_small x 1, both protocols, BYOL and random) and
    stl10 (resnet50 x 1, kNN only), with loss curves for the cifar10 resnet18 cells."""
    rows = []
    for seed, (byol_knn, byol_lin) in enumerate([(80.0, 84.0), (82.0, 86.0)]):
        rows += [
            result_row("cifar10", "resnet18", seed, "byol", "knn", byol_knn),
            result_row("cifar10", "resnet18", seed, "byol", "linear", byol_lin),
            result_row("cifar10", "resnet18", seed, "random", "knn", 30.0 + seed),
            result_row("cifar10", "resnet18", seed, "random", "linear", 35.0 + seed),
        ]
    rows += [
        result_row("cifar10", "vit_small", 0, "byol", "knn", 70.0),
        result_row("cifar10", "vit_small", 0, "random", "knn", 25.0),
        result_row("stl10", "resnet50", 0, "byol", "knn", 60.0, image_size=96),
        result_row("stl10", "resnet50", 0, "random", "knn", 20.0, image_size=96),
    ]
    write_runs(results_dir, rows)
    if with_metrics:
        for seed in (0, 1):
            write_metrics(
                results_dir,
                f"cifar10__resnet18__auto__s{seed}__h",
                [
                    {
                        "step": s,
                        "epoch": s // 10,
                        "loss": 4.0 - s / 500 - seed * 0.1,
                        "lr": 0.1,
                        "tau": 0.99,
                        "projection_std": 0.06,
                        "images_per_second": 400.0,
                    }
                    for s in range(100, 1001, 100)
                ],
            )
