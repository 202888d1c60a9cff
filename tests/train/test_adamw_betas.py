"""optim.betas: AdamW's averaging coefficients, validated and passed to the optimizer."""

from __future__ import annotations

import pytest
import torch

from byolbench.config import RunConfig
from byolbench.errors import ConfigError
from byolbench.train.accel import make_accelerator
from byolbench.train.optim import build_optimizer
from byolbench.train.trainer import Trainer
from tests.train.helpers import record_optimizer_groups, tiny_config

ADAMW = {"optim.name": "adamw", "optim.lr": 1e-3}


def test_the_optimizer_gets_the_betas_and_keeps_torchs_by_default():
    layer = torch.nn.Linear(4, 4)
    chosen = RunConfig().replace({**ADAMW, "optim.betas": "0.8,0.99"}).optim
    optimizer = build_optimizer(layer.named_parameters(), chosen, 32)
    assert all(group["betas"] == (0.8, 0.99) for group in optimizer.param_groups)
    default = build_optimizer(layer.named_parameters(), RunConfig().replace(ADAMW).optim, 32)
    assert all(group["betas"] == (0.9, 0.999) for group in default.param_groups)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.9,1.0", r"optim.betas=0.9,1.0: expected two numbers beta1,beta2 in \[0, 1\)"),
        ("0.9", r"optim.betas=0.9: expected two numbers"),
        ("-0.1,0.99", r"optim.betas=-0.1,0.99: expected"),
    ],
)
def test_betas_outside_zero_to_one_are_refused(value: str, message: str):
    with pytest.raises(ConfigError, match=message):
        RunConfig().replace({**ADAMW, "optim.betas": value}).validate()


def test_betas_with_another_optimizer_are_refused_in_one_line():
    config = RunConfig().replace({"optim.name": "lars", "optim.betas": "0.9,0.99"})
    with pytest.raises(ConfigError, match="AdamW's setting, but optim.name=lars") as caught:
        config.validate()
    assert "optim.momentum" in str(caught.value)
    RunConfig().replace({"optim.name": "lars", "optim.betas": "0.9,0.999"}).validate()


def test_the_trainer_steps_adamw_with_the_chosen_betas(monkeypatch, tiny_splits):
    steps = record_optimizer_groups(monkeypatch, torch.optim.AdamW)
    config = tiny_config(**ADAMW, **{"optim.betas": "0.85,0.98"})
    Trainer(config, tiny_splits, make_accelerator("no"), None).fit()
    seen = {tuple(group["betas"]) for groups in steps for group in groups}
    assert seen == {(0.85, 0.98)}
