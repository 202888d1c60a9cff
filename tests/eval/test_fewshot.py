"""Few-shot subsets: class-balanced, seed-stable, and the L2 choice never sees the test set."""

import torch

from byolbench.config import EvalConfig
from byolbench.eval.evaluate import evaluate_backbone
from byolbench.eval.fewshot import fewshot_indices, fewshot_probe, fraction_label


def test_subsets_are_class_balanced_and_sized_by_fraction():
    labels = torch.arange(1000) % 10
    one = fewshot_indices(labels, 0.01, 10, seed=0)
    ten = fewshot_indices(labels, 0.1, 10, seed=0)
    assert len(one) == 10 and len(ten) == 100
    assert torch.bincount(labels[one], minlength=10).tolist() == [1] * 10
    assert torch.bincount(labels[ten], minlength=10).tolist() == [10] * 10
    assert len(set(ten.tolist())) == 100 and torch.equal(ten, ten.sort().values)


def test_imbalanced_classes_get_the_same_count_capped_by_their_size():
    labels = torch.cat([torch.zeros(900), torch.ones(90), torch.full((10,), 2)]).long()
    subset = fewshot_indices(labels, 0.1, 3, seed=0)  # round(0.1 * 1000 / 3) = 33 per class
    assert torch.bincount(labels[subset], minlength=3).tolist() == [33, 33, 10]


def test_subsets_are_seed_stable():
    labels = torch.randint(0, 5, (500,), generator=torch.Generator().manual_seed(0))
    first = fewshot_indices(labels, 0.1, 5, seed=3)
    assert torch.equal(first, fewshot_indices(labels, 0.1, 5, seed=3))
    assert not torch.equal(first, fewshot_indices(labels, 0.1, 5, seed=4))
    assert fraction_label(0.01) == "1%" and fraction_label(0.125) == "12.5%"


def _features(n: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    centres = torch.randn(classes, 16, generator=torch.Generator().manual_seed(99)) * 3
    return centres[labels] + torch.randn(n, 16, generator=generator), labels


def test_the_l2_choice_never_depends_on_the_test_set():
    train_x, train_y = _features(400, 4, 0)
    test_x, test_y = _features(100, 4, 1)
    grid = (1e-4, 1e-2, 1.0)
    real = fewshot_probe(train_x, train_y, test_x, test_y, 4, (0.1,), grid, max_iter=50)
    noise = fewshot_probe(
        train_x,
        train_y,
        torch.randn(100, 16),
        torch.randint(0, 4, (100,)),
        4,
        (0.1,),
        grid,
        max_iter=50,
    )
    assert (real[0].l2, real[0].val_top1) == (noise[0].l2, noise[0].val_top1)
    assert real[0].top1 > 70.0 > noise[0].top1  # only the test score moved
    assert real[0].labels == 40 and real[0].per_class == 10 and real[0].variant == "labels=10%"


def test_fewshot_rows_of_a_backbone(tiny_splits):
    backbone = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 8))
    config = EvalConfig(protocols=("fewshot",), fewshot_fractions=(0.25, 0.5), linear_max_iter=20)
    rows = evaluate_backbone(backbone, tiny_splits, config, 16, "byol")
    assert [(r.protocol, r.details["variant"]) for r in rows] == [
        ("fewshot", "labels=25%"),
        ("fewshot", "labels=50%"),
    ]
    assert [r.details["labels"] for r in rows] == [16, 32]  # 64 images, 4 classes
    assert all(1.0 <= r.rankme <= 8.0 for r in rows)
