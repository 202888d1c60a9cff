"""Aggregating result rows over seeds and pivoting them into comparison tables.

A table cell is ONE configuration over its seeds: rows are grouped by ``config_group`` (the
hash of the resolved configuration without its seed), where the rows came from (``source``:
``run`` or ``evaluate``), method, protocol and protocol variant. Configurations that differ
in anything but the seed (learning rate, batch size, image size, ``max_steps``, precision,
...) are never averaged together; when two of them share a row label (backbone,
augmentation, epochs), the label says what differs between them. The seeds of a time-budgeted
configuration each plan their own number of steps; they share one row, labelled with the
mean of their epochs.

``aggregate`` keeps the newest row of each re-run cell, drops (and counts) duplicate rows of
the same configuration and seed, then computes per group the mean, the sample standard
deviation (ddof=1; NaN for one seed) and the number of distinct seeds. ``comparison_records``
is the numeric long form (one row per setting and protocol, the CSV of a report);
``comparison_table`` formats the same numbers for people.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable

import pandas as pd

from byolbench.bench.store import RESULT_COLUMNS
from byolbench.config import RunConfig
from byolbench.errors import DataError

GROUP_KEYS = (
    "dataset",
    "eval_dataset",
    "source",
    "config_group",
    "backbone",
    "augmentation",
    "epochs",
    "method",
    "protocol",
    "variant",
)
SETTING_KEYS = ("source", "config_group", "backbone", "augmentation", "epochs")
LABEL_KEYS = ("backbone", "augmentation", "epochs", "source")
PROTOCOL_LABELS = {
    "knn": "kNN",
    "linear": "linear",
    "finetune": "fine-tune",
    "online-linear": "online linear",
    "fewshot": "few-shot",
}
METHOD_LABELS = {"byol": "BYOL", "random": "random"}
# Shown only when present: the timm pretrained weights BYOL started from (model.pretrained).
PRETRAINED_INIT = "pretrained-init"
DISPLAY_LABELS = {**METHOD_LABELS, PRETRAINED_INIT: "pretrained init"}
# What aggregation needs of runs.csv; every other column may be missing (older files).
REQUIRED_COLUMNS = (
    "timestamp",
    "cell_id",
    "config_hash",
    "dataset",
    "backbone",
    "augmentation",
    "seed",
    "method",
    "protocol",
    "top1",
    "top5",
    "epochs",
    "pretrain_seconds",
    "images_per_second",
)
OPTIONAL_COLUMNS = frozenset(c for c in RESULT_COLUMNS if c not in REQUIRED_COLUMNS)
SUMMARY_COLUMNS = (
    *GROUP_KEYS,
    "settings",
    "top1_mean",
    "top1_std",
    "top5_mean",
    "top5_std",
    "n_seeds",
    "n_duplicates",
    "pretrain_seconds",
    "images_per_second",
    "rankme_mean",
    "headline",
)
NUMERIC_COLUMNS = ("top1", "top5", "epochs", "pretrain_seconds", "images_per_second", "rankme")

ReferenceCell = Callable[[pd.Series], str]


def check_columns(rows: pd.DataFrame, source: str) -> None:
    """Raises a one-line ``DataError`` when ``rows`` lacks a column aggregation needs."""
    missing = [c for c in REQUIRED_COLUMNS if c not in rows.columns]
    if missing:
        raise DataError(
            f"{source} lacks columns {missing} (has {list(rows.columns)}); it was not written "
            "by byolbench run: pass the results folder that `byolbench run` wrote"
        )


def _text(series: pd.Series) -> pd.Series:
    return series.astype("string").fillna("").str.strip()


def normalise_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Fills what rows of older files lack: ``eval_dataset`` = ``dataset``, ``source`` =
    ``run``, ``variant`` empty (``k=K`` for a kNN row whose details name its one k, so it sits
    beside newer runs' ``k=K`` rows), and ``config_group`` = ``config_hash`` (so rows whose
    configuration without the seed is unknown are never merged with others)."""
    rows = rows.copy()
    for column in OPTIONAL_COLUMNS:
        if column not in rows.columns:
            rows[column] = pd.NA
    for column in ("dataset", "eval_dataset", "source", "config_group", "config_hash", "variant"):
        rows[column] = _text(rows[column])
    legacy_knn = (rows["protocol"] == "knn") & (rows["variant"] == "")
    rows.loc[legacy_knn, "variant"] = rows.loc[legacy_knn, "protocol_details"].map(_knn_variant)
    rows["eval_dataset"] = rows["eval_dataset"].mask(rows["eval_dataset"] == "", rows["dataset"])
    rows["source"] = rows["source"].mask(rows["source"] == "", "run")
    legacy = rows["config_group"] == ""
    rows.loc[legacy, "config_group"] = "hash:" + rows.loc[legacy, "config_hash"]
    rows["settings"] = _text(rows["settings"])
    return rows


