"""Matrix cells as SLURM jobs through submitit: one job per unfinished cell (a job array).

``settings`` holds the resources, ``submit`` sends the array, ``job`` is what runs inside a
job (the same ``run_cell`` as a local run, with checkpoint-and-requeue on SLURM's warning
signal), ``queue`` reads ``squeue`` and ``records`` remembers which job runs which cell.
"""

from __future__ import annotations

import shutil

from byolbench.errors import ConfigError


def require_submitit() -> None:
    """Fails with one line when submitit is not installed.

    Raises:
        ConfigError: When ``import submitit`` fails.
    """
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--executor slurm needs submitit, which is not installed; "
            "pip install 'byolbench[slurm]' (or pip install submitit)"
        ) from None


def require_sbatch() -> None:
    """Fails with one line when SLURM's ``sbatch`` is not on PATH.

    Raises:
        ConfigError: When ``sbatch`` is missing.
    """
    if shutil.which("sbatch") is None:
        raise ConfigError(
            "--executor slurm needs SLURM's sbatch, which is not on PATH; run on a SLURM "
            "login node, or use --executor local (or --shard I/N under another scheduler)"
        )
