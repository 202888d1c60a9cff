"""Folder-safe names for run and evaluation folders, short enough for any filesystem.

File names may take 255 bytes, and temporary files and trackers add their own prefixes and
suffixes, so a name is kept to ``NAME_MAX`` characters: when the parts are too long (a long
``imagefolder:`` path), the longest ones lose their middle. The hash at the end keeps the
shortened name unique.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

NAME_MAX = 160
MIN_PART = 24


def slug(name: str) -> str:
    """``name`` with every run of characters outside ``A-Za-z0-9._-`` turned into ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")


def shorten(part: str, budget: int) -> str:
    """``part`` cut to ``budget`` characters by dropping its middle (the start names the kind,
    e.g. ``imagefolder``, the end the folder)."""
    if len(part) <= budget:
        return part
    head = budget // 3
    tail = budget - head - 1
    return f"{part[:head]}~{part[len(part) - tail :]}"


def folder_name(parts: Sequence[str], suffix: Sequence[str], limit: int = NAME_MAX) -> str:
    """``parts`` (slugged, shortened when needed) and ``suffix`` (kept whole) joined by ``__``."""
    names = [slug(p) for p in parts]

    def joined() -> str:
        return "__".join([*names, *suffix])

    while len(joined()) > limit and any(len(n) > MIN_PART for n in names):
        longest = max(range(len(names)), key=lambda i: len(names[i]))
        excess = len(joined()) - limit
        names[longest] = shorten(names[longest], max(len(names[longest]) - excess, MIN_PART))
    return joined()