def _details(details: object) -> dict:
    """A row's ``protocol_details`` (JSON text or a dict) as a dict; {} when unreadable."""
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            return {}
    return details if isinstance(details, dict) else {}


def _knn_variant(details: object) -> str:
    """``k=200`` from a kNN row's ``protocol_details``; "" when they name no k."""
    k = _details(details).get("k")
    return f"k={k}" if isinstance(k, int) else ""


def latest_per_cell(rows: pd.DataFrame) -> pd.DataFrame:
    """Keeps, per (cell, config hash, method, protocol, variant, evaluation dataset), only the
    newest row.

    Rows are ordered by timestamp with a stable sort, so among equal timestamps the row
    written later in ``runs.csv`` wins.
    """
    if rows.empty:
        return rows
    keys = [
        k
        for k in ("cell_id", "config_hash", "method", "protocol", "variant", "eval_dataset")
        if k in rows.columns
    ]
    ordered = rows.sort_values("timestamp", kind="stable", na_position="first")
    return ordered.drop_duplicates(keys, keep="last").sort_index()


def methods_in(frame: pd.DataFrame) -> list[str]:
    """``byol`` and ``random`` (always, so tables keep their shape), then any other methods
    present, alphabetically."""
    present = {str(m) for m in frame["method"].dropna().unique()}
    return [*METHOD_LABELS, *sorted(present - set(METHOD_LABELS))]


