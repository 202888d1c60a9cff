"""Markdown renderings of report tables: one dataset, or the whole report with plot links."""

from __future__ import annotations

from collections.abc import Sequence

from byolbench.bench.aggregate import to_markdown
from byolbench.bench.plots import Plot
from byolbench.bench.report_tables import DatasetTables, tables_statement
from byolbench.bench.transfer_tables import TransferTable


def protocols_markdown(
    tables: Sequence[DatasetTables] = (), transfer: Sequence[TransferTable] = ()
) -> str:
    """The protocol statement of what ``tables`` show, as a Markdown list."""
    return "".join(f"- {text}\n" for text in tables_statement(tables, transfer))


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
    statement = protocols_markdown([tables])
    return f"{dataset_markdown(tables, level=1)}\nEvaluation protocols:\n\n{statement}"


TRANSFER_NOTE = (
    "Rows: pretraining dataset x backbone setting; columns: the evaluation datasets, each "
    "with its own train/test split, BYOL beside the same backbone at random init."
)


def transfer_markdown(tables: Sequence[TransferTable], level: int = 2) -> str:
    """The transfer tables, one per protocol, under one heading."""
    if not tables:
        return ""
    parts = [f"{'#' * level} Transfer\n", f"{TRANSFER_NOTE}\n"]
    for table in tables:
        parts.append(f"{'#' * (level + 1)} {table.title}\n")
        parts.append(to_markdown(table.display))
    return "\n".join(parts)


def report_markdown(
    tables: Sequence[DatasetTables],
    plots: Sequence[Plot] = (),
    transfer: Sequence[TransferTable] = (),
) -> str:
    """Every dataset's table, the transfer tables, the protocol statement and links to the
    plot files."""
    statement = protocols_markdown(tables, transfer)
    parts = ["# byolbench results\n", f"Evaluation protocols:\n\n{statement}"]
    for entry in tables:
        parts.append(dataset_markdown(entry))
        for plot in plots:
            if plot.dataset == entry.dataset:
                parts.append(f"![{plot.title}]({plot.name})\n")
    if transfer:
        parts.append(transfer_markdown(transfer))
    return "\n".join(parts)
