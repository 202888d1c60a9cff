"""Decoded splits cached as safetensors files keyed by a content hash."""

from __future__ import annotations

import logging
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from byolbench.atomic import atomic_path
from byolbench.data.base import ImageSplit

logger = logging.getLogger(__name__)


def cache_file(cache_dir: Path, key: str) -> Path:
    """Where the split with content hash ``key`` is cached."""
    return cache_dir / f"{key}.safetensors"


def load_cached(cache_dir: Path, key: str) -> ImageSplit | None:
    """Returns the cached split, or ``None`` when absent or unreadable (then it is rebuilt)."""
    path = cache_file(cache_dir, key)
    if not path.is_file():
        return None
    try:
        tensors = load_file(path)
        return ImageSplit(tensors["images"], tensors["labels"])
    except (SafetensorError, KeyError, AssertionError, OSError) as exc:
        logger.warning("ignoring unreadable dataset cache %s (%s); rebuilding it", path, exc)
        return None


def save_cached(cache_dir: Path, key: str, split: ImageSplit) -> None:
    """Writes the split atomically; a read-only data directory only costs a warning."""
    path = cache_file(cache_dir, key)
    try:
        with atomic_path(path) as tmp:
            save_file({"images": split.images.contiguous(), "labels": split.labels}, tmp)
    except OSError as exc:
        logger.warning("could not write dataset cache %s (%s)", path, exc)
