"""Where each cell of a results folder stands: done, running, failed or pending.

Read from the files every cell writes into its own folder, so it works for local runs,
shards and SLURM jobs on a shared filesystem alike:

* **done**: ``eval.json`` holds rows of the cell's config;
* **running**: a live process holds ``claim.json`` (its SLURM job, host, newest step and loss
  from ``metrics.jsonl``), or the cell's SLURM job runs and has not claimed it yet;
* **failed**: ``error.json`` holds the error of its newest attempt;
* **pending**: none of these; the detail says when its job waits in the queue, or how far a
  stopped attempt got (its newest checkpoint).

The cells are those of ``matrix.json`` (the matrix last run or submitted) plus every other
cell folder. Where ``squeue`` answers, a claim of a SLURM job is live only while the job runs;
elsewhere a claim is live while its process runs (same host) or its heartbeat is recent.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from byolbench.bench.claim import (
    CLAIM_FILE,
    STALE_AFTER_SECONDS,
    ClaimHolder,
    process_alive,
    read_holder,
)
from byolbench.bench.plan import PlannedCell, read_plan
from byolbench.bench.slurm.queue import QueuedJob, queued_jobs
from byolbench.bench.slurm.records import CellJob, cell_jobs
from byolbench.bench.store import ResultsStore
from byolbench.train.checkpoint_names import checkpoint_step

STATES = ("done", "running", "failed", "pending")
METRICS_FILE = "metrics.jsonl"
# Files that make a folder of runs/ a cell; ``byolbench evaluate`` folders start with this.
CELL_FILES = ("config.json", "eval.json", "error.json", CLAIM_FILE)
EVALUATE_PREFIX = "evaluate__"
_TAIL_BYTES = 16384


@dataclass
class CellStatus:
    """One cell's state and what is known about it.

    Attributes:
        cell_id: The cell's folder name.
        state: ``done``, ``running``, ``failed`` or ``pending``.
        label: ``dataset / backbone / augmentation / seed N`` when known.
        job: The SLURM job running (or last submitted for) the cell.
        job_state: That job's state in the queue (``PENDING``, ``RUNNING`` ...), if queued.
        host: Where a running cell's process is.
        step: Newest logged optimizer step of a running cell.
        loss: Loss at that step.
        checkpoint_step: Step of the newest checkpoint (a resumable, stopped cell).
        rows: Result rows of a finished cell.
        error: First line of a failed cell's error.
        detail: One readable line about the above.
    """

    cell_id: str
    state: str
    label: str = ""
    job: str = ""
    job_state: str = ""
    host: str = ""
    step: int | None = None
    loss: float | None = None
    checkpoint_step: int | None = None
    rows: int = 0
    error: str = ""
    detail: str = ""


@dataclass
class FolderStatus:
    """Every cell of a results folder."""

    results_dir: Path
    cells: list[CellStatus] = field(default_factory=list)
    queue_known: bool = False

    @property
    def counts(self) -> dict[str, int]:
        """Cells per state."""
        return {state: sum(c.state == state for c in self.cells) for state in STATES}

    def to_dict(self) -> dict[str, Any]:
        """The whole status as JSON-ready data."""
        return {
            "results_dir": str(self.results_dir),
            "counts": self.counts,
            "total": len(self.cells),
            "queue_known": self.queue_known,
            "cells": [asdict(cell) for cell in self.cells],
        }


def last_metrics(run_dir: Path) -> dict[str, Any] | None:
    """The newest training record (one with a loss) of ``metrics.jsonl``, or ``None``."""
    path = run_dir / METRICS_FILE
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill, or cut by the tail
        if isinstance(record, dict) and "loss" in record and "step" in record:
            return record
    return None


def newest_checkpoint_step(run_dir: Path) -> int | None:
    """The step of the newest checkpoint folder, or ``None``."""
    folder = run_dir / "checkpoints"
    try:
        steps = [checkpoint_step(p) for p in folder.iterdir() if p.is_dir()]
    except OSError:
        return None
    steps = [s for s in steps if s >= 0]
    return max(steps) if steps else None


def claim_alive(holder: ClaimHolder, queue: dict[str, QueuedJob] | None) -> bool:
    """Whether the process holding a claim still works on the cell (see the module doc)."""
    if holder.slurm_job and queue is not None:
        job = queue.get(holder.slurm_job)
        return job is not None and job.active
    if holder.host == socket.gethostname():
        return process_alive(holder.pid, holder.process_created)
    return holder.heartbeat_age < STALE_AFTER_SECONDS


def _config_hash(cell_id: str, planned: PlannedCell | None) -> str:
    # A cell folder is named <slug>__<config hash> (``Cell.cell_id``).
    return planned.config_hash if planned is not None else cell_id.rsplit("__", 1)[-1]


def cell_status(
    store: ResultsStore,
    cell_id: str,
    planned: PlannedCell | None = None,
    job: CellJob | None = None,
    queue: dict[str, QueuedJob] | None = None,
) -> CellStatus:
    """The state of one cell (see the module docstring)."""
    run_dir = store.run_dir(cell_id)
    config_hash = _config_hash(cell_id, planned)
    status = CellStatus(cell_id, "pending", label=planned.label if planned else "")
    queued = queue.get(job.job_id) if job is not None and queue is not None else None
    if job is not None:
        status.job = job.job_id
        status.job_state = queued.state if queued is not None else ""
    rows = store.cell_rows(cell_id, config_hash)
    if rows is not None:
        status.state, status.rows = "done", len(rows)
        status.detail = f"{len(rows)} rows"
        return status
    holder = read_holder(run_dir)
    if holder is not None and claim_alive(holder, queue):
        status.state = "running"
        status.host = holder.host
        status.job = holder.slurm_job or status.job
        record = last_metrics(run_dir)
        who = f"job {holder.slurm_job}" if holder.slurm_job else f"pid {holder.pid}"
        where = f"{who} on {holder.host}"
        if record is not None:
            status.step, status.loss = int(record["step"]), float(record["loss"])
            status.detail = f"{where}, step {status.step}, loss {status.loss:.4f}"
        else:
            status.detail = f"{where}, starting"
        return status
    if queued is not None and queued.active:
        status.state, status.detail = "running", f"job {queued.job_id} started"
        return status
    status.checkpoint_step = newest_checkpoint_step(run_dir)
    failure = store.failure(cell_id)
    failed = failure is not None and str(failure.get("config_hash", config_hash)) == config_hash
    if failed and queued is None:
        assert failure is not None
        status.state = "failed"
        status.error = str(failure.get("error", "")).splitlines()[0] if failure.get("error") else ""
        status.detail = status.error
        return status
    parts = []
    if queued is not None:
        reason = f" ({queued.reason})" if queued.reason not in ("", "None", "(null)") else ""
        parts.append(f"job {queued.job_id} {queued.state.lower()}{reason}")
    elif job is not None and queue is not None:
        parts.append(f"job {job.job_id} is no longer queued and left no results")
    if status.checkpoint_step is not None:
        parts.append(f"checkpoint at step {status.checkpoint_step}")
    if failed:
        parts.append("failed before")
    status.detail = "; ".join(parts)
    return status


def folder_status(
    results_dir: Path,
    planned: Sequence[PlannedCell] | None = None,
    queue: dict[str, QueuedJob] | None = None,
    read_queue: bool = True,
) -> FolderStatus:
    """Every cell of the planned matrix (``matrix.json`` by default) and every cell folder.

    Args:
        results_dir: The results folder.
        planned: The matrix's cells; ``None`` reads ``matrix.json``.
        queue: SLURM's queue; ``None`` reads it with ``squeue`` when ``read_queue`` is set
            and cells were submitted.
        read_queue: Ask ``squeue`` when no ``queue`` is given.
    """
    store = ResultsStore(results_dir)
    plan = list(read_plan(results_dir) if planned is None else planned)
    jobs = cell_jobs(results_dir)
    if queue is None and read_queue and jobs:
        queue = queued_jobs({job.job_name for job in jobs.values()})
    by_id = {cell.cell_id: cell for cell in plan}
    others = [
        cell_id for cell_id in store.cell_ids() if cell_id not in by_id and _is_cell(store, cell_id)
    ]
    cells = [
        cell_status(store, cell_id, by_id.get(cell_id), jobs.get(cell_id), queue)
        for cell_id in [*by_id, *others]
    ]
    for status in cells:
        if not status.label:
            status.label = _label_from_config(store.run_dir(status.cell_id))
    return FolderStatus(Path(results_dir), cells, queue_known=queue is not None)


def _is_cell(store: ResultsStore, cell_id: str) -> bool:
    """Whether a folder of ``runs/`` is a matrix cell (not ``byolbench evaluate``'s rows)."""
    if cell_id.startswith(EVALUATE_PREFIX):
        return False
    run_dir = store.run_dir(cell_id)
    return any((run_dir / name).is_file() for name in CELL_FILES)


def _label_from_config(run_dir: Path) -> str:
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        return (
            f"{config['data']['dataset']} / {config['model']['backbone']} / "
            f"{config['augment']['preset']} / seed {config['train']['seed']}"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return ""
