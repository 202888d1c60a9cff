"""Submitting cells: one SLURM job per unfinished cell, as one submitit job array.

Cells that are finished, running, or still queued from an earlier submission are not
submitted again; failed and stopped cells are (a stopped one resumes from its checkpoint).
submitit keeps the job scripts, pickles and logs in ``results/slurm/``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from byolbench.bench.matrix import Cell
from byolbench.bench.plan import PlannedCell
from byolbench.bench.runner import RunOptions
from byolbench.bench.slurm import require_sbatch, require_submitit
from byolbench.bench.slurm.records import record_submission, slurm_folder
from byolbench.bench.slurm.settings import SlurmSettings
from byolbench.bench.status import CellStatus, folder_status
from byolbench.data import load_dataset
from byolbench.data.registry import split_name
from byolbench.errors import ConfigError

logger = logging.getLogger(__name__)

# Datasets torchvision downloads. They are fetched once on the submitting node before any job
# starts, so that many jobs never download the same files at once, and compute nodes need no
# network (the data folder must be shared, as results are).
DOWNLOADED_DATASETS = ("cifar10", "cifar100", "stl10", "mnist", "fashion_mnist")


@dataclass
class SubmissionPlan:
    """Which cells a submission sends, and why the others are left out."""

    submit: list[Cell] = field(default_factory=list)
    finished: list[Cell] = field(default_factory=list)
    active: list[tuple[Cell, CellStatus]] = field(default_factory=list)


@dataclass
class Submission:
    """What was submitted: ``{cell_id: job_id}`` and where its records went."""

    jobs: dict[str, str]
    folder: Path
    record: Path

    @property
    def array_id(self) -> str:
        """The array's job id (the job id of a single job)."""
        return next(iter(self.jobs.values())).split("_")[0]


def plan_submission(cells: Sequence[Cell], results_dir: Path) -> SubmissionPlan:
    """Sorts the cells into those to submit, finished ones and ones running or queued."""
    status = folder_status(results_dir, planned=[PlannedCell.of(cell) for cell in cells])
    by_id = {s.cell_id: s for s in status.cells}
    plan = SubmissionPlan()
    for cell in cells:
        state = by_id[cell.cell_id]
        if state.state == "done":
            plan.finished.append(cell)
        elif state.state == "running" or (state.state == "pending" and state.job_state):
            plan.active.append((cell, state))
        else:
            plan.submit.append(cell)
    return plan


def fetch_downloads(cells: Sequence[Cell]) -> list[str]:
    """Downloads (and caches) each torchvision dataset the cells use, once, here; returns
    their names.

    Raises:
        DataError: When one is missing and cannot be downloaded.
    """
    fetched: list[str] = []
    seen: set[tuple[str, str, int]] = set()
    for cell in cells:
        data = cell.config.data
        key = (data.dataset, data.data_dir, data.image_size)
        if split_name(data.dataset)[0] not in DOWNLOADED_DATASETS or key in seen:
            continue
        seen.add(key)
        logger.info("fetching %s here before the jobs start", data.dataset)
        load_dataset(data.dataset, data.data_dir or None, data.download, data.image_size)
        fetched.append(data.dataset)
    return fetched


def job_options(options: RunOptions) -> RunOptions:
    """The options a job runs its cell with: an absolute results folder (jobs may start in
    another directory), never waiting for another process's claim."""
    return dataclasses.replace(
        options, results_dir=Path(options.results_dir).resolve(), wait_for_running=False
    )


def submit_cells(cells: Sequence[Cell], settings: SlurmSettings, options: RunOptions) -> Submission:
    """Submits one job per cell (an array for several) and records which job runs which cell.

    Raises:
        ConfigError: When submitit or sbatch is missing, or sbatch refuses the jobs.
    """
    require_submitit()
    require_sbatch()
    import submitit
    from submitit.core.utils import FailedJobError

    from byolbench.bench.slurm.job import CellJob

    assert cells, "nothing to submit"
    options = job_options(options)
    folder = slurm_folder(options.results_dir)
    executor = submitit.SlurmExecutor(
        folder=folder, max_num_timeout=settings.max_timeouts, python=settings.python or None
    )
    try:
        executor.update_parameters(**settings.submitit_parameters())
    except ValueError as exc:
        raise ConfigError(f"submitit rejects the SLURM settings: {_first_line(exc)}") from None
    try:
        jobs = executor.submit_array([CellJob(cell, options) for cell in cells])
    except FailedJobError as exc:
        raise ConfigError(
            f"sbatch refused the jobs: {_first_line(exc)}; check the [executor] settings "
            "(partition, account, qos, time, sbatch options)"
        ) from None
    mapping = {cell.cell_id: str(job.job_id) for cell, job in zip(cells, jobs, strict=True)}
    record = record_submission(
        options.results_dir, mapping, settings.job_name, settings.submitit_parameters()
    )
    logger.info("submitted %d job(s): %s", len(mapping), ", ".join(mapping.values()))
    return Submission(mapping, folder, record)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
