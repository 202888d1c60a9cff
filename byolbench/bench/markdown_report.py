"""Markdown renderings of report tables: one dataset, or the whole report with plot links."""

from __future__ import annotations

from collections.abc import Sequence

from byolbench.bench.aggregate import to_markdown
from byolbench.bench.plots import Plot
from byolbench.bench.report_tables import PROTOCOLS, DatasetTables


def protocols_markdown() -> str:
    """The protocol statement as a Markdown list."""
    return "".join(f"- {text}\n" for text in PROTOCOLS)


def dataset_markdown(tables: DatasetTables, level: int = 2) -> str:
    """A heading, the table, how protocols were run and the numbered references."""
    parts = [f"{'#' * level} {tables.title}\n", to_markdown(tables.display)]
    if tables.as_run:
        parts.append(f"{tables.as_run}\n")
    if tables.footnotes:
        notes = "".join(f"{i}. {text}\n" for i, text in enumerate(tables.footnotes, start=1))
        parts.append(f"Published references:\n\n{notes}")
    return "\n".join(parts)


def standalone_dataset_markdown(tables: DatasetTables) -> str:
    """One dataset's file: the table with the protocol statement it was measured under."""
    return f"{dataset_markdown(tables, level=1)}\nEvaluation protocols:\n\n{protocols_markdown()}"


def report_markdown(tables: Sequence[DatasetTables], plots: Sequence[Plot] = ()) -> str:
    """Every dataset's table, the protocol statement and links to the plot files."""
    parts = ["# byolbench results\n", f"Evaluation protocols:\n\n{protocols_markdown()}"]
    for entry in tables:
        parts.append(dataset_markdown(entry))
        for plot in plots:
            if plot.dataset == entry.dataset:
                parts.append(f"![{plot.title}]({plot.name})\n")
    return "\n".join(parts)
