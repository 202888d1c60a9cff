"""Reading ``<split>/<class>/<image>`` folders into one in-memory uint8 tensor.

Decoded tensors are cached in the data directory under a hash of the files' content, so a
folder is decoded once. Unreadable single files (truncated, not an image, or a header claiming
more pixels than PIL agrees to decode: a decompression bomb) are skipped with one warning that
names them and counts them; structural problems (no images, no classes) are ``DataError``.
16-bit and 32-bit images are scaled to 8 bits, not clipped (which would make them white).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from byolbench.data.base import UNLABELED, ImageSplit
from byolbench.data.fingerprint import folder_fingerprint
from byolbench.data.tensor_cache import load_cached, save_cached
from byolbench.errors import DataError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
CACHE_FORMAT = "v2"
DECODE_CHUNK = 512
WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


@dataclass
class FolderIndex:
    """Image files of one split with their labels (``-1`` when unlabelled)."""

    root: Path
    files: list[Path]
    labels: list[int]
    classes: list[str]


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def scan_labelled(root: Path, classes: Sequence[str] | None = None) -> FolderIndex:
    """Indexes ``root/<class>/<image>``.

    Args:
        root: The split folder.
        classes: Class order to use (the training split's); a class folder not in it is an
            error. ``None`` takes the sorted subfolder names.

    Raises:
        DataError: When the folder is missing, has no class folders, has images but no class
            folders, has a class absent from ``classes``, or holds no images at all.
    """
    if not root.is_dir():
        raise DataError(f"split folder {root} does not exist; expected {root}/<class>/<image>")
    subdirs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = [p for p in root.iterdir() if p.is_file() and _is_image(p)]
    if not subdirs:
        detail = f"{len(loose)} images lie directly in it" if loose else "it is empty"
        raise DataError(
            f"split folder {root} has no class subfolders ({detail}); expected "
            f"{root}/<class>/<image>, one folder per class"
        )
    if classes is None:
        classes = subdirs
    else:
        unknown = [c for c in subdirs if c not in classes]
        if unknown:
            raise DataError(
                f"{root} has class folders {unknown} that the training split does not have "
                f"(training classes: {list(classes)}); rename or remove them"
            )
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        class_dir = root / name
        if not class_dir.is_dir():
            continue
        found = sorted(p for p in class_dir.rglob("*") if p.is_file() and _is_image(p))
        files.extend(found)
        labels.extend([label] * len(found))
    if not files:
        raise DataError(
            f"no images found under {root}/<class>/ (looked for "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    return FolderIndex(root, files, labels, list(classes))


def scan_unlabelled(root: Path) -> FolderIndex:
    """Indexes every image below ``root`` (any depth) as unlabelled.

    Raises:
        DataError: When the folder is missing or holds no images.
    """
    if not root.is_dir():
        raise DataError(f"unlabelled folder {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.is_file() and _is_image(p))
    if not files:
        raise DataError(f"no images found under unlabelled folder {root}")
    return FolderIndex(root, files, [UNLABELED] * len(files), [])


def _read(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def content_hash(index: FolderIndex, size: int, channels: int, cache_dir: Path | None) -> str:
    """Hash of the files' relative paths, labels and contents, and of the storage settings.

    File digests are remembered in ``cache_dir`` (see ``byolbench.data.fingerprint``), so
    only new or changed files are read again.
    """
    settings = f"{CACHE_FORMAT}:{size}:{channels}"
    return folder_fingerprint(index.root, index.files, index.labels, settings, cache_dir)


def decode_image(data: bytes, channels: int) -> torch.Tensor:
    """Decodes image bytes (any format PIL reads) to uint8 ``(channels, H, W)``.

    Raises:
        ValueError: When the bytes are not a complete image.
    """
    if not data:
        raise ValueError("empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode in WIDE_MODES:
                image = _to_8bit(image)
            array = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc
    except Image.DecompressionBombError as exc:  # PIL refuses over 2 x Image.MAX_IMAGE_PIXELS
        raise ValueError(str(exc)) from exc
    tensor = torch.from_numpy(array.copy())
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()


def _to_8bit(image: Image.Image) -> Image.Image:
    """A 16-bit or 32-bit integer (or float) grayscale image as 8-bit ``L``, by its range.

    PIL's own conversion clips every value above 255, so a 16-bit scan turns almost white.
    Integer images whose values exceed 255 are taken as 16-bit (divided by 257); floats in
    [0, 1] are multiplied by 255; anything else is clipped to [0, 255].
    """
    values = np.asarray(image).astype(np.float64)
    top = float(values.max()) if values.size else 0.0
    if image.mode == "F" and top <= 1.0:
        values = values * 255.0
    elif image.mode != "F" and (image.mode.startswith("I;16") or top > 255):
        values = values / 257.0
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")


def _fit_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resizes the shorter side to ``size`` (antialiased) and centre-crops a square."""
    _, h, w = image.shape
    if h == size and w == size:
        return image
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    resized = F.interpolate(
        image.unsqueeze(0).float(),
        size=(new_h, new_w),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )
    top, left = (new_h - size) // 2, (new_w - size) // 2
    crop = resized[0, :, top : top + size, left : left + size]
    return crop.round_().clamp_(0, 255).to(torch.uint8)


def _decode_file(path: Path, size: int, channels: int) -> torch.Tensor | str:
    """``(channels, size, size)`` uint8, or a message naming the file when unreadable."""
    try:
        return _fit_square(decode_image(_read(path), channels), size)
    except (ValueError, OSError) as exc:
        return f"{path} ({exc})"


def _decode_chunk(paths: list[Path], size: int, channels: int) -> list[torch.Tensor | str]:
    return [_decode_file(p, size, channels) for p in paths]


@dataclass
class DecodedChunk:
    """Decoded images of consecutive files, with the messages of those that failed."""

    images: torch.Tensor
    labels: list[int]
    skipped: list[str]


def decode_chunks(index: FolderIndex, size: int, channels: int) -> Iterator[DecodedChunk]:
    """Decodes the files in order, ``DECODE_CHUNK`` at a time, on all cores.

    At most a few chunks per thread are in flight, so memory stays bounded however large the
    folder is.
    """
    files, labels = index.files, index.labels
    chunk = DECODE_CHUNK
    starts = list(range(0, len(files), chunk))
    workers = os.cpu_count() or 1
    empty = torch.empty(0, channels, size, size, dtype=torch.uint8)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for window in range(0, len(starts), 2 * workers):
            futures = [
                (start, pool.submit(_decode_chunk, files[start : start + chunk], size, channels))
                for start in starts[window : window + 2 * workers]
            ]
            for start, future in futures:
                kept: list[torch.Tensor] = []
                kept_labels: list[int] = []
                skipped: list[str] = []
                for offset, result in enumerate(future.result()):
                    if isinstance(result, str):
                        skipped.append(result)
                    else:
                        kept.append(result)
                        kept_labels.append(labels[start + offset])
                yield DecodedChunk(torch.stack(kept) if kept else empty, kept_labels, skipped)


def report_skipped(index: FolderIndex, skipped: list[str], decoded: int) -> None:
    """Warns once about unreadable files.

    Raises:
        DataError: When no file could be decoded.
    """
    if decoded == 0:
        raise DataError(
            f"none of the {len(index.files)} image files under {index.root} could be decoded "
            f"(first: {skipped[0]})"
        )
    if skipped:
        shown = "; ".join(skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
        logger.warning(
            "skipped %d unreadable image file(s) under %s: %s", len(skipped), index.root, shown
        )


def decode_folder(index: FolderIndex, size: int, channels: int = 3) -> ImageSplit:
    """Decodes every file to ``(channels, size, size)`` in memory; unreadable files are skipped.

    Raises:
        DataError: When no file could be decoded.
    """
    arrays: list[torch.Tensor] = []
    labels: list[int] = []
    skipped: list[str] = []
    for chunk in decode_chunks(index, size, channels):
        arrays.append(chunk.images)
        labels.extend(chunk.labels)
        skipped.extend(chunk.skipped)
    report_skipped(index, skipped, len(labels))
    return ImageSplit(torch.cat(arrays), torch.tensor(labels, dtype=torch.int64))


def load_folder_split(
    index: FolderIndex, size: int, channels: int, cache_dir: Path | None
) -> ImageSplit:
    """Decodes a split, reusing the cached tensor of the same content when there is one."""
    if cache_dir is None:
        return decode_folder(index, size, channels)
    key = content_hash(index, size, channels, cache_dir)
    cached = load_cached(cache_dir, key)
    if cached is not None:
        return cached
    split = decode_folder(index, size, channels)
    save_cached(cache_dir, key, split)
    return split
