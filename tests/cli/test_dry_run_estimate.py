"""The dry run's compute estimate per image and step."""

from byolbench.bench.matrix import Cell
from byolbench.cli.dry_run import compute_estimate, forward_flops, step_flops_per_image
from tests.train.helpers import tiny_config


def test_small_views_add_three_online_forwards_each_at_their_size():
    plain = Cell(tiny_config())
    multicrop = Cell(tiny_config(**{"augment.local_crops": 2, "augment.local_size": 8}))
    full, small = forward_flops(plain, 16), forward_flops(plain, 8)
    assert 0 < small < full
    assert step_flops_per_image(plain, 16) == 8 * full
    assert step_flops_per_image(multicrop, 16) == 8 * full + 2 * 3 * small


def test_a_time_budget_shows_no_step_count_it_cannot_know():
    budgeted = Cell(tiny_config(**{"train.time_budget": "8m"}))
    size, steps, compute = compute_estimate(budgeted)
    assert steps == "the optimizer steps that fit in 8m (planned as it runs)"
    assert compute.endswith("GFLOP/img") and "PFLOP" not in compute
    size, steps, compute = compute_estimate(Cell(tiny_config()))
    assert steps.endswith(" optimizer steps*") and "PFLOP" in compute


def test_the_estimate_counts_the_pretraining_views_at_their_side():
    def gflop_per_image(fraction: float) -> float:
        settings = {"model.backbone": "resnet18", "augment.view_size_fraction": fraction}
        compute = compute_estimate(Cell(tiny_config(**settings, **{"data.image_size": 32})))[2]
        return float(compute.split("(")[1].split()[0])  # "x PFLOP (y GFLOP/img)"

    full, half = gflop_per_image(1.0), gflop_per_image(0.5)
    assert 0.2 < half / full < 0.3  # a quarter of the pixels
