"""The rich console the CLI owns, and routing library logs to it."""

from __future__ import annotations

import logging
import os
import warnings

from rich.console import Console
from rich.logging import RichHandler

console = Console(highlight=False)
error_console = Console(stderr=True, highlight=False)


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
