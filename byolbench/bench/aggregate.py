"""Aggregating result rows over seeds and pivoting them into comparison tables.

``aggregate`` keeps the newest row of each re-run cell, then computes per group the mean,
the sample standard deviation (ddof=1; NaN for one seed) and the number of seeds.
``comparison_records`` is the numeric long form (one row per setting and protocol, the CSV
of a report); ``comparison_table`` formats the same numbers for people.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import pandas as pd

from byolbench.bench.store import RESULT_COLUMNS
from byolbench.errors import DataError

GROUP_KEYS = ("dataset", "backbone", "augmentation", "epochs", "method", "protocol")
SETTING_KEYS = ("backbone", "augmentation", "epochs")
PROTOCOL_LABELS = {"knn": "kNN", "linear": "linear"}
METHOD_LABELS = {"byol": "BYOL", "random": "random"}
# What aggregation reads of runs.csv: every result column but the provenance and detail ones.
OPTIONAL_COLUMNS = frozenset(
    {
        "protocol_details",
        "steps",
        "batch_size",
        "image_size",
        "mixed_precision",
        "device",
        "num_processes",
        "byolbench_version",
        "git_commit",
        "run_dir",
    }
)
REQUIRED_COLUMNS = tuple(c for c in RESULT_COLUMNS if c not in OPTIONAL_COLUMNS)
SUMMARY_COLUMNS = (
    *GROUP_KEYS,
    "top1_mean",
    "top1_std",
    "top5_mean",
    "top5_std",
    "n_seeds",
    "pretrain_seconds",
    "images_per_second",
)
NUMERIC_COLUMNS = ("top1", "top5", "epochs", "pretrain_seconds", "images_per_second")

ReferenceCell = Callable[[pd.Series], str]


def check_columns(rows: pd.DataFrame, source: str) -> None:
    """Raises a one-line ``DataError`` when ``rows`` lacks a column aggregation needs."""
    missing = [c for c in REQUIRED_COLUMNS if c not in rows.columns]
    if missing:
        raise DataError(
            f"{source} lacks columns {missing} (has {list(rows.columns)}); it was not written "
            "by byolbench run: pass the results folder that `byolbench run` wrote"
        )


def latest_per_cell(rows: pd.DataFrame) -> pd.DataFrame:
    """Keeps, per (cell, config hash, method, protocol), only the newest row.

    Rows are ordered by timestamp with a stable sort, so among equal timestamps the row
    written later in ``runs.csv`` wins.
    """
    if rows.empty:
        return rows
    keys = ["cell_id", "config_hash", "method", "protocol"]
    ordered = rows.sort_values("timestamp", kind="stable", na_position="first")
    return ordered.drop_duplicates(keys, keep="last").sort_index()


def methods_in(frame: pd.DataFrame) -> list[str]:
    """``byol`` and ``random`` (always, so tables keep their shape), then any other methods
    present, alphabetically."""
    present = {str(m) for m in frame["method"].dropna().unique()}
    return [*METHOD_LABELS, *sorted(present - set(METHOD_LABELS))]


def protocols_in(frame: pd.DataFrame) -> list[str]:
    """Protocols present, ``knn`` first."""
    present = {str(p) for p in frame["protocol"].dropna().unique()}
    return sorted(present, key=lambda p: (p != "knn", p))


def aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (ddof=1) and number of seeds of top-1 and top-5 per group.

    Returns:
        One row per (dataset, backbone, augmentation, epochs, method, protocol) with columns
        ``top1_mean``, ``top1_std``, ``top5_mean``, ``top5_std``, ``n_seeds``,
        ``pretrain_seconds`` (mean) and ``images_per_second`` (mean).
    """
    if rows.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    rows = latest_per_cell(rows).copy()
    for column in NUMERIC_COLUMNS:
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
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
    return out[list(SUMMARY_COLUMNS)]


def _settings(part: pd.DataFrame) -> Iterable[tuple[dict[str, object], pd.DataFrame]]:
    for key, rows in part.groupby(list(SETTING_KEYS), dropna=False, sort=True):
        yield dict(zip(SETTING_KEYS, key, strict=True)), rows


def _pretrain_seconds(rows: pd.DataFrame) -> float:
    """Mean BYOL pretraining time of a setting, from its group with the most seeds."""
    byol = rows[rows["method"] == "byol"]
    if byol.empty:
        return math.nan
    return float(byol.sort_values("n_seeds", kind="stable").iloc[-1]["pretrain_seconds"])


