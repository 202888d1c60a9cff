"""Transfer tables: a backbone pretrained on one dataset, evaluated (frozen, or fine-tuned) on
others, each with its own train/test split and its own random-init row.

One table per protocol (the headline kNN k unless every variant is asked for); rows are
pretraining dataset x backbone setting, columns the evaluation datasets, each with BYOL,
random init and the gain in points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from byolbench.bench.aggregate import (
    METHOD_LABELS,
    PROTOCOL_LABELS,
    SETTING_KEYS,
    format_accuracy,
    headline_variants,
    methods_in,
    protocols_in,
)

ROW_KEYS = ("dataset", *SETTING_KEYS)


@dataclass
class TransferTable:
    """One protocol's transfer table.

    Attributes:
        protocol: Protocol name.
        variant: Protocol variant (``k=200``, ``labels=1%``, or empty).
        display: Formatted table (strings).
        data: Numeric long form: one row per (pretraining setting, evaluation dataset).
    """

    protocol: str
    variant: str
    display: pd.DataFrame
    data: pd.DataFrame

    @property
    def label(self) -> str:
        """``kNN k=200``, ``linear``, ..."""
        name = PROTOCOL_LABELS.get(self.protocol, self.protocol)
        return f"{name} {self.variant}" if self.variant else name

    @property
    def title(self) -> str:
        """Table title."""
        return f"Transfer, {self.label}: top-1 accuracy (%) on each evaluation dataset"


def transfer_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary rows evaluated on a dataset other than their pretraining dataset."""
    if summary.empty:
        return summary
    return summary[summary["dataset"] != summary["eval_dataset"]]


def _records(part: pd.DataFrame, protocol: str, variant: str) -> pd.DataFrame:
    methods = methods_in(part)
    hits = part[(part["protocol"] == protocol) & (part["variant"] == variant)]
    records = []
    for key, rows in hits.groupby([*ROW_KEYS, "eval_dataset"], dropna=False, sort=True):
        record: dict[str, object] = dict(zip((*ROW_KEYS, "eval_dataset"), key, strict=True))
        record.update({"protocol": protocol, "variant": variant})
        for method in methods:
            hit = rows[rows["method"] == method]
            first = hit.iloc[0] if not hit.empty else None
            for stat in ("top1_mean", "top1_std", "top5_mean", "top5_std"):
                record[f"{method}_{stat}"] = math.nan if first is None else first[stat]
            record[f"{method}_n_seeds"] = 0 if first is None else int(first["n_seeds"])
        record["gain_top1"] = float(record["byol_top1_mean"]) - float(  # type: ignore[arg-type]
            record["random_top1_mean"]  # type: ignore[arg-type]
        )
        records.append(record)
    return pd.DataFrame.from_records(records)


def _display(records: pd.DataFrame) -> pd.DataFrame:
    methods = [c[: -len("_top1_mean")] for c in records.columns if c.endswith("_top1_mean")]
    targets = sorted(records["eval_dataset"].astype(str).unique())
    out = []
    for _, rows in records.groupby(list(ROW_KEYS), dropna=False, sort=True):
        first = rows.iloc[0]
        epochs = pd.to_numeric(first["epochs"], errors="coerce")
        row: dict[str, object] = {
            "pretrained on": first["dataset"],
            "backbone": first["backbone"],
            "augmentation": first["augmentation"],
            "epochs": "-" if epochs != epochs else f"{float(epochs):g}",
        }
        if (records["source"] != "run").any():
            row["source"] = first["source"]
        seeds = int(max(rows[f"{m}_n_seeds"].max() for m in methods))
        row["seeds"] = seeds
        for target in targets:
            hit = rows[rows["eval_dataset"].astype(str) == target]
            for method in methods:
                label = METHOD_LABELS.get(method, method)
                if hit.empty:
                    row[f"{target} {label}"] = "-"
                    continue
                record = hit.iloc[0]
                row[f"{target} {label}"] = format_accuracy(
                    record[f"{method}_top1_mean"],
                    record[f"{method}_top1_std"],
                    int(record[f"{method}_n_seeds"]),
                    seeds,
                )
            gain = math.nan if hit.empty else hit.iloc[0]["gain_top1"]
            row[f"{target} gain"] = "-" if gain != gain else f"{gain:+.2f}"
        out.append(row)
    return pd.DataFrame.from_records(out).fillna("-")


def transfer_tables(summary: pd.DataFrame, variants: bool = False) -> list[TransferTable]:
    """Every protocol's transfer table (empty when no row is a transfer row).

    Args:
        summary: ``aggregate`` output.
        variants: Show every kNN k; by default only the headline one (k=200).
    """
    part = transfer_rows(summary)
    if part.empty:
        return []
    pairs = protocols_in(part)
    if not variants:
        kept = headline_variants(part)
        shown = set(zip(kept["protocol"].astype(str), kept["variant"].astype(str), strict=True))
        pairs = [pair for pair in pairs if pair in shown]
    tables = []
    for protocol, variant in pairs:
        records = _records(part, protocol, variant)
        if records.empty:
            continue
        tables.append(TransferTable(protocol, variant, _display(records), records.round(4)))
    return tables


def transfer_data(tables: list[TransferTable]) -> pd.DataFrame:
    """All transfer tables' numeric rows in one frame (the ``transfer.csv`` of a report)."""
    frames = [t.data for t in tables if not t.data.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
