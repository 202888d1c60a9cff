"""Per-dataset report tables: our numbers over seeds with the nearest published reference.

Each dataset gets a display table (strings, for Markdown, HTML and the terminal), a numeric
table (the CSV), numbered reference footnotes and a line saying how the protocols were run.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from byolbench.bench.aggregate import (
    aggregate,
    comparison_records,
    comparison_table,
    latest_per_cell,
)
from byolbench.bench.references import MatchedReference, Reference, nearest_reference

PROTOCOLS: tuple[str, ...] = (
    "kNN: cosine similarity on L2-normalised frozen online-backbone features, k=200 "
    "neighbours, votes weighted by exp(sim/0.1).",
    "Linear: multinomial logistic regression on frozen standardised features; the L2 "
    "penalty is chosen on a held-out 10% of the training split, the probe is refit on the "
    "whole training split and tested once.",
    "random: the same backbone at random initialisation, evaluated the same way; gain = "
    "BYOL minus random, in points of top-1. pretrained init (runs with model.pretrained=true): "
    "the timm pretrained weights BYOL started from, evaluated the same way.",
    "Cells: top-1 accuracy (%) on the test split, mean ± sample std over the seeds of ONE "
    "configuration (n=k marks a cell with fewer seeds than its row); runs that differ in any "
    "other setting are separate rows, and `differs` names what tells rows with the same label "
    "apart; rows of `byolbench evaluate` are shown apart (source evaluate).",
    "published: the nearest published BYOL result (same dataset; same backbone family, "
    "protocol kind and closest epochs preferred), labelled with its protocol and epochs; "
    "its footnote gives batch size, source and caveats.",
)
PROTOCOL_NOTE = " ".join(PROTOCOLS)
REFERENCE_FIELDS = (
    "top1",
    "top5",
    "protocol",
    "epochs",
    "batch_size",
    "backbone",
    "dataset",
    "source",
)


@dataclass
class DatasetTables:
    """Everything a report shows about one dataset.

    Attributes:
        dataset: Dataset name as in ``runs.csv``.
        display: Formatted table (strings).
        data: Numeric table (one row per setting and protocol) with ``ref_*`` columns.
        footnotes: Reference descriptions; ``[i]`` in ``display`` points at ``footnotes[i-1]``.
        as_run: How the protocols were actually run here (k, temperature, L2 chosen).
    """

    dataset: str
    display: pd.DataFrame
    data: pd.DataFrame
    footnotes: list[str] = field(default_factory=list)
    as_run: str = ""

    @property
    def title(self) -> str:
        """Table title."""
        return f"{self.dataset}: top-1 accuracy (%)"

    @property
    def slug(self) -> str:
        """File-name-safe form of the dataset name (see ``file_slug``)."""
        return file_slug(self.dataset)


def file_slug(name: str) -> str:
    """``name`` made safe for file names; a short hash keeps altered names distinct."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "dataset"
    if slug != name:
        slug += "-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:6]
    return slug


def _details(rows: pd.DataFrame) -> list[dict[str, object]]:
    out = []
    for text in rows.get("protocol_details", pd.Series(dtype=object)).dropna():
        try:
            value = json.loads(str(text))
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def _values(details: list[dict[str, object]], key: str) -> str:
    found = sorted({str(d[key]) for d in details if key in d})
    return ", ".join(found)


def protocols_as_run(rows: pd.DataFrame) -> str:
    """One line of the protocol settings recorded in ``protocol_details`` of ``rows``."""
    parts = []
    knn = _details(rows[rows["protocol"] == "knn"])
    if knn:
        parts.append(
            f"kNN k={_values(knn, 'k') or '?'}, temperature {_values(knn, 'temperature') or '?'}"
        )
    linear = _details(rows[rows["protocol"] == "linear"])
    if linear:
        parts.append(
            f"linear probe held-out fraction {_values(linear, 'val_fraction') or '?'}, "
            f"L2 chosen per run: {_values(linear, 'l2') or '?'}"
        )
    return f"As run here: {'; '.join(parts)}." if parts else ""


def _reference_columns(match: MatchedReference | None) -> dict[str, object]:
    if match is None:
        return {f"ref_{name}": math.nan for name in (*REFERENCE_FIELDS, "caveat")}
    out: dict[str, object] = {
        f"ref_{name}": getattr(match.reference, name) for name in REFERENCE_FIELDS
    }
    out["ref_caveat"] = match.caveat
    return out


def dataset_tables(
    rows: pd.DataFrame,
    summary: pd.DataFrame,
    dataset: str,
    references: Sequence[Reference] | None = None,
) -> DatasetTables:
    """Builds one dataset's tables from raw ``rows`` and their ``aggregate`` ``summary``."""
    footnotes: list[str] = []
    matches: list[MatchedReference | None] = []

    def match(record: pd.Series) -> MatchedReference | None:
        return nearest_reference(
            dataset,
            str(record["backbone"]),
            str(record["protocol"]),
            pd.to_numeric(record["epochs"], errors="coerce"),
            references,
        )

    def cell(record: pd.Series) -> str:
        found = match(record)
        if found is None:
            return "-"
        text = found.description()
        if text not in footnotes:
            footnotes.append(text)
        return f"{found.label()} [{footnotes.index(text) + 1}]"

    display = comparison_table(summary, dataset, cell)
    data = comparison_records(summary, dataset)
    for _, record in data.iterrows():
        matches.append(match(record))
    if not data.empty:
        refs = pd.DataFrame.from_records([_reference_columns(m) for m in matches])
        data = pd.concat([data.reset_index(drop=True), refs], axis=1)
    as_run = protocols_as_run(latest_per_cell(rows[rows["dataset"] == dataset]))
    duplicates = int(display.attrs.get("duplicates", 0)) if not display.empty else 0
    if duplicates:
        as_run += (
            f" {duplicates} duplicate row(s) (same configuration and seed as a newer row) were "
            "left out of the means."
        )
    return DatasetTables(dataset, display, data.round(4), footnotes, as_run.strip())


def report_tables(
    rows: pd.DataFrame,
    datasets: Sequence[str] = (),
    references: Sequence[Reference] | None = None,
) -> list[DatasetTables]:
    """Tables of every dataset in ``rows`` (plus ``datasets``), sorted by name.

    Datasets without rows are left out.
    """
    summary = aggregate(rows)
    in_domain = summary[summary["dataset"] == summary["eval_dataset"]]
    names = sorted({str(d) for d in in_domain["dataset"].dropna().unique()} | set(datasets))
    out = [dataset_tables(rows, summary, name, references) for name in names]
    return [tables for tables in out if not tables.display.empty]
