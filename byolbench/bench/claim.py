"""Claiming a cell: one process trains a cell at a time, whatever shares the results folder.

A claim is ``runs/<cell_id>/claim.json`` holding host, pid, start time and the SLURM job (if
any). It is taken atomically with ``os.link`` of a complete temporary file, which is atomic on
local disks and on NFS alike (``flock`` is not reliable there). The holder refreshes the file's
modification time while it works (``Claim.heartbeat``).

A claim is stale, and taken over with a warning, when its process is gone: on the same host
when the pid no longer runs, or runs a process started at another time than the one that wrote
the claim (the pid was reused after a kill); on another host when its heartbeat is older than
``stale_after`` seconds; and always when it was written by the same SLURM job (a requeued job
resumes its own cell on whatever node it lands).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from byolbench.bench.store import utc_now

logger = logging.getLogger(__name__)

CLAIM_FILE = "claim.json"
STALE_AFTER_SECONDS = 1800.0
HEARTBEAT_SECONDS = 30.0


def slurm_job() -> str:
    """This process's SLURM job (``<array job>_<task>`` for array tasks), or ``""``."""
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID", "")
    task = os.environ.get("SLURM_ARRAY_TASK_ID", "")
    if array_job and task:
        return f"{array_job}_{task}"
    return os.environ.get("SLURM_JOB_ID", "")


# Two readings of one process's start time differ by clock-tick rounding only.
START_TIME_TOLERANCE_SECONDS = 1.0


def process_created(pid: int) -> float | None:
    """When process ``pid`` of this host started (Unix time), or ``None`` if it cannot tell."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError, OverflowError):
        return None


def _holder() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process_created": process_created(os.getpid()),
        "started": utc_now(),
        "started_unix": time.time(),
        "slurm_job": slurm_job(),
    }


def process_alive(pid: int, created: float | None = None) -> bool:
    """Whether ``pid`` runs on this host and, when ``created`` is known, is the process that
    started then (not a later one given the same pid)."""
    if pid <= 0:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        started = process.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # exists, owned by someone else
        return True
    except (psutil.Error, ValueError, OverflowError):
        return False
    return created is None or abs(started - created) <= START_TIME_TOLERANCE_SECONDS


@dataclass
class ClaimHolder:
    """Who holds a claim (as read from its file)."""

    host: str
    pid: int
    started: str
    slurm_job: str
    heartbeat_age: float
    process_created: float | None = None

    def describe(self) -> str:
        """``pid P on HOST`` (with the SLURM job when there is one)."""
        job = f", SLURM job {self.slurm_job}" if self.slurm_job else ""
        return f"pid {self.pid} on {self.host}{job}, since {self.started}"


def read_holder(run_dir: Path) -> ClaimHolder | None:
    """The current holder of the cell in ``run_dir``, or ``None`` when unclaimed."""
    path = run_dir / CLAIM_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # A claim is written complete before it is linked into place; an unreadable one is
        # damaged: treat it as held by nobody alive.
        return ClaimHolder("?", -1, "?", "", float("inf"))
    created = record.get("process_created")
    return ClaimHolder(
        str(record.get("host", "?")),
        int(record.get("pid", -1)),
        str(record.get("started", "?")),
        str(record.get("slurm_job", "")),
        age,
        float(created) if isinstance(created, (int, float)) else None,
    )


def is_stale(holder: ClaimHolder, stale_after: float = STALE_AFTER_SECONDS) -> bool:
    """Whether the holder's process is gone (see the module docstring)."""
    job = slurm_job()
    if job and holder.slurm_job == job:
        return True
    if holder.host == socket.gethostname():
        return holder.pid == os.getpid() or not process_alive(holder.pid, holder.process_created)
    return holder.heartbeat_age > stale_after


class Claim:
    """A held claim; release it with ``release`` (or use it as a context manager)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last_beat = time.monotonic()

    def heartbeat(self, force: bool = False) -> None:
        """Refreshes the claim's modification time (at most every ``HEARTBEAT_SECONDS``)."""
        now = time.monotonic()
        if not force and now - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = now
        with contextlib.suppress(OSError):
            os.utime(self.path)

    def release(self) -> None:
        """Removes the claim file if this process still holds it."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if record.get("pid") == os.getpid() and record.get("host") == socket.gethostname():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_claim(run_dir: Path, stale_after: float = STALE_AFTER_SECONDS) -> Claim | ClaimHolder:
    """Claims the cell in ``run_dir``; returns the ``Claim``, or the live holder of it.

    A stale claim (see ``is_stale``) is taken over with a warning.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CLAIM_FILE
    for _attempt in range(5):
        tmp = run_dir / f".{CLAIM_FILE}.{socket.gethostname()}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(_holder(), indent=2) + "\n", encoding="utf-8")
        try:
            os.link(tmp, path)
            return Claim(path)
        except FileExistsError:
            holder = read_holder(run_dir)
            if holder is None:
                continue  # released meanwhile: try again
            if not is_stale(holder, stale_after):
                return holder
            logger.warning(
                "taking over the stale claim of %s (%s): its process is gone",
                run_dir.name,
                holder.describe(),
            )
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    holder = read_holder(run_dir)
    assert holder is not None, f"could not claim {run_dir}"
    return holder
