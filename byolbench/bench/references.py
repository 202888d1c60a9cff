"""Published BYOL results shipped with the package, and the nearest one to each of our rows.

``references.csv`` (package data) copies the published numbers: dataset, backbone, method,
epochs, batch size, protocol, top-1, top-5, source and notes. Sources measure differently
(an online linear head trained during pretraining, the best kNN epoch on the test set, an
offline linear probe), so every match carries its protocol, epochs and caveats.

Matching rules (``nearest_reference``): the same dataset and the same protocol are required (a
kNN row gets a published kNN number, a few-shot or fine-tuning row the same protocol; a linear
row the same training: our ``online-linear`` rows only published online linear heads such as
solo-learn's, our offline ``linear`` probes only offline probes); then prefer the same backbone
family (``resnet18`` matches ``resnet18 (cifar stem)``; ``vit_small`` matches
``vit_small_patch16_224``), then the closest number of epochs, then the protocol variant
closest to ours (kNN with k=200), then file order. A row with no such published result gets
none, never a number measured another way.

``cifar10-mini`` (10,000 of CIFAR-10's 50,000 training images, 2,000 of its 10,000 test
images) is matched to the ``cifar10`` references with an explicit caveat that the published
run used all of CIFAR-10: the reader still sees how far a quick run is from the literature.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from byolbench.errors import DataError

REFERENCES_FILE = Path(__file__).with_name("references.csv")
REFERENCE_COLUMNS = (
    "dataset",
    "backbone",
    "method",
    "epochs",
    "batch_size",
    "protocol",
    "top1",
    "top5",
    "source",
    "notes",
)
MINI_CAVEAT = (
    "ours is cifar10-mini (10,000 of CIFAR-10's 50,000 training and 2,000 of its 10,000 test "
    "images); the published run used all of CIFAR-10"
)
DATASET_ALIASES: dict[str, tuple[str, str]] = {"cifar10-mini": ("cifar10", MINI_CAVEAT)}


@dataclass(frozen=True)
class Reference:
    """One published result (a row of ``references.csv``)."""

    dataset: str
    backbone: str
    method: str
    epochs: int
    batch_size: int
    protocol: str
    top1: float
    top5: float
    source: str
    notes: str

    @property
    def kind(self) -> str:
        """``knn`` or ``linear`` (see ``protocol_kind``)."""
        return protocol_kind(self.protocol)


@dataclass(frozen=True)
class MatchedReference:
    """A published result chosen for one of our rows, with what makes it differ.

    Attributes:
        reference: The published row.
        caveats: Differences a reader must know (protocol, dataset, backbone, notes).
    """

    reference: Reference
    caveats: tuple[str, ...]

    @property
    def caveat(self) -> str:
        """All caveats in one string (empty when there are none)."""
        return "; ".join(self.caveats)

    def label(self) -> str:
        """Short label for a table cell, e.g. ``86.9 (knn k=200 t=0.1, 200 ep)``."""
        ref = self.reference
        return f"{ref.top1:g} ({ref.protocol}, {ref.epochs} ep)"

    def description(self) -> str:
        """Full description for a footnote: backbone, protocol, epochs, batch, source."""
        ref = self.reference
        text = (
            f"{ref.backbone} on {ref.dataset}, {ref.protocol}, {ref.epochs} epochs, batch "
            f"{ref.batch_size}: top-1 {ref.top1:g}"
        )
        if not math.isnan(ref.top5):
            text += f", top-5 {ref.top5:g}"
        text += f". Source: {ref.source}."
        return f"{text} Caveats: {self.caveat}." if self.caveats else text


def _number(text: str, kind: type, path: Path, line: int, column: str) -> float | int:
    if text.strip() == "":
        if kind is float:
            return math.nan
        raise DataError(f"{path} line {line}: {column} is empty; expected a number")
    try:
        return kind(text)
    except ValueError:
        raise DataError(
            f"{path} line {line}: {column}={text!r} is not a number; fix that cell"
        ) from None


def load_references(path: Path | None = None) -> tuple[Reference, ...]:
    """Reads a references CSV (the packaged ``references.csv`` by default).

    Raises:
        DataError: When a column is missing or a number cannot be parsed.
    """
    path = Path(path) if path is not None else REFERENCES_FILE
    return _load(path.resolve())


@functools.lru_cache(maxsize=8)
def _load(path: Path) -> tuple[Reference, ...]:
    if not path.is_file():
        raise DataError(f"reference table {path} not found; reinstall byolbench or pass a CSV")
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REFERENCE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path} lacks columns {missing}; expected {list(REFERENCE_COLUMNS)}")
        out = []
        for line, row in enumerate(reader, start=2):
            out.append(
                Reference(
                    dataset=row["dataset"].strip().lower(),
                    backbone=row["backbone"].strip(),
                    method=row["method"].strip().lower(),
                    epochs=int(_number(row["epochs"], int, path, line, "epochs")),
                    batch_size=int(_number(row["batch_size"], int, path, line, "batch_size")),
                    protocol=row["protocol"].strip(),
                    top1=float(_number(row["top1"], float, path, line, "top1")),
                    top5=float(_number(row["top5"], float, path, line, "top5")),
                    source=row["source"].strip(),
                    notes=(row["notes"] or "").strip(),
                )
            )
    return tuple(out)


def backbone_family(name: str) -> str:
    """The architecture family of a backbone name, e.g. ``resnet18`` or ``vit_small``.

    Parenthesised remarks (``(cifar stem)``) and timm pretrained tags (``.a1_in1k``) are
    dropped; ViT-like names keep their size (``vit_small_patch16_224`` -> ``vit_small``).
    """
    text = re.sub(r"\(.*?\)", "", name).strip().lower().split(".")[0]
    match = re.match(r"(vit|deit|swin|convnext|eva|beit)_([a-z]+)", text)
    if match:
        return f"{match.group(1)}_{match.group(2)}"
    match = re.match(r"(wide_resnet\d+|resnext\d+|resnet\d+)", text)
    if match:
        return match.group(1)
    return text


def protocol_kind(protocol: str) -> str:
    """``knn`` for any kNN protocol, ``linear`` for any linear one (online or offline), else
    the text itself."""
    text = protocol.strip().lower()
    if text.startswith("knn"):
        return "knn"
    if "linear" in text:
        return "linear"
    return text


def is_online(protocol: str) -> bool:
    """Whether a protocol is a linear head trained online (``online linear``,
    ``online-linear``)."""
    return "online" in protocol.strip().lower()


def _variant_distance(reference: Reference) -> int:
    text = reference.protocol.lower()
    if reference.kind == "knn":
        return 0 if re.search(r"\bk=200\b", text) else 1
    return 0


def nearest_reference(
    dataset: str,
    backbone: str,
    protocol: str,
    epochs: float | None,
    references: Sequence[Reference] | None = None,
    method: str = "byol",
) -> MatchedReference | None:
    """The published result closest to one of our rows (see the module docstring).

    Args:
        dataset: Our dataset name (arguments after ``:`` are ignored).
        backbone: Our backbone name.
        protocol: Our protocol (``knn``, ``linear``, ``online-linear``, ``fewshot``, ...).
        epochs: Our pretraining epochs (``None`` or NaN: epochs do not decide).
        references: The table to search (the packaged one by default).
        method: The published method to compare with.

    Returns:
        The match with its caveats, or ``None`` when no published result has this dataset.
    """
    refs = load_references() if references is None else references
    base = dataset.split(":")[0].strip().lower()
    target, dataset_caveat = DATASET_ALIASES.get(base, (base, ""))
    candidates = [r for r in refs if r.dataset == target and r.method == method.lower()]
    family = backbone_family(backbone)
    kind = protocol_kind(protocol)
    online = is_online(protocol)
    candidates = [r for r in candidates if r.kind == kind]
    if kind == "linear":  # an online head is never put beside an offline probe, nor back
        candidates = [r for r in candidates if is_online(r.protocol) == online]
    if not candidates:
        return None
    ours = float(epochs) if epochs is not None else math.nan

    def rank(item: tuple[int, Reference]) -> tuple[bool, float, int, int]:
        index, ref = item
        distance = 0.0 if math.isnan(ours) else abs(ref.epochs - ours)
        return (
            backbone_family(ref.backbone) != family,
            distance,
            _variant_distance(ref),
            index,
        )

    best = min(enumerate(candidates), key=rank)[1]
    return MatchedReference(best, _caveats(best, backbone, family, dataset_caveat))


def _caveats(ref: Reference, backbone: str, family: str, dataset_caveat: str) -> tuple[str, ...]:
    caveats = []
    if backbone_family(ref.backbone) != family:
        caveats.append(f"different backbone: published {ref.backbone}, ours {backbone}")
    if dataset_caveat:
        caveats.append(dataset_caveat)
    if ref.notes:
        caveats.append(ref.notes)
    return tuple(caveats)
