"""Module-level jobs for ``bench_lib.isolated.run_isolated`` (a spawned child imports them)."""

import os
import time
from pathlib import Path
from typing import Any


def add(job: dict[str, Any]) -> int:
    """Returns the sum of the job's numbers."""
    return job["a"] + job["b"]


def fail(job: dict[str, Any]) -> None:
    """Dies without a result."""
    raise RuntimeError(f"job {job} failed on purpose")


def sleep_forever(job: dict[str, Any]) -> None:
    """Writes its pid, then outlives any test unless stopped."""
    Path(job["pid_file"]).write_text(str(os.getpid()))
    time.sleep(300)