def protocols_in(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """``(protocol, variant)`` pairs present, ``knn`` first."""
    pairs = {(str(p), str(v)) for p, v in zip(frame["protocol"], frame["variant"], strict=True)}
    order = list(PROTOCOL_LABELS)

    def key(pair: tuple[str, str]) -> tuple[int, str, float, str]:
        protocol, variant = pair
        rank = order.index(protocol) if protocol in order else len(order)
        number = pd.to_numeric(variant.split("=")[-1].rstrip("%"), errors="coerce")
        return (rank, protocol, float(number) if number == number else math.inf, variant)

    return sorted(pairs, key=key)


def budgeted_epochs(rows: pd.DataFrame) -> pd.Series:
    """``epochs`` with one value per configuration: the mean over its seeds, to 2 decimals.

    A configuration fixes its epochs unless a time budget (``train.time_budget``) plans them
    from each run's measured speed; then its seeds ran different numbers of steps, and the
    epochs column must not split them into one table row per seed.
    """
    keys = ["dataset", "source", "config_group"]
    return rows.groupby(keys, dropna=False)["epochs"].transform("mean").round(2)


def aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (ddof=1) and number of distinct seeds of top-1 and top-5 per group.

    Returns:
        One row per ``GROUP_KEYS`` with ``settings`` (the configuration's settings that
        differ from the defaults, JSON), ``top1_mean``, ``top1_std``, ``top5_mean``,
        ``top5_std``, ``n_seeds``, ``n_duplicates`` (rows of an already counted seed that were
        left out), ``pretrain_seconds`` (mean), ``images_per_second`` (mean) and
        ``rankme_mean`` (mean RankMe of the test features) and ``headline`` (the run marked
        this kNN k as its ``eval.knn_k``).
    """
    if rows.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    rows = latest_per_cell(normalise_rows(rows))
    rows["headline"] = rows["protocol_details"].map(_is_headline)
    for column in NUMERIC_COLUMNS:
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
    rows["epochs"] = budgeted_epochs(rows)
    keys = list(GROUP_KEYS)
    ordered = rows.sort_values("timestamp", kind="stable", na_position="first")
    duplicated = ordered.duplicated([*keys, "seed"], keep="last")
    dropped = ordered[duplicated].groupby(keys, dropna=False).size().rename("n_duplicates")
    kept = ordered[~duplicated]
    grouped = kept.groupby(keys, dropna=False, sort=True)
    out = grouped.agg(
        settings=("settings", "last"),
        top1_mean=("top1", "mean"),
        top1_std=("top1", "std"),
        top5_mean=("top5", "mean"),
        top5_std=("top5", "std"),
        n_seeds=("seed", "nunique"),
        pretrain_seconds=("pretrain_seconds", "mean"),
        images_per_second=("images_per_second", "mean"),
        rankme_mean=("rankme", "mean"),
        headline=("headline", "max"),
    )
    out = out.join(dropped, how="left").reset_index()
    out["n_duplicates"] = out["n_duplicates"].fillna(0).astype(int)
    return out[list(SUMMARY_COLUMNS)]


def _settings_of(text: object) -> dict[str, object] | None:
    """The settings of a row, ``None`` when unknown (rows of older versions)."""
    try:
        value = json.loads(str(text)) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def differences(settings: dict[str, str]) -> dict[str, str]:
    """For configurations sharing a row label, what tells each apart.

    Args:
        settings: Config group to its ``settings`` JSON.

    Returns:
        Config group to ``"key=value, ..."`` of the keys whose values differ among them
        (``config <group>`` when the settings are unknown).
    """
    known = {group: _settings_of(text) for group, text in settings.items()}
    defaults = RunConfig().flat()
    keys = sorted({k for values in known.values() if values for k in values})
    full = {
        group: {k: values.get(k, defaults.get(k)) for k in keys}
        for group, values in known.items()
        if values is not None
    }
    varying = [k for k in keys if len({json.dumps(v[k]) for v in full.values()}) > 1]
    out = {}
    for group in settings:
        parts = [f"{k}={full[group][k]}" for k in varying] if group in full else []
        out[group] = ", ".join(parts) or f"config {group.removeprefix('hash:')}"
    return out


def _setting_rows(part: pd.DataFrame) -> Iterable[tuple[dict[str, object], pd.DataFrame]]:
    for key, rows in part.groupby(list(SETTING_KEYS), dropna=False, sort=True):
        yield dict(zip(SETTING_KEYS, key, strict=True)), rows


def _differs_by_group(part: pd.DataFrame) -> dict[str, str]:
    """Config group to its ``differs`` text, for groups that share a row label."""
    out: dict[str, str] = {}
    firsts = part.drop_duplicates("config_group")
    for _, same_label in firsts.groupby(list(LABEL_KEYS), dropna=False):
        if same_label["config_group"].nunique() < 2:
            continue
        out.update(
            differences(dict(zip(same_label["config_group"], same_label["settings"], strict=True)))
        )
    return out


def _setting_rankme(rows: pd.DataFrame, method: str) -> float:
    """Mean RankMe of a setting's method (every protocol row of a backbone carries the same
    value); NaN when not recorded."""
    values = pd.to_numeric(rows.loc[rows["method"] == method, "rankme_mean"], errors="coerce")
    values = values.dropna()
    return float(values.iloc[0]) if not values.empty else math.nan


def _pretrain_seconds(rows: pd.DataFrame) -> float:
    """Mean BYOL pretraining time of a setting, from its group with the most seeds."""
    byol = rows[rows["method"] == "byol"]
    if byol.empty:
        return math.nan
    return float(byol.sort_values("n_seeds", kind="stable").iloc[-1]["pretrain_seconds"])


def dataset_rows(summary: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The summary rows of ``dataset`` evaluated on itself (transfer rows are left out)."""
    return summary[(summary["dataset"] == dataset) & (summary["eval_dataset"] == dataset)]


