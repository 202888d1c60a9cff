"""Aggregating result rows over seeds and pivoting them into comparison tables."""

from __future__ import annotations

import math

import pandas as pd

GROUP_KEYS = ("dataset", "backbone", "augmentation", "epochs", "method", "protocol")
PROTOCOL_LABELS = {"knn": "kNN", "linear": "linear"}


def latest_per_cell(rows: pd.DataFrame) -> pd.DataFrame:
    """Keeps, per (cell, config hash, method, protocol), only the newest row."""
    if rows.empty:
        return rows
    keys = ["cell_id", "config_hash", "method", "protocol"]
    return rows.sort_values("timestamp").drop_duplicates(keys, keep="last")


def aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (ddof=1) and number of seeds of top-1 and top-5 per group.

    Returns:
        One row per (dataset, backbone, augmentation, epochs, method, protocol) with columns
        ``top1_mean``, ``top1_std``, ``top5_mean``, ``top5_std``, ``n_seeds``,
        ``pretrain_seconds`` (mean) and ``images_per_second`` (mean).
    """
    columns = [*GROUP_KEYS, "top1_mean", "top1_std", "top5_mean", "top5_std", "n_seeds",
               "pretrain_seconds", "images_per_second"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = latest_per_cell(rows)
    grouped = rows.groupby(list(GROUP_KEYS), dropna=False, sort=True)
    out = grouped.agg(
        top1_mean=("top1", "mean"),
        top1_std=("top1", "std"),
        top5_mean=("top5", "mean"),
        top5_std=("top5", "std"),
        n_seeds=("seed", "nunique"),
        pretrain_seconds=("pretrain_seconds", "mean"),
        images_per_second=("images_per_second", "mean"),
    ).reset_index()
    return out[columns]


def _cell(mean: float, std: float, n: int) -> str:
    if mean != mean:  # NaN
        return "-"
    if n > 1 and std == std:
        return f"{mean:.2f} ± {std:.2f}"
    return f"{mean:.2f}"


def comparison_table(summary: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """One dataset's table: a row per backbone setting, BYOL beside random init per protocol.

    Columns: ``backbone``, ``augmentation``, ``epochs``, ``seeds``, then for each protocol
    ``<P> BYOL``, ``<P> random``, ``<P> gain`` (points), then ``pretrain min``.
    """
    part = summary[summary["dataset"] == dataset]
    records = []
    settings = part[["backbone", "augmentation", "epochs"]].drop_duplicates()
    for _, setting in settings.iterrows():
        mask = (
            (part["backbone"] == setting["backbone"])
            & (part["augmentation"] == setting["augmentation"])
            & (part["epochs"] == setting["epochs"])
        )
        rows = part[mask]
        record: dict[str, object] = {
            "backbone": setting["backbone"],
            "augmentation": setting["augmentation"],
            "epochs": int(setting["epochs"]),
            "seeds": int(rows["n_seeds"].max()),
        }
        for protocol in sorted(rows["protocol"].unique(), key=lambda p: (p != "knn", p)):
            label = PROTOCOL_LABELS.get(protocol, protocol)
            values = {}
            for method in ("byol", "random"):
                hit = rows[(rows["protocol"] == protocol) & (rows["method"] == method)]
                if hit.empty:
                    values[method] = (math.nan, math.nan, 0)
                else:
                    first = hit.iloc[0]
                    values[method] = (first["top1_mean"], first["top1_std"], first["n_seeds"])
            record[f"{label} BYOL"] = _cell(*values["byol"])
            record[f"{label} random"] = _cell(*values["random"])
            gain = values["byol"][0] - values["random"][0]
            record[f"{label} gain"] = "-" if gain != gain else f"{gain:+.2f}"
        byol_rows = rows[rows["method"] == "byol"]
        minutes = byol_rows["pretrain_seconds"].mean() / 60 if not byol_rows.empty else math.nan
        record["pretrain min"] = "-" if minutes != minutes else f"{minutes:.1f}"
        records.append(record)
    return pd.DataFrame.from_records(records)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    if table.empty:
        return "_no results_\n"
    headers = [str(c) for c in table.columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(str(row[c]) for c in table.columns) + " |")
    return "\n".join(lines) + "\n"
