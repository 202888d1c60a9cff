"""The rich console the CLI owns, and routing library logs to it."""

from __future__ import annotations

import logging
import os
import sys
import warnings

from rich.console import Console
from rich.logging import RichHandler

LOG_WIDTH = 160


def _width(stream: object) -> int | None:
    """Terminal width on a terminal; 160 columns when writing to a log or pipe.

    rich falls back to 80 columns off a terminal, which truncates the results tables in CI and
    SLURM logs. ``COLUMNS`` still wins.
    """
    if os.environ.get("COLUMNS") or getattr(stream, "isatty", lambda: False)():
        return None
    return LOG_WIDTH


console = Console(highlight=False, width=_width(sys.stdout))
error_console = Console(stderr=True, highlight=False, width=_width(sys.stderr))


def is_main_process() -> bool:
    """Whether this is rank 0 (or not launched with several processes)."""
    return os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) in ("0", "")


def setup_logging(verbose: bool = False) -> None:
    """Shows byolbench warnings (and info with ``verbose``) through rich, once per process."""
    level = logging.INFO if verbose else logging.WARNING
    handler = RichHandler(
        console=error_console, show_path=False, show_time=False, rich_tracebacks=False, markup=False
    )
    root = logging.getLogger("byolbench")
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("accelerate", "timm"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    warnings.filterwarnings("ignore", category=FutureWarning)


def print_error(exc: BaseException | str) -> None:
    """Prints an error as one red line (a ``ProblemsError``: a header, then one per problem)."""
    from rich.markup import escape

    first, *rest = str(exc).splitlines() or [type(exc).__name__]
    error_console.print(f"[bold red]error:[/] {escape(first)}", soft_wrap=True)
    for line in rest:
        error_console.print(escape(line), soft_wrap=True)