def comparison_records(summary: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """One dataset in numeric long form: a row per setting and protocol (variant).

    A setting is one configuration (``config_group``) from one ``source``. Columns:
    ``dataset``, ``source``, ``config_group``, ``backbone``, ``augmentation``, ``epochs``,
    ``differs`` (what tells it apart from other settings with the same label, else empty),
    ``protocol``, ``variant``, then per method (always ``byol`` and ``random``, then any
    others present) ``<m>_top1_mean``, ``<m>_top1_std``, ``<m>_top5_mean``, ``<m>_top5_std``,
    ``<m>_n_seeds`` (0 and NaN when missing), then ``gain_top1`` (BYOL minus random, points),
    ``gain_pretrained_top1`` (BYOL minus its pretrained init, only when the dataset has
    ``pretrained-init`` rows), ``n_duplicates`` and ``pretrain_seconds`` (mean over the
    seeds of the setting's BYOL group with the most seeds). Each method also gets
    ``<m>_rankme`` (mean RankMe of its test features; NaN when not recorded).
    """
    part = dataset_rows(summary, dataset)
    if part.empty:
        return pd.DataFrame()
    methods = methods_in(part)
    differs = _differs_by_group(part)
    records = []
    for setting, rows in _setting_rows(part):
        for protocol, variant in protocols_in(rows):
            record: dict[str, object] = {
                "dataset": dataset,
                **setting,
                "differs": differs.get(str(setting["config_group"]), ""),
                "protocol": protocol,
                "variant": variant,
            }
            hits = rows[(rows["protocol"] == protocol) & (rows["variant"] == variant)]
            for method in methods:
                hit = hits[hits["method"] == method]
                first = hit.iloc[0] if not hit.empty else None
                for stat in ("top1_mean", "top1_std", "top5_mean", "top5_std"):
                    record[f"{method}_{stat}"] = math.nan if first is None else first[stat]
                record[f"{method}_n_seeds"] = 0 if first is None else int(first["n_seeds"])
                record[f"{method}_rankme"] = _setting_rankme(rows, method)
            byol = record.get("byol_top1_mean", math.nan)
            random = record.get("random_top1_mean", math.nan)
            record["gain_top1"] = float(byol) - float(random)  # type: ignore[arg-type]
            if PRETRAINED_INIT in methods:
                init = record[f"{PRETRAINED_INIT}_top1_mean"]
                record["gain_pretrained_top1"] = float(byol) - float(init)  # type: ignore[arg-type]
            record["n_duplicates"] = int(hits["n_duplicates"].sum())
            record["headline"] = bool(hits["headline"].fillna(False).astype(bool).any())
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


def protocol_label(protocol: str, variant: str, variants: int) -> str:
    """``kNN``, or ``kNN k=20`` when the table shows several variants of the protocol."""
    label = PROTOCOL_LABELS.get(protocol, protocol)
    return f"{label} {variant}" if variant and variants > 1 else label


def comparison_table(
    summary: pd.DataFrame,
    dataset: str,
    reference_cell: ReferenceCell | None = None,
    variants: bool = False,
) -> pd.DataFrame:
    """One dataset's table: a row per setting, BYOL beside random init per protocol.

    Columns: ``backbone``, ``augmentation``, ``epochs``, ``source`` (only when some rows came
    from ``byolbench evaluate``), ``differs`` (only when two configurations share a label),
    ``seeds``, then for each protocol ``<P> BYOL``, ``<P> random`` (and ``<P> <method>`` for
    other methods, e.g. ``<P> pretrained init``), ``<P> gain`` (points; BYOL minus random),
    ``<P> gain over pretrained init`` (when such rows exist), optionally ``<P> published`` (from
    ``reference_cell``, called with the numeric record of ``comparison_records``), then
    ``RankMe <method>`` (when recorded) and ``pretrain min``.

    Args:
        summary: ``aggregate`` output.
        dataset: Dataset to show.
        reference_cell: Text of the published reference for a record.
        variants: Show every protocol variant (each kNN k); by default only the headline
            variant of each protocol (for kNN, the k used most, preferring 200).
    """
    records = comparison_records(summary, dataset)
    if records.empty:
        return pd.DataFrame()
    if not variants:
        records = headline_variants(records)
    methods = [c[: -len("_top1_mean")] for c in records.columns if c.endswith("_top1_mean")]
    counts = records.groupby("protocol")["variant"].nunique().to_dict()
    show_source = (records["source"] != "run").any()
    show_differs = (records["differs"] != "").any()
    duplicates = int(records["n_duplicates"].sum())
    out = []
    for _, rows in records.groupby(list(SETTING_KEYS), dropna=False, sort=False):
        first = rows.iloc[0]
        seeds = int(max(rows[f"{m}_n_seeds"].max() for m in methods))
        row: dict[str, object] = {
            "backbone": first["backbone"],
            "augmentation": first["augmentation"],
            "epochs": _epochs(first["epochs"]),
        }
        if show_source:
            row["source"] = first["source"]
        if show_differs:
            row["differs"] = first["differs"] or "-"
        row["seeds"] = seeds
        for _, record in rows.iterrows():
            label = protocol_label(
                str(record["protocol"]), str(record["variant"]), counts[record["protocol"]]
            )
            for method in methods:
                row[f"{label} {DISPLAY_LABELS.get(method, method)}"] = format_accuracy(
                    record[f"{method}_top1_mean"],
                    record[f"{method}_top1_std"],
                    int(record[f"{method}_n_seeds"]),
                    seeds,
                )
            gain = record["gain_top1"]
            row[f"{label} gain"] = "-" if gain != gain else f"{gain:+.2f}"
            if "gain_pretrained_top1" in record:
                over = record["gain_pretrained_top1"]
                row[f"{label} gain over pretrained init"] = "-" if over != over else f"{over:+.2f}"
            if reference_cell is not None:
                row[f"{label} published"] = reference_cell(record)
        for method in methods:
            value = first.get(f"{method}_rankme", math.nan)
            if value == value:
                row[f"RankMe {METHOD_LABELS.get(method, method)}"] = f"{value:.1f}"
        minutes = first["pretrain_seconds"] / 60
        row["pretrain min"] = "-" if minutes != minutes else f"{minutes:.1f}"
        out.append(row)
    table = pd.DataFrame.from_records(out).fillna("-")
    table.attrs["duplicates"] = duplicates
    return table


def _is_headline(details: object) -> bool:
    """Whether a row's ``protocol_details`` mark its kNN k as the run's headline
    ``eval.knn_k``."""
    return _details(details).get("headline") is True


def headline_variants(records: pd.DataFrame) -> pd.DataFrame:
    """Keeps one variant per protocol: for kNN the one the runs marked as their headline
    (``eval.knn_k``), else ``k=200`` when present, else the variant with the most records;
    other protocols keep every variant (few-shot fractions are different measurements, shown
    side by side)."""
    knn = records[records["protocol"] == "knn"]
    if knn.empty or knn["variant"].nunique() < 2:
        return records
    counts = knn["variant"].value_counts()
    marked = (
        knn.loc[knn["headline"].fillna(False).astype(bool), "variant"] if "headline" in knn else []
    )
    if len(marked):
        headline = str(marked.value_counts().index[0])
    else:
        headline = "k=200" if "k=200" in counts.index else str(counts.index[0])
    return records[(records["protocol"] != "knn") | (records["variant"] == headline)]


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
