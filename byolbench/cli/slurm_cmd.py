"""``byolbench run --executor slurm``: show what would be submitted, submit, follow the jobs."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from byolbench.bench.matrix import Cell
from byolbench.bench.plan import PlannedCell, write_plan
from byolbench.bench.preflight import preflight
from byolbench.bench.runner import RunOptions
from byolbench.bench.slurm import require_sbatch, require_submitit
from byolbench.bench.slurm.records import slurm_folder
from byolbench.bench.slurm.settings import SlurmSettings
from byolbench.bench.slurm.submit import (
    SubmissionPlan,
    fetch_downloads,
    plan_submission,
    submit_cells,
)
from byolbench.bench.status import CellStatus, FolderStatus, folder_status
from byolbench.bench.store import ResultsStore
from byolbench.cli.console import console
from byolbench.cli.status_cmd import STATE_STYLES, counts_line, status_table
from byolbench.cli.tables import show_and_write_summary

POLL_SECONDS = 3.0
# A job missing from the queue this many polls in a row, its cell neither done nor failed, is
# lost (cancelled, killed, its node gone): it is no longer waited for.
LOST_AFTER_POLLS = 2


def run_on_slurm(
    cells: Sequence[Cell],
    all_cells: Sequence[Cell],
    settings: SlurmSettings,
    options: RunOptions,
    dry_run: bool,
    wait: bool,
) -> int:
    """Submits the unfinished cells (or shows what would be); returns the exit status.

    Args:
        cells: The cells to consider (the matrix, or one shard of it).
        all_cells: The whole matrix (recorded in ``matrix.json`` for ``byolbench status``).
        settings: Resources of each job.
        options: How each job runs its cell.
        dry_run: Only show what would be submitted.
        wait: Follow the jobs until every cell is done or failed.
    """
    preflight(cells, options.results_dir)
    results_dir = Path(options.results_dir)
    plan = plan_submission(cells, results_dir)
    if dry_run:
        show_plan(plan, settings, results_dir)
        return 0
    watched = [cell.cell_id for cell, _ in plan.active]
    if plan.submit:
        require_submitit()
        require_sbatch()
        for name in fetch_downloads(plan.submit):
            console.print(f"[dim]{escape(name)} is in the data folder for the jobs[/]")
        write_plan(results_dir, all_cells, executor="slurm")
        submission = submit_cells(plan.submit, settings, options)
        watched += list(submission.jobs)
        kind = "a job array" if len(submission.jobs) > 1 else "one job"
        console.print(
            f"submitted [bold]{len(submission.jobs)}[/] job(s) as {kind} "
            f"[bold]{escape(submission.array_id)}[/] ({escape(settings.job_name)}); "
            f"{len(plan.finished)} cell(s) already finished, {len(plan.active)} running or "
            "queued"
        )
    else:
        console.print(
            f"nothing to submit: {len(plan.finished)} cell(s) finished, {len(plan.active)} "
            "running or queued"
        )
    if not wait:
        console.print(
            f"follow them with [bold]byolbench status {escape(str(results_dir))}[/] or "
            f"[bold]squeue --name {escape(settings.job_name)}[/]; job logs are in "
            f"{escape(str(slurm_folder(results_dir)))}/ (JOBID_*_log.out, .err); "
            f"`byolbench report {escape(str(results_dir))}` once they are done"
        )
        return 0
    final = follow(results_dir, [PlannedCell.of(cell) for cell in cells], watched)
    ResultsStore(results_dir).rebuild_index()
    show_and_write_summary(results_dir, {cell.dataset for cell in cells})
    bad = [c for c in final.cells if c.cell_id in watched and c.state != "done"]
    for cell in bad:
        console.print(f"[red]  {cell.state} {escape(cell.label)}: {escape(cell.detail)}[/]")
    return 1 if bad else 0


def show_plan(plan: SubmissionPlan, settings: SlurmSettings, results_dir: Path) -> None:
    """Prints the resources, the number of jobs and each cell's fate (submitted or why not)."""
    count = len(plan.submit)
    kind = "as one job array" if count > 1 else "as one job" if count else ""
    console.print(
        f"[bold]would submit {count} SLURM job(s) {kind}[/] (one per unfinished cell; a dry "
        "run submits nothing)"
    )
    resources = Table(box=None, show_header=False)
    resources.add_column(style="bold")
    resources.add_column()
    for key, value in settings.describe().items():
        resources.add_row(escape(key), escape(value))
    resources.add_row("logs", escape(f"{slurm_folder(results_dir)}/"))
    console.print(resources)
    cells = Table(box=None)
    for column in ("#", "cell", "action"):
        cells.add_column(column)
    rows: list[tuple[str, str]] = [(c.cell_id, "[bold]submit[/]") for c in plan.submit]
    rows += [(c.cell_id, "[green]finished: skipped[/]") for c in plan.finished]
    rows += [(c.cell_id, f"[cyan]{s.state}: skipped[/] {escape(s.detail)}") for c, s in plan.active]
    for index, (cell_id, action) in enumerate(rows, start=1):
        cells.add_row(str(index), escape(cell_id), action)
    console.print(cells)


def _finished(cell: CellStatus, queue_known: bool, missing: Counter[str]) -> bool:
    if cell.state in ("done", "failed"):
        return True
    if cell.state == "pending" and queue_known and cell.job and not cell.job_state:
        missing[cell.cell_id] += 1
        return missing[cell.cell_id] >= LOST_AFTER_POLLS
    missing[cell.cell_id] = 0
    return False


def follow(
    results_dir: Path, planned: Sequence[PlannedCell], watched: Sequence[str]
) -> FolderStatus:
    """Shows the cells' states (a live table on a terminal, a line per change in a log) until
    every watched cell is done, failed or lost; returns the last status."""
    watched_ids = set(watched)
    missing: Counter[str] = Counter()
    seen: dict[str, tuple[str, str]] = {}
    start = time.monotonic()

    def poll() -> tuple[FolderStatus, bool]:
        found = folder_status(results_dir, planned=planned)
        over = [c for c in found.cells if c.cell_id in watched_ids]
        complete = all([_finished(c, found.queue_known, missing) for c in over])
        return found, complete

    def view(found: FolderStatus) -> Group:
        elapsed = time.monotonic() - start
        return Group(
            status_table(found),
            f"{counts_line(found)}  [dim]({elapsed:.0f} s; Ctrl-C stops following, the jobs "
            "go on)[/]",
        )

    def log_changes(found: FolderStatus) -> None:
        for cell in found.cells:
            # done and failed are final whatever the queue says; a queued job's state counts
            key = (cell.state, "" if cell.state in ("done", "failed") else cell.job_state)
            if cell.cell_id in watched_ids and seen.get(cell.cell_id) != key:
                seen[cell.cell_id] = key
                style = STATE_STYLES.get(cell.state, "")
                console.print(
                    f"[{style}]{cell.state}[/] {escape(cell.label)}  {escape(cell.job)}  "
                    f"{escape(cell.detail)}"
                )

    found, complete = poll()
    try:
        if console.is_terminal:
            with Live(view(found), console=console, refresh_per_second=2) as live:
                while not complete:
                    time.sleep(POLL_SECONDS)
                    found, complete = poll()
                    live.update(view(found))
        else:
            log_changes(found)
            while not complete:
                time.sleep(POLL_SECONDS)
                found, complete = poll()
                log_changes(found)
            console.print(status_table(found))
            console.print(counts_line(found))
    except KeyboardInterrupt:
        console.print(
            "[yellow]stopped following; the jobs go on:[/] "
            f"byolbench status {escape(str(results_dir))}"
        )
        raise
    return found
