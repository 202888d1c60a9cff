"""Rich comparison tables of the results store, and the summary ``byolbench run`` ends with."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
from rich.markup import escape
from rich.table import Table

from byolbench.atomic import write_text
from byolbench.bench.aggregate import aggregate
from byolbench.bench.markdown_report import TRANSFER_NOTE, report_markdown
from byolbench.bench.report_tables import (
    PROTOCOL_NOTE,
    DatasetTables,
    report_tables,
    tables_statement,
)
from byolbench.bench.store import ResultsStore
from byolbench.bench.transfer_tables import TransferTable, transfer_tables
from byolbench.cli.console import console

__all__ = ["PROTOCOL_NOTE", "print_tables", "rich_table", "show_and_write_summary"]

LEFT_COLUMNS = ("backbone", "augmentation", "pretrained on")


def _styled(column: str, text: str) -> str:
    safe = escape(text)
    if column.endswith("gain") and text.startswith("+"):
        return f"[green]{safe}[/]"
    if column.endswith("gain") and text.startswith("-") and text != "-":
        return f"[red]{safe}[/]"
    return safe


def _compact(column: str, text: str) -> str:
    """In the terminal a published cell keeps its number and footnote marker only
    (``86.9 (knn k=200 t=0.1, 200 ep) [1]`` -> ``86.9 [1]``); the footnote has the rest."""
    if not column.endswith("published"):
        return text
    match = re.match(r"^(\S+)\s*\(.*\)\s*(\[\d+\])$", text)
    return f"{match.group(1)} {match.group(2)}" if match else text


def rich_table(table: pd.DataFrame, title: str) -> Table:
    """The same table for the terminal (cell text is escaped, gains coloured, published
    references shortened to their footnote markers)."""
    out = Table(title=escape(title), title_justify="left")
    for column in table.columns:
        left = column in LEFT_COLUMNS or str(column).endswith("published")
        out.add_column(escape(str(column)), justify="left" if left else "right")
    for _, row in table.iterrows():
        out.add_row(*(_styled(str(c), _compact(str(c), str(row[c]))) for c in table.columns))
    return out


def print_tables(tables: Sequence[DatasetTables], transfer: Sequence[TransferTable] = ()) -> None:
    """Prints each dataset's table with its references, the transfer tables, then the
    protocol statement."""
    for entry in tables:
        console.print(rich_table(entry.display, entry.title))
        if entry.as_run:
            console.print(f"[dim]{escape(entry.as_run)}[/]")
        for index, text in enumerate(entry.footnotes, start=1):
            console.print(f"[dim]{escape(f'[{index}] {text}')}[/]")
    for table in transfer:
        console.print(rich_table(table.display, table.title))
    if transfer:
        console.print(f"[dim]{escape(TRANSFER_NOTE)}[/]")
    console.print(f"[dim]{escape(' '.join(tables_statement(tables, transfer)))}[/]")


def show_and_write_summary(results_dir: Path, datasets: Iterable[str]) -> Path | None:
    """Prints each dataset's table and writes them all to ``results_dir/summary.md``."""
    store = ResultsStore(results_dir)
    rows = store.read()
    if rows.empty:
        console.print("[yellow]no results yet[/]")
        return None
    tables = report_tables(rows, sorted(set(datasets)))
    transfer = transfer_tables(aggregate(rows))
    print_tables(tables, transfer)
    path = Path(results_dir) / "summary.md"
    write_text(path, report_markdown(tables, transfer=transfer))
    console.print(
        f"wrote {escape(str(path))} and {escape(str(store.runs_csv))}; "
        f"`byolbench report {escape(str(results_dir))}` adds CSV, plots and an HTML page"
    )
    return path
