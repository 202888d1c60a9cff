"""Errors a user can act on.

Every error says what was received, what is valid and how to fix it, on one line. The CLI
prints ``ByolbenchError`` messages as one red line instead of a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ByolbenchError(Exception):
    """Base class of every error byolbench raises for bad input or bad data."""


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
