"""Errors a user can act on.

Every error says what was received, what is valid and how to fix it, on one line. The CLI
prints ``ByolbenchError`` messages as one red line instead of a traceback (``ProblemsError``:
one line per problem).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ByolbenchError(Exception):
    """Base class of every error byolbench raises for bad input or bad data.

    ``exit_code`` is the CLI's exit status for it: 2 (bad input, found before any work).
    """

    exit_code = 2


class ConfigError(ByolbenchError):
    """A configuration value, key or combination is invalid."""


class PluginError(ByolbenchError):
    """A plugin failed to load, broke its contract or clashes with another name."""


class DataError(ByolbenchError):
    """A dataset is missing, unreadable or malformed."""


class CheckpointError(ByolbenchError):
    """A checkpoint or exported model cannot be used."""


class TrainingError(ByolbenchError):
    """Training stopped because it can no longer make progress (e.g. a non-finite loss)."""


class TrainingInterrupted(TrainingError):
    """Training stopped on Ctrl-C or SIGTERM after writing a checkpoint."""


class StorageError(ByolbenchError, OSError):
    """A file could not be written (disk full, read-only folder, a file where a folder
    belongs). Work had started, so the CLI exits with status 1, not 2. It is an ``OSError`` too
    (with the original ``errno``), so code that handles file errors still catches it."""

    exit_code = 1

    def __init__(self, message: str, errno: int | None = None) -> None:
        if errno is None:
            super().__init__(message)
        else:
            super().__init__(errno, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ProblemsError(ConfigError):
    """Problems found before any work started, one line each (a single one is just its line).

    Attributes:
        problems: One self-contained line per problem (key or name, value received, what is
            valid, how to fix it).
    """

    def __init__(self, problems: Iterable[str], what: str = "the matrix") -> None:
        self.problems = list(dict.fromkeys(problems))  # in order, each once
        if len(self.problems) == 1:
            super().__init__(self.problems[0])
            return
        header = f"{len(self.problems)} problems in {what}; nothing was started:"
        super().__init__("\n".join([header, *(f"  {line}" for line in self.problems)]))


def close_matches(name: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """Returns up to ``n`` entries of ``choices`` that look like ``name``."""
    choices = list(choices)
    found = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    lowered = name.lower()
    for choice in choices:
        if len(found) >= n:
            break
        if lowered in choice.lower() and choice not in found:
            found.append(choice)
    return found


def unknown_name_message(kind: str, name: str, choices: Iterable[str], hint: str = "") -> str:
    """Builds the one-line message for an unknown registry name.

    Args:
        kind: What was looked up, e.g. ``"backbone"``.
        name: The name received.
        choices: Every valid name (only close matches are shown when there are many).
        hint: How to see or add valid names.
    """
    choices = sorted(set(choices))
    matches = close_matches(name, choices)
    if len(choices) <= 12:
        valid = ", ".join(choices)
        message = f"unknown {kind} {name!r}; valid: {valid}"
    elif matches:
        message = f"unknown {kind} {name!r}; close matches: {', '.join(matches)}"
    else:
        message = f"unknown {kind} {name!r} (no close match among {len(choices)} names)"
    return f"{message}. {hint}".strip() if hint else message
