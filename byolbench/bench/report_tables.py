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
from byolbench.bench.protocol_notes import PROTOCOL_NOTE, PROTOCOLS, protocol_statement
from byolbench.bench.references import MatchedReference, Reference, nearest_reference

__all__ = [
    "PROTOCOLS",
    "PROTOCOL_NOTE",
    "DatasetTables",
    "dataset_tables",
    "report_tables",
    "tables_statement",
]

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
    """The distinct values of ``key``, numbers in numeric order (``10, 20, 100``)."""

    def order(text: str) -> tuple[float, str]:
        number = pd.to_numeric(text.rstrip("%").split("=")[-1], errors="coerce")
        return (float(number) if number == number else math.inf, text)

    found = sorted({str(d[key]) for d in details if key in d}, key=order)
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
    fewshot = _details(rows[rows["protocol"] == "fewshot"])
    if fewshot:
        parts.append(
            f"few-shot {_values(fewshot, 'variant') or '?'} ({_values(fewshot, 'labels')} "
            f"labels), held-out fraction {_values(fewshot, 'val_fraction') or '?'}, "
            f"L2 chosen per run: {_values(fewshot, 'l2') or '?'}"
        )
    finetune = _details(rows[rows["protocol"] == "finetune"])
    if finetune:
        parts.append(
            f"fine-tune {_values(finetune, 'optimizer') or '?'} for "
            f"{_values(finetune, 'epochs') or '?'} epoch(s) of batch "
            f"{_values(finetune, 'batch_size') or '?'}, lr chosen per run: "
            f"{_values(finetune, 'lr') or '?'}"
        )
    online = _details(rows[rows["protocol"] == "online-linear"])
    if online:
        parts.append(
            f"online linear SGD lr {_values(online, 'lr') or '?'}, weight decay "
            f"{_values(online, 'weight_decay') or '?'}, {_values(online, 'updates') or '?'} "
            "updates"
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
    variants: bool = False,
) -> DatasetTables:
    """Builds one dataset's tables from raw ``rows`` and their ``aggregate`` ``summary``
    (``variants``: every kNN k, not only the headline k=200)."""
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

    display = comparison_table(summary, dataset, cell, variants=variants)
    unmatched = [
        c for c in display.columns if str(c).endswith(" published") and (display[c] == "-").all()
    ]
    display = display.drop(columns=unmatched)
    data = comparison_records(summary, dataset)
    for _, record in data.iterrows():
        matches.append(match(record))
    if not data.empty:
        refs = pd.DataFrame.from_records([_reference_columns(m) for m in matches])
        data = pd.concat([data.reset_index(drop=True), refs], axis=1)
    own = rows[rows["dataset"] == dataset]
    if "eval_dataset" in own.columns:
        target = own["eval_dataset"].astype("string").fillna(dataset)
        own = own[(target == dataset) | (target == "")]
    as_run = protocols_as_run(latest_per_cell(own))
    duplicates = int(display.attrs.get("duplicates", 0)) if not display.empty else 0
    if duplicates:
        as_run += (
            f" {duplicates} duplicate row(s) (same configuration and seed as a newer row) were "
            "left out of the means."
        )
    return DatasetTables(dataset, display, data.round(4), footnotes, as_run.strip())


def tables_statement(
    tables: Sequence[DatasetTables], transfer: Sequence[object] = ()
) -> tuple[str, ...]:
    """The protocol statement of what ``tables`` (and the ``transfer`` tables) show."""
    protocols: set[str] = {str(getattr(t, "protocol", "")) for t in transfer}
    rankme = False
    for entry in tables:
        if entry.data.empty:
            continue
        protocols |= {str(p) for p in entry.data["protocol"]}
        rankme |= any(
            str(c).endswith("_rankme") and entry.data[c].notna().any() for c in entry.data
        )
    return protocol_statement(protocols - {""}, rankme, bool(transfer))


def report_tables(
    rows: pd.DataFrame,
    datasets: Sequence[str] = (),
    references: Sequence[Reference] | None = None,
    variants: bool = False,
) -> list[DatasetTables]:
    """Tables of every dataset in ``rows`` (plus ``datasets``), sorted by name.

    Datasets without rows are left out; ``variants`` shows every kNN k.
    """
    summary = aggregate(rows)
    in_domain = summary[summary["dataset"] == summary["eval_dataset"]]
    names = sorted({str(d) for d in in_domain["dataset"].dropna().unique()} | set(datasets))
    out = [dataset_tables(rows, summary, name, references, variants) for name in names]
    return [tables for tables in out if not tables.display.empty]
