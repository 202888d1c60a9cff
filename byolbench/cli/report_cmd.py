"""``byolbench report``: comparison tables from a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from byolbench.cli.console import setup_logging
from byolbench.cli.tables import show_and_write_summary


def report(
    results_dir: Annotated[Path, typer.Argument(help="Folder holding runs.csv.")] = Path(
        "results"),
) -> None:
    """Aggregate runs.csv over seeds and write comparison tables.

    Example:

        byolbench report results/
    """
    setup_logging()
    show_and_write_summary(results_dir, [])
