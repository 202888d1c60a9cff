"""Rich and Markdown comparison tables of the results store."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from rich.table import Table

from byolbench.atomic import write_text
from byolbench.bench.aggregate import aggregate, comparison_table, to_markdown
from byolbench.bench.store import ResultsStore
from byolbench.cli.console import console

PROTOCOL_NOTE = (
    "kNN: cosine similarity on L2-normalised frozen online-backbone features, k=200, votes "
    "weighted by exp(sim/0.1). Linear: multinomial logistic regression on frozen standardised "
    "features, L2 chosen on a held-out 10% of the training split, refit, tested once. "
    "random = the same backbone at random initialisation; gain = BYOL - random (points). "
    "Mean ± std over seeds."
)


def rich_table(table: pd.DataFrame, title: str) -> Table:
    """The same table for the terminal."""
    out = Table(title=title, title_justify="left")
    for column in table.columns:
        justify = "left" if column in ("backbone", "augmentation") else "right"
        out.add_column(str(column), justify=justify)
    for _, row in table.iterrows():
        cells = []
        for column in table.columns:
            text = str(row[column])
            if column.endswith("gain") and text.startswith("+"):
                text = f"[green]{text}[/]"
            elif column.endswith("gain") and text.startswith("-") and text != "-":
                text = f"[red]{text}[/]"
            cells.append(text)
        out.add_row(*cells)
    return out


def show_and_write_summary(results_dir: Path, datasets: Iterable[str]) -> Path | None:
    """Prints each dataset's table and writes them all to ``results_dir/summary.md``."""
    rows = ResultsStore(results_dir).read()
    if rows.empty:
        console.print("[yellow]no results yet[/]")
        return None
    summary = aggregate(rows)
    parts = ["# byolbench results\n", f"{PROTOCOL_NOTE}\n"]
    for dataset in sorted(set(datasets) | set(summary["dataset"].unique())):
        table = comparison_table(summary, dataset)
        if table.empty:
            continue
        title = f"{dataset}: top-1 accuracy (%)"
        console.print(rich_table(table, title))
        parts.append(f"## {title}\n\n{to_markdown(table)}")
    console.print(f"[dim]{PROTOCOL_NOTE}[/]")
    path = results_dir / "summary.md"
    write_text(path, "\n".join(parts))
    console.print(f"wrote {path} and {ResultsStore(results_dir).runs_csv}")
    return path
