"""Checks of command-line values made before a command does any work (exit status 2)."""

from __future__ import annotations

from pathlib import Path

from byolbench.bench.preflight import results_problems
from byolbench.errors import ConfigError, ProblemsError


def require_at_least(option: str, value: int, minimum: int, meaning: str = "") -> None:
    """Raises ``ConfigError`` when ``value < minimum``.

    Args:
        option: The option as typed, e.g. ``--batch-size``.
        value: The value received.
        minimum: The smallest valid value.
        meaning: What the smallest value means, e.g. ``"0 uses all"``.
    """
    if value < minimum:
        extra = f" ({meaning})" if meaning else ""
        raise ConfigError(f"{option} {value}: expected an integer >= {minimum}{extra}")


def require_results_dir(results_dir: Path) -> None:
    """The results folder must be (or become) a writable folder.

    Raises:
        ProblemsError: Naming the folder and what to do.
    """
    problems = results_problems(results_dir)
    if problems:
        raise ProblemsError(problems, f"--results-dir {results_dir}")


def require_output_file(option: str, out: Path) -> None:
    """``out`` must name a file that can be created: not a folder, its parent not a file.

    Raises:
        ConfigError: Naming the path and what to do.
    """
    if out.is_dir():
        raise ConfigError(
            f"{option} {out} is a folder; name a file inside it, e.g. {option} "
            f"{out / ('embeddings' + (out.suffix or '.npy'))}"
        )
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{option} {out}: {parent} is a file, so no file can be written below it")
