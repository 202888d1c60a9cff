"""Builds the embedded ``cifar10-mini`` dataset from a CIFAR-10 ImageFolder JPEG archive.

Selection is deterministic: within each class, files are ordered by the SHA-256 of their
relative path and the first ``--train-per-class`` (train) and ``--test-per-class`` (test) are
kept. The original JPEG bytes are stored unchanged (no re-encoding), concatenated and
zlib-compressed, in one safetensors file.

    python -m byolbench.data.build_mini --source ../shared/data/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tarfile
import zlib
from pathlib import Path

import torch
from safetensors.torch import save_file

from byolbench.atomic import atomic_path
from byolbench.data.catalog import CIFAR10_CLASSES

DEFAULT_OUT = Path(__file__).parent / "assets" / "cifar10_mini.safetensors"


def _select(members: dict[str, bytes], split: str, per_class: int) -> tuple[list[bytes], list[int]]:
    data: list[bytes] = []
    labels: list[int] = []
    for label, name in enumerate(CIFAR10_CLASSES):
        prefix = f"{split}/{name}/"
        names = [m for m in members if m.startswith(prefix)]
        if len(names) < per_class:
            raise SystemExit(f"{prefix}: only {len(names)} files, need {per_class}")
        names.sort(key=lambda m: hashlib.sha256(m.encode()).hexdigest())
        for member in names[:per_class]:
            data.append(members[member])
            labels.append(label)
    return data, labels


def _pack(data: list[bytes]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenates the files and zlib-compresses them (JPEG headers repeat, so this is 3x)."""
    offsets = torch.zeros(len(data) + 1, dtype=torch.int64)
    offsets[1:] = torch.tensor([len(d) for d in data]).cumsum(0)
    packed = zlib.compress(b"".join(data), 9)
    return torch.frombuffer(bytearray(packed), dtype=torch.uint8), offsets


def build(source: Path, out: Path, train_per_class: int, test_per_class: int) -> None:
    """Reads ``source`` (a .tar.gz of train/<class>/*.jpg, test/<class>/*.jpg), writes ``out``."""
    members: dict[str, bytes] = {}
    with tarfile.open(source, "r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.lower().endswith((".jpg", ".jpeg", ".png")):
                name = member.name.lstrip("./")
                handle = archive.extractfile(member)
                assert handle is not None
                members[name] = handle.read()
    tensors: dict[str, torch.Tensor] = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        data, labels = _select(members, split, per_class)
        blob, offsets = _pack(data)
        tensors[f"{split}_jpeg_zlib"] = blob
        tensors[f"{split}_offsets"] = offsets
        tensors[f"{split}_labels"] = torch.tensor(labels, dtype=torch.int64)
    source_sha = hashlib.sha256(source.read_bytes()).hexdigest()
    provenance = {
        "classes": list(CIFAR10_CLASSES),
        "source": source.name,
        "source_sha256": source_sha,
        "selection": f"per class, first {train_per_class} train / {test_per_class} test files "
        "ordered by sha256 of their relative path",
    }
    # One metadata key: safetensors writes several keys in no fixed order.
    metadata = {"byolbench": json.dumps(provenance, sort_keys=True)}
    with atomic_path(out) as tmp:
        save_file(tensors, tmp, metadata=metadata)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) from {source} (sha256 {source_sha})")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--test-per-class", type=int, default=200)
    args = parser.parse_args()
    build(args.source, args.out, args.train_per_class, args.test_per_class)


if __name__ == "__main__":
    main()
