"""``byolbench report``: tables, CSV, plots and an HTML page from a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from byolbench.cli.console import console, setup_logging


def report(
    results_dir: Annotated[Path, typer.Argument(help="Folder holding runs.csv.")] = Path("results"),
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Where to write the report (default: RESULTS_DIR/report)."
        ),
    ] = None,
    variants: Annotated[
        bool,
        typer.Option(
            "--variants",
            help="Show every protocol variant (kNN k=10, 20, 100 beside the headline k=200).",
        ),
    ] = False,
) -> None:
    """Aggregate runs.csv over seeds into tables, CSV, plots and one HTML page.

    Per dataset: a Markdown table and a CSV (BYOL beside random init per protocol, gain in
    points, mean ± std over seeds, the nearest published reference with its protocol and
    epochs), accuracy plots with error bars and, when logged, loss and kNN accuracy over
    training, RankMe and kNN against steps, and 2-D embedding maps when the runs saved them;
    a transfer table per protocol when backbones were evaluated on other datasets; all of it
    in report.md and a self-contained report.html. The terminal shows the same tables, and
    the cells that failed and have not succeeded since (failures.md).

    Examples:

        byolbench report

        byolbench report results/ --out site/byol-report

        byolbench report --variants
    """
    from byolbench.bench.failures_report import current_failures, write_failures
    from byolbench.bench.report import REPORT_DIR, build_report, load_rows, write_report
    from byolbench.bench.store import ResultsStore, is_writable_dir
    from byolbench.cli.tables import print_tables

    setup_logging()
    store = ResultsStore(results_dir)
    if store.root.is_dir() and is_writable_dir(store.root):
        store.rebuild_index()  # runs.csv from every cell's rows file (jobs, shards)
    rows = load_rows(results_dir)
    result = build_report(rows, results_dir, variants=variants)
    print_tables(result.tables, result.transfer)
    out_dir = out if out is not None else Path(results_dir) / REPORT_DIR
    written = write_report(result, out_dir)
    failures = current_failures(results_dir)
    failures_file = write_failures(failures, out_dir)
    if failures_file is not None:
        written.append(failures_file)
    plots = sum(path.suffix == ".png" for path in written)
    console.print(
        f"wrote {len(written)} files ({len(result.tables)} dataset table(s), {plots} plot(s)) "
        f"to {escape(str(out_dir))}; open {escape(str(out_dir / 'report.html'))}"
    )
    if failures:
        console.print(
            f"[red]{len(failures)} cell(s) failed and have not succeeded since "
            f"({escape(str(failures_file))}):[/]"
        )
        for failure in failures:
            console.print(
                f"[red]  {escape(str(failure['cell_id']))}: {escape(str(failure['error']))}[/]",
                soft_wrap=True,
            )
