import copy
import math

import pytest
import torch
from torch import nn

from byolbench.config import OptimConfig
from byolbench.train.optim import (
    build_optimizer,
    scaled_lr,
    set_lr,
    split_decay_groups,
    warmup_cosine,
)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def test_lars_excludes_biases_and_norms_from_decay_and_adaptation():
    model = _model()
    config = OptimConfig(name="lars", lr=0.5, weight_decay=0.1, momentum=0.9, lars_eta=0.001)
    optimizer = build_optimizer(model.named_parameters(), config, global_batch=256)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {}
    for name, param in model.named_parameters():
        param.grad = torch.full_like(param, 0.3)
        grads[name] = param.grad.clone()
    optimizer.step()
    lr = 0.5  # 0.5 * 256 / 256
    for name, param in model.named_parameters():
        w, g = before[name], grads[name]
        if param.ndim <= 1:  # bias or norm: plain SGD step, no decay, no trust ratio
            torch.testing.assert_close(param.detach(), w - lr * g)
        else:
            update = g + 0.1 * w
            trust = 0.001 * w.norm() / (g.norm() + 0.1 * w.norm())
            torch.testing.assert_close(param.detach(), w - lr * trust * update)


def test_lars_adapts_weights_even_without_weight_decay():
    model = _model()
    config = OptimConfig(name="lars", lr=1.0, weight_decay=0.0)
    optimizer = build_optimizer(model.named_parameters(), config, global_batch=256)
    weight = model[0].weight
    before = weight.detach().clone()
    for param in model.parameters():
        param.grad = torch.ones_like(param)
    optimizer.step()
    trust = 0.001 * before.norm() / torch.ones_like(before).norm()
    torch.testing.assert_close(weight.detach(), before - trust * torch.ones_like(before))


def test_decay_groups_split_by_dimension():
    decay, no_decay = split_decay_groups(_model().named_parameters())
    assert all(p.ndim == 2 for p in decay) and len(decay) == 2
    assert all(p.ndim == 1 for p in no_decay) and len(no_decay) == 4


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_other_optimizers_exclude_norms_from_decay(name):
    optimizer = build_optimizer(_model().named_parameters(), OptimConfig(name=name), 256)
    decays = sorted(g["weight_decay"] for g in optimizer.param_groups)
    assert decays[0] == 0.0 and decays[1] > 0


def test_linear_scaling_and_warmup_cosine():
    assert scaled_lr(OptimConfig(lr=0.2), 4096) == pytest.approx(3.2)
    peak = 1.0
    assert warmup_cosine(0, 100, 10, peak) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10, peak) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10, peak) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10, peak) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10, peak) == pytest.approx(0.0, abs=1e-12)
    assert math.isclose(warmup_cosine(0, 100, 0, peak), 1.0)


class _WithPredictor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(4, 3)
        self.predictor = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))


@pytest.mark.parametrize("name", ["lars", "sgd", "adamw"])
def test_the_predictor_learns_at_its_own_scaled_rate(name):
    config = OptimConfig(name=name, lr=0.4, weight_decay=0.1, predictor_lr_scale=10.0)
    model = _WithPredictor()
    optimizer = build_optimizer(model.named_parameters(), config, global_batch=256)
    set_lr(optimizer, 0.25)  # a point on the schedule: every group follows it, times its scale
    rates = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    decays = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    for pname, param in model.named_parameters():
        expected = 2.5 if pname.startswith("predictor.") else 0.25
        assert rates[id(param)] == pytest.approx(expected), pname
        assert decays[id(param)] == (0.1 if param.ndim > 1 else 0.0), pname
    assert len(rates) == len(list(model.parameters()))


def test_one_rate_for_all_keeps_the_two_groups_of_earlier_checkpoints():
    optimizer = build_optimizer(_WithPredictor().named_parameters(), OptimConfig(), 256)
    assert [g["lr_scale"] for g in optimizer.param_groups] == [1.0, 1.0]
    set_lr(optimizer, 0.3)
    assert all(g["lr"] == pytest.approx(0.3) for g in optimizer.param_groups)


FUSED_ON_CPU = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 4)


@pytest.mark.skipif(not FUSED_ON_CPU, reason="torch's fused AdamW runs on CPUs from torch 2.4")
def test_adamw_runs_fused_and_takes_the_same_step_as_the_per_tensor_loop():
    model = _model()
    config = OptimConfig(name="adamw", lr=0.5, weight_decay=0.1)
    optimizer = build_optimizer(model.named_parameters(), config, global_batch=256)
    assert optimizer.defaults["fused"] is True
    loop_model = copy.deepcopy(model)
    loop = torch.optim.AdamW(
        [
            {"params": [p for p in loop_model.parameters() if p.ndim > 1], "weight_decay": 0.1},
            {"params": [p for p in loop_model.parameters() if p.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=0.5,
        foreach=False,
    )
    for _ in range(3):
        for ours, theirs in zip(model.parameters(), loop_model.parameters(), strict=True):
            ours.grad = torch.randn_like(ours)
            theirs.grad = ours.grad.clone()
        optimizer.step()
        loop.step()
    for ours, theirs in zip(model.parameters(), loop_model.parameters(), strict=True):
        torch.testing.assert_close(ours.detach(), theirs.detach())
