"""Which SLURM job runs which cell: one file per submission, written once.

``results/slurm/submissions/<job id>.json`` holds the submission time, job name, settings and
``{cell_id: job_id}``. Each submission writes its own file (never one shared file), so
submissions from several login nodes into one results folder on NFS never collide. A cell
submitted twice belongs to its newest job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from byolbench.bench.store import read_json, utc_now, write_json

SLURM_DIR = "slurm"
SUBMISSIONS_DIR = "submissions"


@dataclass(frozen=True)
class CellJob:
    """The job that runs a cell."""

    job_id: str
    job_name: str
    submitted: str


def slurm_folder(results_dir: Path) -> Path:
    """Where submitit keeps job scripts, pickles and logs (``results/slurm/``)."""
    return Path(results_dir) / SLURM_DIR


def record_submission(
    results_dir: Path, jobs: dict[str, str], job_name: str, settings: dict[str, Any]
) -> Path:
    """Writes one submission's ``{cell_id: job_id}``; returns the file."""
    first = next(iter(jobs.values())).split("_")[0]
    path = slurm_folder(results_dir) / SUBMISSIONS_DIR / f"{first}.json"
    write_json(
        path,
        {"submitted": utc_now(), "job_name": job_name, "settings": settings, "jobs": jobs},
    )
    return path


def cell_jobs(results_dir: Path) -> dict[str, CellJob]:
    """Each submitted cell's newest job."""
    folder = slurm_folder(results_dir) / SUBMISSIONS_DIR
    records = []
    for path in folder.glob("*.json") if folder.is_dir() else ():
        try:
            record = read_json(path)
            order = (str(record["submitted"]), int(path.stem) if path.stem.isdigit() else 0)
            records.append((order, str(record["job_name"]), record["jobs"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    found: dict[str, CellJob] = {}
    for (submitted, _), job_name, jobs in sorted(records, key=lambda r: r[0]):
        for cell_id, job_id in jobs.items():
            found[str(cell_id)] = CellJob(str(job_id), job_name, submitted)
    return found