def comparison_records(summary: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """One dataset in numeric long form: a row per backbone setting and protocol.

    Columns: ``dataset``, ``backbone``, ``augmentation``, ``epochs``, ``protocol``, then per
    method (always ``byol`` and ``random``, then any others present) ``<m>_top1_mean``,
    ``<m>_top1_std``, ``<m>_top5_mean``, ``<m>_top5_std``, ``<m>_n_seeds`` (0 and NaN when
    missing), then ``gain_top1`` (BYOL minus random, points) and ``pretrain_seconds`` (mean
    over the seeds of the setting's BYOL group with the most seeds).
    """
    part = summary[summary["dataset"] == dataset]
    methods = methods_in(part) if not part.empty else []
    records = []
    for setting, rows in _settings(part):
        for protocol in protocols_in(rows):
            record: dict[str, object] = {"dataset": dataset, **setting, "protocol": protocol}
            for method in methods:
                hit = rows[(rows["protocol"] == protocol) & (rows["method"] == method)]
                first = hit.iloc[0] if not hit.empty else None
                for stat in ("top1_mean", "top1_std", "top5_mean", "top5_std"):
                    record[f"{method}_{stat}"] = math.nan if first is None else first[stat]
                record[f"{method}_n_seeds"] = 0 if first is None else int(first["n_seeds"])
            byol = record.get("byol_top1_mean", math.nan)
            random = record.get("random_top1_mean", math.nan)
            record["gain_top1"] = float(byol) - float(random)  # type: ignore[arg-type]
            record["pretrain_seconds"] = _pretrain_seconds(rows)
            records.append(record)
    return pd.DataFrame.from_records(records)


def format_accuracy(mean: float, std: float, n: int, seeds: int | None = None) -> str:
    """``mean ± std`` with two decimals; ``-`` for no result; ``(n=k)`` when ``n != seeds``."""
    if mean != mean:  # NaN
        return "-"
    text = f"{mean:.2f} ± {std:.2f}" if n > 1 and std == std else f"{mean:.2f}"
    return f"{text} (n={n})" if seeds is not None and n != seeds else text


def _epochs(value: object) -> object:
    number = pd.to_numeric(value, errors="coerce")
    if number != number:
        return "-"
    return int(number) if float(number).is_integer() else float(number)


def comparison_table(
    summary: pd.DataFrame, dataset: str, reference_cell: ReferenceCell | None = None
) -> pd.DataFrame:
    """One dataset's table: a row per backbone setting, BYOL beside random init per protocol.

    Columns: ``backbone``, ``augmentation``, ``epochs``, ``seeds``, then for each protocol
    ``<P> BYOL``, ``<P> random`` (and ``<P> <method>`` for other methods), ``<P> gain``
    (points), optionally ``<P> published`` (from ``reference_cell``, called with the numeric
    record of ``comparison_records``), then ``pretrain min``.
    """
    records = comparison_records(summary, dataset)
    if records.empty:
        return pd.DataFrame()
    methods = [c[: -len("_top1_mean")] for c in records.columns if c.endswith("_top1_mean")]
    out = []
    for _, rows in records.groupby(list(SETTING_KEYS), dropna=False, sort=False):
        first = rows.iloc[0]
        seeds = int(max(rows[f"{m}_n_seeds"].max() for m in methods))
        row: dict[str, object] = {
            "backbone": first["backbone"],
            "augmentation": first["augmentation"],
            "epochs": _epochs(first["epochs"]),
            "seeds": seeds,
        }
        for _, record in rows.iterrows():
            label = PROTOCOL_LABELS.get(record["protocol"], record["protocol"])
            for method in methods:
                row[f"{label} {METHOD_LABELS.get(method, method)}"] = format_accuracy(
                    record[f"{method}_top1_mean"],
                    record[f"{method}_top1_std"],
                    int(record[f"{method}_n_seeds"]),
                    seeds,
                )
            gain = record["gain_top1"]
            row[f"{label} gain"] = "-" if gain != gain else f"{gain:+.2f}"
            if reference_cell is not None:
                row[f"{label} published"] = reference_cell(record)
        minutes = first["pretrain_seconds"] / 60
        row["pretrain min"] = "-" if minutes != minutes else f"{minutes:.1f}"
        out.append(row)
    table = pd.DataFrame.from_records(out)
    return table.fillna("-")


def _markdown_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency); ``|`` in cells is escaped."""
    if table.empty:
        return "_no results_\n"
    headers = [_markdown_cell(c) for c in table.columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(_markdown_cell(row[c]) for c in table.columns) + " |")
    return "\n".join(lines) + "\n"
