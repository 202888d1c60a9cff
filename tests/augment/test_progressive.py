"""Progressive resizing: the view size schedule and its use in training."""

import pytest

from byolbench.augment.progressive import run_cost, view_size
from byolbench.errors import ConfigError
from byolbench.train.accel import make_accelerator
from byolbench.train.trainer import Trainer
from tests.train.helpers import record_view_sizes, tiny_config


def test_sizes_grow_linearly_in_steps_of_four_then_stay_full():
    sizes = [view_size(s, 100, 16, 32, 0.5) for s in range(101)]
    assert sizes[0] == 16 and sizes[50:] == [32] * 51
    assert sizes == sorted(sizes) and {s % 4 for s in sizes} == {0}
    assert sizes[25] == 24  # half way up the ramp
    assert view_size(10, 100, 0, 32, 0.5) == 32  # off


def test_a_larger_size_step_skips_the_sizes_between():
    """Steps of 8 px take 16 px views to 24 px directly, at the end of the ramp."""
    sizes = [view_size(s, 100, 16, 24, 0.75, size_step=8) for s in range(101)]
    assert sizes[:75] == [16] * 75 and sizes[75:] == [24] * 26
    assert set(view_size(s, 100, 16, 24, 0.75) for s in range(101)) == {16, 20, 24}
    expected = sum((size / 24) ** 2 for size in sizes[:100])
    assert run_cost(0, 100, 16, 24, 0.75, size_step=8) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("start", "total", "min_size", "fraction"),
    [
        (0, 100, 16, 0.5),
        (7, 1000, 16, 0.75),
        (0, 3, 16, 0.75),
        (50, 60, 16, 0.75),
        (0, 517, 18, 0.3),
        (5, 5, 16, 0.5),
        (0, 10, 0, 0.5),
        (0, 1, 16, 1.0),
    ],
)
def test_run_cost_is_the_sum_of_the_steps_pixels(start, total, min_size, fraction):
    expected = sum(
        (view_size(s, total, min_size, 32, fraction) / 32) ** 2 for s in range(start, total)
    )
    assert run_cost(start, total, min_size, 32, fraction) == pytest.approx(expected)


@pytest.mark.parametrize(("fraction", "last"), [(1.0, 16), (0.75, 12)])
def test_training_sees_small_views_first_and_full_views_last(
    monkeypatch, tiny_splits, fraction, last
):
    """Views grow to the view side: the 16 px images' or ``augment.view_size_fraction``'s."""
    seen = record_view_sizes(monkeypatch)
    config = tiny_config(
        **{
            "train.epochs": 2,
            "augment.progressive_min_size": 8,
            "augment.progressive_fraction": 0.5,
            "augment.view_size_fraction": fraction,
        }
    )
    Trainer(config, tiny_splits, make_accelerator("no"), None).fit()
    assert seen[0] == 8 and seen[-1] == last and seen == sorted(seen)


def test_training_follows_the_size_step(monkeypatch, tiny_splits):
    seen = record_view_sizes(monkeypatch)
    config = tiny_config(
        **{
            "train.epochs": 2,
            "augment.progressive_min_size": 8,
            "augment.progressive_fraction": 0.5,
            "augment.progressive_step": 8,
        }
    )
    Trainer(config, tiny_splits, make_accelerator("no"), None).fit()
    assert set(seen) == {8, 16} and seen == sorted(seen)


def test_a_fixed_size_augmentation_is_refused(monkeypatch, tiny_splits):
    import byolbench.train.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "create_augmentation", lambda *a, **k: lambda x, g: (x, x))
    config = tiny_config(**{"augment.progressive_min_size": 8})
    with pytest.raises(ConfigError, match="progressive_min_size"):
        Trainer(config, tiny_splits, make_accelerator("no"), None).fit()


@pytest.mark.parametrize("size_step", ["0", "-4"])
def test_a_size_step_below_one_pixel_is_refused(size_step):
    with pytest.raises(ConfigError, match="augment.progressive_step"):
        tiny_config(**{"augment.progressive_step": size_step}).validate()
