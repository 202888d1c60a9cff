"""The packaged reference table and nearest-reference selection."""

import math
from pathlib import Path

import pytest

from byolbench.bench.references import (
    MINI_CAVEAT,
    REFERENCE_COLUMNS,
    REFERENCES_FILE,
    Reference,
    backbone_family,
    load_references,
    nearest_reference,
    protocol_kind,
)
from byolbench.errors import DataError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference-results.csv"


def ref(
    dataset: str,
    backbone: str,
    epochs: int,
    protocol: str,
    top1: float = 50.0,
    method: str = "byol",
    notes: str = "",
) -> Reference:
    return Reference(
        dataset, backbone, method, epochs, 256, protocol, top1, math.nan, "paper", notes
    )


def test_packaged_table_loads_with_every_column():
    refs = load_references()
    assert REFERENCES_FILE.is_file() and len(refs) >= 10
    header = REFERENCES_FILE.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert tuple(header) == REFERENCE_COLUMNS
    byol_cifar = [r for r in refs if r.dataset == "cifar10" and r.method == "byol"]
    assert {r.kind for r in byol_cifar} == {"knn", "linear"}
    assert all(r.top1 > 0 and r.epochs > 0 and r.source for r in refs)


@pytest.mark.skipif(not SHARED.is_file(), reason="shared reference file not in this checkout")
def test_packaged_table_is_a_copy_of_the_published_numbers():
    assert REFERENCES_FILE.read_text(encoding="utf-8") == SHARED.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("resnet18", "resnet18"),
        ("resnet18 (cifar stem)", "resnet18"),
        ("resnet18.a1_in1k", "resnet18"),
        ("resnet50", "resnet50"),
        ("vit_small", "vit_small"),
        ("vit_small_patch16_224.augreg_in21k", "vit_small"),
        ("wide_resnet50_2", "wide_resnet50"),
        ("test_resnet", "test_resnet"),
    ],
)
def test_backbone_family(name, family):
    assert backbone_family(name) == family


def test_protocol_kind():
    assert protocol_kind("knn k=200 t=0.1") == "knn"
    assert protocol_kind("online linear") == "linear"
    assert protocol_kind("linear") == "linear"


def test_packaged_cifar10_knn_resnet18_prefers_closest_epochs():
    match = nearest_reference("cifar10", "resnet18", "knn", 700)
    assert match is not None
    assert (match.reference.epochs, match.reference.top1) == (800, 91.0)
    low = nearest_reference("cifar10", "resnet18", "knn", 50)
    assert low is not None and low.reference.epochs == 200 and low.reference.kind == "knn"
    assert "200 ep" in low.label() and "knn k=200 t=0.1" in low.label()
    assert "batch 128" in low.description() and "lightly" in low.description()


def test_an_offline_probe_never_gets_an_online_head_or_a_knn_number():
    # the packaged CIFAR-10 BYOL results are kNN and solo-learn's online heads only
    assert nearest_reference("cifar10", "resnet18", "linear", 100) is None
    online = nearest_reference("cifar10", "resnet18", "online-linear", 100)
    assert online is not None and online.reference.protocol == "online linear"


def test_cifar10_mini_matches_cifar10_with_caveat():
    match = nearest_reference("cifar10-mini", "resnet18", "knn", 10)
    assert match is not None and match.reference.dataset == "cifar10"
    assert MINI_CAVEAT in match.caveats


def test_no_reference_for_other_datasets_or_methods():
    assert nearest_reference("stl10", "resnet18", "knn", 100) is None
    assert nearest_reference("imagefolder:/data/x", "resnet18", "knn", 100) is None
    refs = [ref("cifar10", "resnet18", 100, "linear", method="simclr")]
    assert nearest_reference("cifar10", "resnet18", "linear", 100, refs) is None


