"""``cifar10-mini``: a class-balanced CIFAR-10 subset shipped inside the package.

10,000 training and 2,000 test images (1,000 and 200 per class), the original JPEG bytes of
the CIFAR-10 JPEG release, built by ``python -m byolbench.data.build_mini``; provenance in
``assets/CIFAR10_MINI.md``.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import torch
from safetensors.torch import load_file

from byolbench.data.base import DatasetInfo, DatasetSplits, ImageSplit
from byolbench.data.folder import decode_image
from byolbench.data.registry import DATASETS, DatasetRequest
from byolbench.data.tensor_cache import load_cached, save_cached
from byolbench.errors import DataError

ASSET = Path(__file__).parent / "assets" / "cifar10_mini.safetensors"
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def _decode_split(tensors: dict[str, torch.Tensor], split: str) -> ImageSplit:
    blob = zlib.decompress(tensors[f"{split}_jpeg_zlib"].numpy().tobytes())
    offsets = tensors[f"{split}_offsets"].tolist()
    images = [
        decode_image(blob[start:end], channels=3)
        for start, end in zip(offsets[:-1], offsets[1:], strict=True)
    ]
    return ImageSplit(torch.stack(images), tensors[f"{split}_labels"].clone())


def _classes(asset: Path) -> tuple[str, ...]:
    from safetensors import safe_open

    with safe_open(asset, framework="pt") as handle:
        meta = handle.metadata() or {}
    return tuple(json.loads(meta["byolbench"])["classes"])


@DATASETS.register("cifar10-mini")
def cifar10_mini(request: DatasetRequest) -> DatasetSplits:
    """Loads the embedded subset (decoded once, then cached in the data directory)."""
    if not ASSET.is_file():
        raise DataError(
            f"the embedded dataset file {ASSET} is missing; reinstall byolbench or rebuild it "
            "with python -m byolbench.data.build_mini --source cifar10-jpeg.tar.gz"
        )
    key = "cifar10-mini-" + hashlib.sha256(ASSET.read_bytes()).hexdigest()[:16]
    tensors: dict[str, torch.Tensor] | None = None
    splits: dict[str, ImageSplit] = {}
    for split in ("train", "test"):
        cached = load_cached(request.cache_dir, f"{key}-{split}")
        if cached is None:
            tensors = tensors if tensors is not None else load_file(ASSET)
            cached = _decode_split(tensors, split)
            save_cached(request.cache_dir, f"{key}-{split}", cached)
        splits[split] = cached
    info = DatasetInfo(
        name="cifar10-mini",
        image_size=32,
        channels=3,
        class_names=_classes(ASSET),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
    )
    return DatasetSplits(info, splits["train"], splits["train"], splits["test"])
