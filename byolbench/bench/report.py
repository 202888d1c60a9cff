"""``byolbench report``'s library side: read ``runs.csv``, build tables and plots, write files.

Files written to the output folder (``RESULTS_DIR/report/`` by default):

* ``<dataset>.md`` and ``<dataset>.csv`` per dataset (the CSV is numeric, one row per
  backbone setting and protocol, with the nearest published reference in ``ref_*`` columns);
* ``accuracy_<dataset>.png``, and ``loss_<dataset>.png`` / ``knn_<dataset>.png`` /
  ``quality_<dataset>.png`` (RankMe and kNN against steps) when run folders hold
  ``metrics.jsonl`` with those metrics; ``embedding_<dataset>.png`` when they hold
  ``embedding_map.csv`` (``eval.embedding_map``);
* ``transfer.md`` and ``transfer.csv`` when some rows were evaluated on another dataset;
* ``report.md`` (every table, linking the PNGs) and ``report.html`` (self-contained).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from byolbench.atomic import write_bytes, write_text
from byolbench.bench.aggregate import aggregate, check_columns
from byolbench.bench.curves import training_curves
from byolbench.bench.html_report import render_html
from byolbench.bench.maps import embedding_maps
from byolbench.bench.markdown_report import (
    report_markdown,
    standalone_dataset_markdown,
    transfer_markdown,
)
from byolbench.bench.plots import (
    Plot,
    accuracy_plot,
    curve_plot,
    embedding_map_plot,
    quality_plot,
)
from byolbench.bench.references import Reference
from byolbench.bench.report_tables import DatasetTables, report_tables
from byolbench.bench.store import ResultsStore, utc_now
from byolbench.bench.transfer_tables import TransferTable, transfer_data, transfer_tables
from byolbench.errors import DataError

REPORT_DIR = "report"


@dataclass
class Report:
    """Everything a report shows.

    Attributes:
        tables: One entry per dataset.
        plots: Rendered figures.
        source: The ``runs.csv`` the rows came from.
        generated: UTC timestamp.
        transfer: One transfer table per protocol (empty without transfer rows).
    """

    tables: list[DatasetTables]
    plots: list[Plot]
    source: str
    generated: str
    transfer: list[TransferTable] = field(default_factory=list)


def load_rows(results_dir: Path) -> pd.DataFrame:
    """The rows of ``results_dir/runs.csv``.

    Raises:
        DataError: When the file is missing, has no rows or lacks needed columns.
    """
    store = ResultsStore(results_dir)
    path = store.runs_csv
    hint = (
        f"run `byolbench run --results-dir {results_dir}` first, or pass the folder that "
        "holds runs.csv"
    )
    if not path.is_file():
        raise DataError(f"no results: {path} does not exist; {hint}")
    if not path.read_text(encoding="utf-8", errors="replace").strip():
        raise DataError(f"no results: {path} is empty; {hint}")
    rows = store.read(fill_missing=False)
    if rows.empty:
        raise DataError(f"no results: {path} has a header but no rows; {hint}")
    check_columns(rows, str(path))
    return rows


def build_report(
    rows: pd.DataFrame,
    results_dir: Path,
    references: Sequence[Reference] | None = None,
    variants: bool = False,
) -> Report:
    """Tables and plots of ``rows``; training curves and embedding maps come from
    ``results_dir/runs/*/``. ``variants`` shows every kNN k, not only the headline."""
    tables = report_tables(rows, references=references, variants=variants)
    summary = aggregate(rows)
    curves = training_curves(rows, results_dir)
    maps = embedding_maps(rows, results_dir)
    plots: list[Plot] = []
    for entry in tables:
        found = maps.get(entry.dataset, ([], []))
        candidates = (
            accuracy_plot(summary, entry.dataset, f"accuracy_{entry.slug}.png"),
            curve_plot(curves, entry.dataset, "loss", f"loss_{entry.slug}.png"),
            curve_plot(curves, entry.dataset, "knn_top1", f"knn_{entry.slug}.png"),
            quality_plot(curves, entry.dataset, f"quality_{entry.slug}.png"),
            embedding_map_plot(found[0], entry.dataset, found[1], f"embedding_{entry.slug}.png"),
        )
        plots.extend(plot for plot in candidates if plot is not None)
    source = str(ResultsStore(results_dir).runs_csv)
    transfer = transfer_tables(summary, variants)
    return Report(tables, plots, source, utc_now(), transfer)


def write_report(report: Report, out_dir: Path) -> list[Path]:
    """Writes every report file atomically into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    written: list[Path] = []

    def text(name: str, content: str) -> None:
        write_text(out_dir / name, content)
        written.append(out_dir / name)

    for entry in report.tables:
        text(f"{entry.slug}.md", standalone_dataset_markdown(entry))
        text(f"{entry.slug}.csv", entry.data.to_csv(index=False))
    if report.transfer:
        text("transfer.md", transfer_markdown(report.transfer, level=1))
        text("transfer.csv", transfer_data(report.transfer).to_csv(index=False))
    for plot in report.plots:
        write_bytes(out_dir / plot.name, plot.png)
        written.append(out_dir / plot.name)
    text("report.md", report_markdown(report.tables, report.plots, report.transfer))
    text(
        "report.html",
        render_html(report.tables, report.plots, report.source, report.generated, report.transfer),
    )
    return written
