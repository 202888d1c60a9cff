import importlib.util

import pytest

from byolbench.errors import ConfigError
from byolbench.train.accel import make_accelerator
from byolbench.train.precision import resolve_mixed_precision


def test_unknown_tracker_is_a_clear_error():
    with pytest.raises(ConfigError, match="valid: tensorboard, wandb, mlflow"):
        make_accelerator("no", log_with="neptune")


@pytest.mark.parametrize("tracker", ["wandb", "mlflow"])
def test_missing_tracker_package_names_the_extra(tracker, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == tracker else real(name, *a)
    )
    with pytest.raises(ConfigError, match=rf"byolbench\[{tracker}\]"):
        make_accelerator("no", log_with=tracker)


def test_precision_resolution():
    assert resolve_mixed_precision("no", "cpu") == "no"
    assert resolve_mixed_precision("bf16", "cuda") == "bf16"
    assert resolve_mixed_precision("auto", "cpu") in ("bf16", "no")
    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        resolve_mixed_precision("fp16", "cpu")


def test_accelerators_with_different_precisions_in_one_process():
    assert make_accelerator("no").mixed_precision == "no"
    second = make_accelerator("bf16")
    assert second.mixed_precision == "bf16"


def _count(model, kind):
    return sum(isinstance(m, kind) for m in model.modules())


def test_batchnorm_becomes_sync_batchnorm_on_several_gpu_processes(caplog):
    import logging

    import torch
    from torch import nn

    from byolbench.config import RunConfig
    from byolbench.train.trainer import build_model, sync_batchnorm

    config = RunConfig().replace({"model.backbone": "test_resnet"})
    model = build_model(config, 32)
    plain = _count(model, nn.BatchNorm2d) + _count(model, nn.BatchNorm1d)
    assert plain > 0 and _count(model, nn.SyncBatchNorm) == 0
    gpu = torch.device("cuda", 0)  # conversion only rebuilds modules; no GPU is touched

    converted = sync_batchnorm(build_model(config, 32), 2, gpu, enabled=True)
    assert _count(converted, nn.SyncBatchNorm) == plain  # online, target and heads
    assert _count(sync_batchnorm(build_model(config, 32), 1, gpu, True), nn.SyncBatchNorm) == 0
    assert _count(sync_batchnorm(build_model(config, 32), 2, gpu, False), nn.SyncBatchNorm) == 0
    with caplog.at_level(logging.WARNING, logger="byolbench"):
        on_cpu = sync_batchnorm(build_model(config, 32), 2, torch.device("cpu"), True)
    assert _count(on_cpu, nn.SyncBatchNorm) == 0 and "SyncBatchNorm needs GPUs" in caplog.text