def test_preference_order_family_then_kind_then_epochs():
    refs = [
        ref("d", "resnet50", 100, "linear", 1.0),  # wrong family, exact epochs
        ref("d", "resnet18 (cifar stem)", 1000, "knn", 2.0),  # right family, wrong kind
        ref("d", "resnet18 (cifar stem)", 900, "linear", 3.0),
        ref("d", "resnet18", 300, "offline linear", 4.0),
    ]
    assert nearest_reference("d", "resnet18", "linear", 100, refs).reference.top1 == 4.0
    assert nearest_reference("d", "resnet18", "knn", 100, refs).reference.top1 == 2.0
    only_other = nearest_reference("d", "vit_small", "linear", 100, refs)
    assert only_other.reference.top1 == 1.0
    assert "different backbone: published resnet50, ours vit_small" in only_other.caveat


def test_protocol_is_required_and_variant_breaks_ties():
    refs = [ref("d", "resnet18", 100, "knn k=20", 1.0), ref("d", "resnet18", 100, "knn k=200", 2.0)]
    assert nearest_reference("d", "resnet18", "knn", 100, refs).reference.top1 == 2.0
    assert nearest_reference("d", "resnet18", "linear", 100, refs) is None  # only kNN published
    refs = [ref("d", "r18", 100, "online linear", 1.0), ref("d", "r18", 100, "linear", 2.0)]
    assert nearest_reference("d", "r18", "linear", 100, refs).reference.top1 == 2.0


def test_unknown_epochs_do_not_decide():
    refs = [ref("d", "resnet18", 1000, "knn", 1.0), ref("d", "resnet18", 10, "knn", 2.0)]
    assert nearest_reference("d", "resnet18", "knn", None, refs).reference.top1 == 1.0
    assert nearest_reference("d", "resnet18", "knn", math.nan, refs).reference.top1 == 1.0


def test_notes_become_caveats():
    refs = [ref("d", "resnet18", 100, "knn", notes="max over epochs on test set")]
    match = nearest_reference("d", "resnet18", "knn", 100, refs)
    assert match.caveats == ("max over epochs on test set",)
    assert "Caveats: max over epochs on test set." in match.description()


def test_bad_reference_files_are_one_line_errors(tmp_path):
    missing = tmp_path / "a.csv"
    missing.write_text("dataset,backbone\ncifar10,resnet18\n")
    with pytest.raises(DataError, match="lacks columns"):
        load_references(missing)
    bad = tmp_path / "b.csv"
    bad.write_text(",".join(REFERENCE_COLUMNS) + "\ncifar10,r18,byol,many,256,knn,1,,s,\n")
    with pytest.raises(DataError, match=r"line 2: epochs='many' is not a number"):
        load_references(bad)
    with pytest.raises(DataError, match="not found"):
        load_references(tmp_path / "none.csv")


def test_online_linear_rows_match_online_references_and_offline_rows_offline_ones():
    refs = [
        ref("d", "resnet18", 100, "offline linear", 1.0),
        ref("d", "resnet18", 1000, "online linear", 2.0),
    ]
    online = nearest_reference("d", "resnet18", "online-linear", 100, refs)
    assert online.reference.top1 == 2.0  # same protocol beats closer epochs
    assert not online.caveats
    offline = nearest_reference("d", "resnet18", "linear", 1000, refs)
    assert offline.reference.top1 == 1.0
    packaged = nearest_reference("cifar10", "resnet18", "online-linear", 100)
    assert packaged.reference.protocol == "online linear" and packaged.reference.top1 == 92.58
    assert "solo-learn" in packaged.reference.source
    assert nearest_reference("imagenet", "resnet50", "online-linear", 100) is None  # offline only


def test_fewshot_and_finetune_rows_only_match_the_same_protocol():
    assert nearest_reference("cifar10", "resnet18", "fewshot", 100) is None
    assert nearest_reference("cifar10", "resnet18", "finetune", 100) is None
    refs = [ref("d", "resnet18", 100, "knn", 1.0), ref("d", "resnet18", 100, "finetune", 2.0)]
    assert nearest_reference("d", "resnet18", "finetune", 100, refs).reference.top1 == 2.0
