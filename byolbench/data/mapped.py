"""Splits larger than memory: decoded once into a memory-mapped uint8 file.

The images go to ``<key>.u8`` in the data directory's cache (raw ``(N, C, H, W)`` bytes)
and the labels and shape to ``<key>.labels.safetensors``, written last so that it marks the
pair complete. Loading maps the file copy-on-write: the operating system pages images in as
batches touch them, and every process of a multi-process run shares the same pages.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from byolbench.atomic import atomic_path
from byolbench.data.base import ImageSplit
from byolbench.data.folder import FolderIndex, content_hash, decode_chunks, report_skipped
from byolbench.errors import DataError

logger = logging.getLogger(__name__)


def images_file(cache_dir: Path, key: str) -> Path:
    """The raw image bytes of the split with content hash ``key``."""
    return cache_dir / f"{key}.u8"


def labels_file(cache_dir: Path, key: str) -> Path:
    """Labels and shape of the split with content hash ``key``; written last."""
    return cache_dir / f"{key}.labels.safetensors"


def load_mapped(cache_dir: Path, key: str) -> ImageSplit | None:
    """Maps a complete cached split, or returns ``None`` when absent or inconsistent."""
    labels_path, data_path = labels_file(cache_dir, key), images_file(cache_dir, key)
    if not labels_path.is_file() or not data_path.is_file():
        return None
    try:
        with safe_open(str(labels_path), framework="pt") as handle:
            labels = handle.get_tensor("labels")
            shape = tuple(int(v) for v in (handle.metadata() or {})["shape"].split(","))
        if data_path.stat().st_size < int(np.prod(shape)):
            raise ValueError(f"{data_path} is shorter than {shape}")
        array = np.memmap(data_path, dtype=np.uint8, mode="c", shape=shape)
        return ImageSplit(torch.from_numpy(array), labels)
    except (SafetensorError, KeyError, ValueError, AssertionError, OSError) as exc:
        logger.warning("ignoring unreadable dataset cache %s (%s); rebuilding it", data_path, exc)
        return None


def _check_free_space(index: FolderIndex, cache_dir: Path, needed: int) -> None:
    """Refuses to start a memory-mapped copy that the data directory's disk cannot hold."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(cache_dir).free
    if needed > free:
        raise DataError(
            f"{index.root} holds {len(index.files):,} images, {needed / 2**30:.1f} GiB decoded: "
            f"too large for memory, and {cache_dir} has only {free / 2**30:.1f} GiB free for "
            "the memory-mapped copy; free disk space, point --data-dir at a larger disk or use "
            "a smaller --image-size"
        )


def decode_to_mapped(
    index: FolderIndex, size: int, channels: int, cache_dir: Path, key: str
) -> ImageSplit:
    """Decodes every file straight into ``<key>.u8``, never holding the split in memory.

    Raises:
        DataError: When the disk lacks room for it, or no file could be decoded.
    """
    data_path = images_file(cache_dir, key)
    shape = (len(index.files), channels, size, size)
    _check_free_space(index, cache_dir, int(np.prod(shape)))
    labels: list[int] = []
    skipped: list[str] = []
    with atomic_path(data_path) as tmp:
        array = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=shape)
        for chunk in decode_chunks(index, size, channels):
            start = len(labels)
            array[start : start + len(chunk.labels)] = chunk.images.numpy()
            labels.extend(chunk.labels)
            skipped.extend(chunk.skipped)
        array.flush()
        del array
        report_skipped(index, skipped, len(labels))
        os.truncate(tmp, len(labels) * channels * size * size)
    kept = (len(labels), channels, size, size)
    with atomic_path(labels_file(cache_dir, key)) as tmp:
        save_file(
            {"labels": torch.tensor(labels, dtype=torch.int64)},
            tmp,
            metadata={"shape": ",".join(str(v) for v in kept)},
        )
    split = load_mapped(cache_dir, key)
    assert split is not None, f"{data_path} was just written"
    return split


def load_mapped_split(index: FolderIndex, size: int, channels: int, cache_dir: Path) -> ImageSplit:
    """The memory-mapped split, decoded on first use and reused while the files are unchanged."""
    key = content_hash(index, size, channels, cache_dir)
    cached = load_mapped(cache_dir, key)
    if cached is not None:
        return cached
    return decode_to_mapped(index, size, channels, cache_dir, key)
