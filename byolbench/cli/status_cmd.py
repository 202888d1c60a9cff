"""``byolbench status``: one line per cell of a results folder (done, running, failed, pending)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from byolbench.cli.console import console, setup_logging
from byolbench.config import parse_overrides
from byolbench.errors import ConfigError

if TYPE_CHECKING:
    from byolbench.bench.status import FolderStatus

STATE_STYLES = {"done": "green", "running": "cyan", "failed": "red", "pending": "yellow"}


def counts_line(status: FolderStatus) -> str:
    """``5 cells: 2 done, 1 running, 1 failed, 1 pending`` (with colours)."""
    from byolbench.bench.status import STATES

    counts = status.counts
    parts = [f"[{STATE_STYLES[s]}]{counts[s]} {s}[/]" for s in STATES]
    return f"[bold]{len(status.cells)} cell(s)[/]: " + ", ".join(parts)


def status_table(status: FolderStatus, title: str = "") -> Table:
    """One row per cell: state, cell, job, detail."""
    table = Table(title=escape(title) if title else None, title_justify="left", box=None)
    for column in ("state", "cell", "job", "detail"):
        table.add_column(column, no_wrap=column != "detail", overflow="fold")
    for cell in status.cells:
        style = STATE_STYLES.get(cell.state, "")
        table.add_row(
            f"[{style}]{cell.state}[/]",
            escape(cell.label or cell.cell_id),
            escape(cell.job),
            escape(cell.detail),
        )
    return table


def status(
    results_dir: Annotated[Path, typer.Argument(help="The --results-dir of byolbench run.")] = Path(
        "results"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the status as JSON (for scripts).")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="The run's TOML matrix file: its cells not started yet show as pending "
            "(default: the matrix recorded in RESULTS_DIR/matrix.json).",
        ),
    ] = None,
    backbones: Annotated[str | None, typer.Option(help="The run's --backbones.")] = None,
    datasets: Annotated[str | None, typer.Option(help="The run's --datasets.")] = None,
    augmentations: Annotated[str | None, typer.Option(help="The run's --augmentations.")] = None,
    seeds: Annotated[str | None, typer.Option(help="The run's --seeds.")] = None,
    preset: Annotated[str | None, typer.Option(help="The run's --preset.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="The run's --set overrides (repeatable).")
    ] = None,
) -> None:
    """Show where each cell stands: done, running (job, step, loss), failed (error), pending.

    Reads the run folders, so it works for local runs, --shard processes and SLURM jobs
    sharing one results folder; it also rebuilds runs.csv and failures.csv from them. The
    cells are those of the matrix last run or submitted into RESULTS_DIR (matrix.json), or of
    the matrix given with the same options as `byolbench run`, plus every other cell folder.

    Examples:

        byolbench status results/

        byolbench status results/ --json | jq .counts

        byolbench status results/ --config benchmarks/cifar10.toml
    """
    setup_logging()
    if not Path(results_dir).is_dir():
        raise ConfigError(
            f"results folder {results_dir} does not exist; pass the --results-dir that "
            "`byolbench run` wrote to"
        )
    from byolbench.bench.matrix import expand
    from byolbench.bench.plan import PlannedCell
    from byolbench.bench.status import folder_status
    from byolbench.bench.store import ResultsStore, is_writable_dir

    planned = None
    if config is not None or backbones or datasets:
        from byolbench.cli.run_cmd import _spec

        spec = _spec(config, backbones, datasets, augmentations, seeds, preset)
        spec.sets = parse_overrides(set_ or [])
        planned = [PlannedCell.of(cell) for cell in expand(spec)]
    store = ResultsStore(results_dir)
    if is_writable_dir(store.root):
        store.rebuild_index()
    found = folder_status(results_dir, planned=planned)
    if as_json:
        typer.echo(json.dumps(found.to_dict(), indent=2))
        return
    if not found.cells:
        console.print(f"no cells in {escape(str(results_dir))} yet")
        return
    console.print(status_table(found))
    console.print(counts_line(found))
