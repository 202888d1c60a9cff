"""optim.schedule: the learning-rate decay after the warm-up, cosine or linear."""

from __future__ import annotations

import pytest
import torch

from byolbench.config import RunConfig
from byolbench.errors import ConfigError
from byolbench.train.accel import make_accelerator
from byolbench.train.optim import scaled_lr, warmup_cosine, warmup_decay
from byolbench.train.trainer import Trainer
from tests.train.helpers import record_optimizer_groups, tiny_config


def test_linear_decay_falls_in_a_straight_line_to_zero():
    rates = [warmup_decay(step, 10, 2, 1.0, "linear") for step in range(11)]
    assert rates[:3] == pytest.approx([0.5, 1.0, 1.0])
    assert rates[2:] == pytest.approx([1.0 - k / 8 for k in range(9)])
    cosine = [warmup_decay(step, 10, 2, 1.0, "cosine") for step in range(11)]
    assert cosine == pytest.approx([warmup_cosine(step, 10, 2, 1.0) for step in range(11)])
    assert rates[8] > cosine[8]  # late in the run linear keeps more of the rate


def test_an_unknown_schedule_is_refused_before_anything_trains():
    with pytest.raises(ConfigError, match="optim.schedule='step'.*cosine, linear"):
        RunConfig().replace({"optim.schedule": "step"}).validate()
    with pytest.raises(ConfigError, match="valid: cosine, linear"):
        warmup_decay(5, 10, 2, 1.0, "step")


def test_the_trainer_follows_the_linear_schedule(monkeypatch, tiny_splits):
    steps = record_optimizer_groups(monkeypatch, torch.optim.SGD)
    overrides = {"optim.name": "sgd", "optim.lr": 0.4, "optim.warmup_epochs": 0.5}
    config = tiny_config(**overrides, **{"optim.schedule": "linear"})
    trainer = Trainer(config, tiny_splits, make_accelerator("no"), None)
    result = trainer.fit()
    assert result.total_steps == 8
    peak = scaled_lr(config.optim, trainer.global_batch)
    rates = [groups[0]["lr"] for groups in steps]
    assert rates == pytest.approx([warmup_decay(k, 8, 4, peak, "linear") for k in range(8)])
