"""``augment.view_size_fraction``: pretraining views smaller than the evaluation images."""

import pytest

from byolbench.errors import ConfigError
from byolbench.train.accel import make_accelerator
from byolbench.train.trainer import Trainer, view_side_for
from tests.train.helpers import record_view_sizes, tiny_config


def test_the_view_side_is_the_fraction_of_the_training_size_but_at_least_8_px():
    assert view_side_for(0.75, 32) == 24
    assert view_side_for(1.0, 224) == 224
    assert view_side_for(0.1, 32) == 8
    assert view_side_for(0.5, 8) == 8  # never above the training size


def test_every_pretraining_view_takes_the_fraction(monkeypatch, tiny_splits):
    seen = record_view_sizes(monkeypatch)
    config = tiny_config(**{"augment.view_size_fraction": 0.75})
    Trainer(config, tiny_splits, make_accelerator("no"), None).fit()
    assert seen and set(seen) == {12}  # the images are 16 px


@pytest.mark.parametrize("fraction", ["0", "1.5", "-0.5"])
def test_a_fraction_outside_zero_to_one_is_refused(fraction):
    with pytest.raises(ConfigError, match="augment.view_size_fraction"):
        tiny_config(**{"augment.view_size_fraction": fraction}).validate()
