"""What SLURM's queue says about byolbench's jobs (``squeue``; no accounting database needed)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

SQUEUE_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class QueuedJob:
    """One job (or array task) in the queue.

    Attributes:
        job_id: ``12345`` or ``12345_3`` for an array task (submitit's and SLURM's spelling).
        state: SLURM's state: ``PENDING``, ``RUNNING``, ``COMPLETING``, ``REQUEUED`` ...
        reason: Why it waits (``Priority``, ``Resources``, ``BeginTime`` ...) or ``None``.
    """

    job_id: str
    state: str
    reason: str

    @property
    def active(self) -> bool:
        """Whether it runs (or finishes running) now."""
        return self.state in ("RUNNING", "COMPLETING", "CONFIGURING", "STOPPED", "SUSPENDED")


def parse_squeue(text: str) -> dict[str, QueuedJob]:
    """Parses ``squeue -h -r -o '%i|%T|%r'`` output."""
    jobs = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or not parts[0]:
            continue
        jobs[parts[0]] = QueuedJob(parts[0], parts[1], parts[2])
    return jobs


def queued_jobs(job_names: Iterable[str]) -> dict[str, QueuedJob] | None:
    """Jobs of these names in the queue (array tasks one by one), or ``None`` when the queue
    cannot be read (no ``squeue`` on PATH, or SLURM does not answer)."""
    names = sorted({name for name in job_names if name})
    if not names or shutil.which("squeue") is None:
        return None
    command = ["squeue", "-h", "-r", "-o", "%i|%T|%r", "--name", ",".join(names)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=SQUEUE_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("squeue did not answer (%s); job states are unknown", exc)
        return None
    if done.returncode != 0:
        logger.warning("squeue failed: %s", done.stderr.strip().splitlines()[:1])
        return None
    return parse_squeue(done.stdout)
