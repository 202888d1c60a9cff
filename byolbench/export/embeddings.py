"""Embeddings of a folder of images with a pretrained backbone, written to .npy or .parquet.

Each image is decoded, resized (shorter side) and centre-cropped to the model's image size the
way image-folder datasets are stored, then passed through the evaluation transform.
Unreadable files are skipped with one warning naming them.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from byolbench.atomic import atomic_path, write_text
from byolbench.augment.transforms import EvalTransform
from byolbench.data.folder import _decode_file, scan_unlabelled  # shared decoding rules
from byolbench.errors import ConfigError, DataError
from byolbench.eval.features import extract_features

logger = logging.getLogger(__name__)

FORMATS = (".npy", ".parquet")
DECODE_THREADS = 8


@dataclass
class Embeddings:
    """Embeddings in file order.

    Attributes:
        files: Paths relative to the image folder (POSIX separators).
        vectors: float32 ``(N, D)``.
        skipped: ``"path (reason)"`` of every file that could not be decoded.
    """

    files: list[str]
    vectors: np.ndarray
    skipped: list[str] = field(default_factory=list)


def check_output(out: Path) -> str:
    """Returns the output format (``.npy`` or ``.parquet``) before any work is done.

    Raises:
        ConfigError: For another suffix, or ``.parquet`` without pyarrow.
    """
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(
            f"--out {out} must end in .npy (with a .json list of file names beside it) or "
            ".parquet; e.g. --out embeddings.npy"
        )
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ConfigError(
            f"--out {out} needs pyarrow to write Parquet, and it is not installed; "
            "pip install pyarrow, or write --out embeddings.npy instead"
        )
    return suffix


def embed_folder(
    backbone: nn.Module,
    images_dir: Path,
    image_size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    in_chans: int = 3,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    normalize: bool = False,
    crop_pct: float = 1.0,
) -> Embeddings:
    """Embeds every image below ``images_dir`` (any depth, sorted by path).

    Args:
        backbone: The network (for BYOL weights: the online backbone).
        images_dir: Folder of images.
        image_size: Model input size.
        mean: Normalisation mean the backbone was trained with.
        std: Normalisation std.
        in_chans: Model input channels (1 decodes grayscale).
        device: Where to run.
        batch_size: Images decoded and embedded at a time.
        normalize: L2-normalise each embedding.
        crop_pct: The model's evaluation centre crop: each image is resized to
            ``floor(image_size / crop_pct)`` and its centre ``image_size`` square is kept.

    Raises:
        DataError: When the folder has no images or none can be decoded.
    """
    index = scan_unlabelled(images_dir)
    transform = EvalTransform(image_size, mean, std, crop_pct)
    decoded_size = math.floor(image_size / crop_pct) if crop_pct < 1.0 else image_size
    channels = 1 if in_chans == 1 else 3
    files: list[str] = []
    chunks: list[torch.Tensor] = []
    skipped: list[str] = []
    with ThreadPoolExecutor(max_workers=DECODE_THREADS) as pool:
        for start in range(0, len(index.files), batch_size):
            paths = index.files[start : start + batch_size]
            decoded = list(pool.map(lambda p: _decode_file(p, decoded_size, channels), paths))
            good = [(p, d) for p, d in zip(paths, decoded, strict=True) if not isinstance(d, str)]
            skipped += [d for d in decoded if isinstance(d, str)]
            if not good:
                continue
            batch = torch.stack([d for _, d in good])
            chunks.append(extract_features(backbone, batch, transform, device, batch_size).cpu())
            files += [p.relative_to(images_dir).as_posix() for p, _ in good]
    if skipped:
        shown = "; ".join(skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
        logger.warning("skipped %d unreadable image file(s): %s", len(skipped), shown)
    if not files:
        raise DataError(
            f"none of the {len(index.files)} image files under {images_dir} could be decoded "
            f"(first: {skipped[0]})"
        )
    vectors = torch.cat(chunks)
    if normalize:
        vectors = F.normalize(vectors, dim=1)
    return Embeddings(files, vectors.numpy().astype(np.float32), skipped)


def sidecar_path(out: Path) -> Path:
    """The ``.json`` beside a ``.npy`` that lists the file of each row."""
    return out.with_suffix(".json")


def write_embeddings(out: Path, embeddings: Embeddings, meta: dict[str, Any]) -> list[Path]:
    """Writes ``.npy`` + ``.json`` sidecar, or one ``.parquet`` (columns file, embedding).

    Args:
        out: Output file; its suffix picks the format.
        embeddings: What ``embed_folder`` returned.
        meta: Facts about the model and settings, stored in the sidecar or Parquet metadata.

    Returns:
        The files written.
    """
    if check_output(out) == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        dim = embeddings.vectors.shape[1]
        column = pa.FixedSizeListArray.from_arrays(pa.array(embeddings.vectors.reshape(-1)), dim)
        table = pa.table({"file": embeddings.files, "embedding": column})
        table = table.replace_schema_metadata({"byolbench": json.dumps(meta)})
        with atomic_path(out) as tmp:
            pq.write_table(table, tmp)
        return [out]
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        np.save(handle, embeddings.vectors)
    sidecar = sidecar_path(out)
    record = {
        **meta,
        "shape": list(embeddings.vectors.shape),
        "files": embeddings.files,
        "skipped": embeddings.skipped,
    }
    write_text(sidecar, json.dumps(record, indent=2) + "\n")
    return [out, sidecar]
