"""Training curves read back from the ``metrics.jsonl`` of each run folder.

A curve's x axis is in epochs: ``step * epochs / steps`` from the cell's ``runs.csv`` row
when both are known, else the record's own ``epoch``. A kNN accuracy logged during training
is picked up from the first of ``KNN_KEYS`` a record has.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from byolbench.bench.aggregate import latest_per_cell

METRICS_FILE = "metrics.jsonl"
KNN_KEYS = ("knn_top1", "knn_accuracy", "knn")
EXTRA_KEYS = ("rankme", "online_linear_top1")


@dataclass
class Curve:
    """One run's logged metrics.

    Attributes:
        dataset: Dataset name.
        backbone: Backbone name.
        augmentation: Augmentation preset.
        epochs: Pretraining epochs of the run.
        seed: Seed.
        frame: Columns ``epoch`` and ``step`` (x axes), ``loss`` and, when logged,
            ``knn_top1``, ``rankme`` and ``online_linear_top1``.
    """

    dataset: str
    backbone: str
    augmentation: str
    epochs: float
    seed: int
    frame: pd.DataFrame

    @property
    def setting(self) -> str:
        """Label shared by the seeds of one setting."""
        return f"{self.backbone} / {self.augmentation} / {self.epochs:g} ep"


def read_metrics(path: Path) -> pd.DataFrame:
    """Records of one ``metrics.jsonl``: unreadable lines skipped; records of the same step are
    merged, the last value of each field winning (a kNN record shares its step with a loss
    record).

    Returns:
        A frame sorted by ``step`` (empty when nothing is readable).
    """
    records = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        if isinstance(record, dict) and "step" in record:
            records.append(record)
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return frame
    return frame.groupby("step", as_index=False, sort=True).last().reset_index(drop=True)


def metrics_path(results_dir: Path, row: pd.Series) -> Path | None:
    """The ``metrics.jsonl`` of a result row: under ``results_dir/runs/<cell_id>/``, else
    under the row's recorded ``run_dir``; ``None`` when neither exists."""
    candidates = [Path(results_dir) / "runs" / str(row["cell_id"]) / METRICS_FILE]
    run_dir = row.get("run_dir")
    if isinstance(run_dir, str) and run_dir:
        candidates.append(Path(run_dir) / METRICS_FILE)
    return next((path for path in candidates if path.is_file()), None)


def _x_axis(frame: pd.DataFrame, row: pd.Series) -> pd.Series:
    epochs = pd.to_numeric(row.get("epochs"), errors="coerce")
    steps = pd.to_numeric(row.get("steps"), errors="coerce")
    if epochs == epochs and steps == steps and steps > 0:
        return frame["step"].astype(float) * float(epochs) / float(steps)
    if "epoch" in frame:
        return frame["epoch"].astype(float)
    return frame["step"].astype(float)


def _curve_frame(frame: pd.DataFrame, row: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame({"epoch": _x_axis(frame, row), "step": frame["step"].astype(float)})
    out["loss"] = pd.to_numeric(frame["loss"], errors="coerce") if "loss" in frame else math.nan
    knn = next((key for key in KNN_KEYS if key in frame), None)
    if knn is not None:
        out["knn_top1"] = pd.to_numeric(frame[knn], errors="coerce")
    for key in EXTRA_KEYS:
        if key in frame:
            out[key] = pd.to_numeric(frame[key], errors="coerce")
    return out


def training_curves(rows: pd.DataFrame, results_dir: Path) -> list[Curve]:
    """One curve per finished cell of ``rows`` whose run folder has metrics."""
    if rows.empty:
        return []
    cells = latest_per_cell(rows).drop_duplicates("cell_id", keep="last")
    curves = []
    for _, row in cells.sort_values(["dataset", "backbone", "seed"], kind="stable").iterrows():
        path = metrics_path(results_dir, row)
        if path is None:
            continue
        frame = read_metrics(path)
        if frame.empty:
            continue
        epochs = pd.to_numeric(row.get("epochs"), errors="coerce")
        curves.append(
            Curve(
                dataset=str(row["dataset"]),
                backbone=str(row["backbone"]),
                augmentation=str(row["augmentation"]),
                epochs=float(epochs),
                seed=int(row["seed"]),
                frame=_curve_frame(frame, row),
            )
        )
    return curves
