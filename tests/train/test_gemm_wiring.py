"""The trainer turns a convnet's convolutions into GemmConv2d on the CPU, unless told not to."""

import pytest
from torch import nn

from byolbench.config import RunConfig
from byolbench.models.gemm_conv import GemmConv2d
from byolbench.train import trainer as trainer_module
from byolbench.train.accel import make_accelerator
from byolbench.train.trainer import Trainer
from tests.train.helpers import tiny_config


@pytest.mark.parametrize("gemm", [True, False])
def test_trainer_uses_gemm_convs_only_when_set(tiny_splits, gemm, monkeypatch):
    monkeypatch.setattr(trainer_module, "cpu_has_amx", lambda: True)
    config = tiny_config(**{"train.max_steps": 1, "train.gemm_convs": gemm})
    result = Trainer(config, tiny_splits, make_accelerator("bf16", cpu=True), None).fit()
    convs = [m for m in result.model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(isinstance(m, GemmConv2d) == gemm for m in convs)


def test_gemm_convs_do_not_change_the_configuration_hash():
    on = RunConfig().replace({"train.gemm_convs": True})
    off = RunConfig().replace({"train.gemm_convs": False})
    assert on.config_hash() == off.config_hash()


def test_cpus_without_amx_keep_onednn(tiny_splits, monkeypatch):
    monkeypatch.setattr(trainer_module, "cpu_has_amx", lambda: False)
    config = tiny_config(**{"train.max_steps": 1, "train.gemm_convs": True})
    result = Trainer(config, tiny_splits, make_accelerator("bf16", cpu=True), None).fit()
    assert not any(isinstance(m, GemmConv2d) for m in result.model.modules())
