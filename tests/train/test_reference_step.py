"""byolbench's Trainer equals BYOL's equations, written here again in plain torch.

The reference below uses nothing of byolbench but the initial weights and the two augmented
views the Trainer drew (captured, so both see identical inputs). It implements from the papers:

* the loss (Grill et al. 2020, eq. 2): per direction the batch mean of
  ``||p/||p|| - z'/||z'|| ||^2 = 2 - 2 cos(p, z')``, target side without gradient, the two
  directions SUMMED;
* LARS (You et al. 2017) as timm's ``Lars`` computes it: local rate
  ``eta ||w|| / (||g|| + wd ||w|| + eps)`` (1 where a norm is 0) applied to ``g + wd w``,
  heavy-ball momentum 0.9 (the first buffer is the update itself); biases and normalisation
  parameters get neither weight decay nor the trust ratio;
* AdamW (Loshchilov and Hutter 2019) with torch's default betas and eps, decoupled weight
  decay on weights only, and global gradient-norm clipping;
* the learning rate per optimizer step: linear warm-up to ``base_lr * batch / 256``, then
  cosine decay to 0 over the run;
* the target: ``tau_k = 1 - (1 - tau_base)(cos(pi k / K) + 1) / 2`` and
  ``target <- tau_k target + (1 - tau_k) online`` for parameters only, after the online
  update; target BatchNorm keeps its own running statistics;
* each view through each network in its own pass (BatchNorm statistics per view), or with
  ``byol.fuse_views`` (the quick preset's) both views in one pass of twice the batch.

Three steps are compared to float32 tolerance: every online and target tensor (parameters
and BatchNorm buffers) and the loss of each step.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from byolbench.train import trainer as trainer_module
from byolbench.train.accel import make_accelerator
from byolbench.train.trainer import Trainer
from tests.train.helpers import tiny_config

STEPS = 3
BATCH = 8
BASE_LR = {"lars": 1.0, "adamw": 2e-2}
WEIGHT_DECAY = 1e-2
ETA = 0.1
MOMENTUM = 0.9
TAU_BASE = 0.5  # far from 1, so that the EMA is visible after three steps
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
GRAD_CLIP = 0.05  # small enough to clip every step (checked below)
# Linear biases whose output a BatchNorm layer centres (directly, or through the predictor's
# first Linear): their exact gradient is 0, so their float gradient is rounding noise (about
# 1e-7 here against 1e-1 for the other parameters). LARS leaves them where they are; AdamW
# normalises the noise into steps of size lr, which no independent implementation
# reproduces, so under AdamW they are only checked to stay within those steps.
ZERO_GRADIENT = ("projector.0.bias", "projector.3.bias", "predictor.0.bias")


def _head(like: nn.Module) -> nn.Sequential:
    """Linear -> BatchNorm1d -> ReLU -> Linear with the weights of ``like`` (copied in order)."""
    linear1, norm, _, linear2 = list(like.children())
    head = nn.Sequential(
        nn.Linear(linear1.in_features, linear1.out_features),
        nn.BatchNorm1d(norm.num_features),
        nn.ReLU(),
        nn.Linear(linear2.in_features, linear2.out_features),
    )
    for mine, theirs in zip(head.state_dict().values(), like.state_dict().values(), strict=True):
        assert mine.shape == theirs.shape
        mine.copy_(theirs)
    return head


def _is_excluded(module: nn.Module, name: str) -> bool:
    """Biases and the parameters of normalisation layers (no decay, no LARS adaptation)."""
    norms = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)
    return name == "bias" or isinstance(module, norms)


def _param_groups(modules: list[nn.Module]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    weights, excluded = [], []
    for root in modules:
        for module in root.modules():
            for name, param in module.named_parameters(recurse=False):
                (excluded if _is_excluded(module, name) else weights).append(param)
    return weights, excluded


def _lr(step: int, total: int, warmup: int, peak: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


def _tau(step: int, total: int) -> float:
    return 1 - (1 - TAU_BASE) * (math.cos(math.pi * step / total) + 1) / 2


def _regression(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Batch mean of ``||p/||p|| - z/||z|| ||^2``, written as ``2 - 2 cos(p, z)``."""
    cos = ((p / p.norm(dim=1, keepdim=True)) * (z / z.norm(dim=1, keepdim=True))).sum(dim=1)
    return (2 - 2 * cos).mean()


class ReferenceByol:
    """One BYOL training run written from the equations."""

    def __init__(
        self, initial: nn.Module, optimizer: str, total: int, warmup: int, fused: bool
    ) -> None:
        self.backbone = copy.deepcopy(initial.backbone)
        self.projector = _head(initial.projector)
        self.predictor = _head(initial.predictor)
        self.target_backbone = copy.deepcopy(initial.target_backbone)
        self.target_projector = _head(initial.target_projector)
        for module in self.online + self.target:
            module.train()  # BatchNorm uses batch statistics, as in training
        for param in (p for m in self.target for p in m.parameters()):
            param.requires_grad_(False)
        self.weights, self.excluded = _param_groups(self.online)
        self.optimizer = optimizer
        self.total, self.warmup = total, warmup
        self.fused = fused
        self.peak = BASE_LR[optimizer] * BATCH / 256
        self.state: dict[int, dict[str, torch.Tensor]] = {}
        self.clipped = 0
        self.noise = 0.0
        self.lrs: list[float] = []

    @property
    def online(self) -> list[nn.Module]:
        return [self.backbone, self.projector, self.predictor]

    @property
    def target(self) -> list[nn.Module]:
        return [self.target_backbone, self.target_projector]

    def _predictions_and_targets(
        self, view1: torch.Tensor, view2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.fused:
            both = torch.cat((view1, view2))
            p1, p2 = self.predictor(self.projector(self.backbone(both))).chunk(2)
            with torch.no_grad():
                t1, t2 = self.target_projector(self.target_backbone(both)).chunk(2)
            return p1, p2, t1, t2
        p1 = self.predictor(self.projector(self.backbone(view1)))
        p2 = self.predictor(self.projector(self.backbone(view2)))
        with torch.no_grad():
            t1 = self.target_projector(self.target_backbone(view1))
            t2 = self.target_projector(self.target_backbone(view2))
        return p1, p2, t1, t2

    def step(self, k: int, view1: torch.Tensor, view2: torch.Tensor) -> float:
        p1, p2, t1, t2 = self._predictions_and_targets(view1, view2)
        loss = _regression(p1, t2) + _regression(p2, t1)
        for param in self.weights + self.excluded:
            param.grad = None
        loss.backward()
        heads = {"projector": self.projector, "predictor": self.predictor}
        for key in ZERO_GRADIENT:
            head, _, name = key.partition(".")
            grad = heads[head].get_parameter(name).grad
            self.noise = max(self.noise, float(grad.abs().max()))
        lr = _lr(k, self.total, self.warmup, self.peak)
        self.lrs.append(lr)
        with torch.no_grad():
            if self.optimizer == "lars":
                self._lars(lr)
            else:
                self._clip()
                self._adamw(lr, k + 1)
            tau = _tau(k, self.total)
            online = [p for m in (self.backbone, self.projector) for p in m.parameters()]
            for target, source in zip(
                (p for m in self.target for p in m.parameters()), online, strict=True
            ):
                target.copy_(tau * target + (1 - tau) * source)
        return float(loss.detach())

    def _lars(self, lr: float) -> None:
        for param, adapt in [(p, True) for p in self.weights] + [(p, False) for p in self.excluded]:
            update = param.grad
            if adapt:
                w_norm, g_norm = param.norm(), update.norm()
                ratio = ETA * w_norm / (g_norm + WEIGHT_DECAY * w_norm + 1e-8)
                ratio = ratio if w_norm > 0 and g_norm > 0 else torch.tensor(1.0)
                update = (update + WEIGHT_DECAY * param) * ratio
            state = self.state.setdefault(id(param), {})
            if "buffer" not in state:
                state["buffer"] = update.clone()
            else:
                state["buffer"] = MOMENTUM * state["buffer"] + update
            param -= lr * state["buffer"]

    def _clip(self) -> None:
        params = self.weights + self.excluded
        norm = torch.sqrt(sum((p.grad**2).sum() for p in params))
        if norm > GRAD_CLIP:
            self.clipped += 1
            for param in params:
                param.grad *= GRAD_CLIP / (norm + 1e-6)

    def _adamw(self, lr: float, t: int) -> None:
        beta1, beta2 = ADAM_BETAS
        for param, decay in [(p, WEIGHT_DECAY) for p in self.weights] + [
            (p, 0.0) for p in self.excluded
        ]:
            state = self.state.setdefault(
                id(param), {"m": torch.zeros_like(param), "v": torch.zeros_like(param)}
            )
            param *= 1 - lr * decay
            state["m"] = beta1 * state["m"] + (1 - beta1) * param.grad
            state["v"] = beta2 * state["v"] + (1 - beta2) * param.grad**2
            m_hat = state["m"] / (1 - beta1**t)
            v_hat = state["v"] / (1 - beta2**t)
            param -= lr * m_hat / (v_hat.sqrt() + ADAM_EPS)


def _capture(monkeypatch) -> tuple[dict[str, nn.Module], list[tuple[torch.Tensor, torch.Tensor]]]:
    """Keeps a copy of the freshly built BYOL module and of every pair of views."""
    initial: dict[str, nn.Module] = {}
    views: list[tuple[torch.Tensor, torch.Tensor]] = []
    build, augmentation = trainer_module.build_model, trainer_module.create_augmentation

    def building(*args, **kwargs):
        model = build(*args, **kwargs)
        initial["model"] = copy.deepcopy(model)
        return model

    def augmenting(*args, **kwargs):
        transform = augmentation(*args, **kwargs)

        def recording(images, generator):
            view1, view2 = transform(images, generator)
            views.append((view1.clone(), view2.clone()))
            return view1, view2

        return recording

    monkeypatch.setattr(trainer_module, "build_model", building)
    monkeypatch.setattr(trainer_module, "create_augmentation", augmenting)
    return initial, views


def _state(modules: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v for n, m in modules.items() for k, v in m.state_dict().items()}


@pytest.mark.parametrize(
    ("optimizer", "fused"),
    [("lars", False), ("adamw", False), ("adamw", True)],
    ids=["lars", "adamw", "adamw-fused-views"],
)
def test_three_trainer_steps_equal_the_reference_equations(
    monkeypatch, tiny_splits, optimizer, fused
):
    initial, views = _capture(monkeypatch)
    config = tiny_config(
        **{
            "train.batch_size": BATCH,
            "train.max_steps": STEPS,
            "train.log_every": 1,
            "optim.name": optimizer,
            "optim.lr": BASE_LR[optimizer],
            "optim.weight_decay": WEIGHT_DECAY,
            "optim.lars_eta": ETA,
            "optim.momentum": MOMENTUM,
            "optim.warmup_epochs": 0.25,  # 2 of the 8 steps of the epoch
            "optim.grad_clip": GRAD_CLIP if optimizer == "adamw" else 0.0,
            "byol.tau_base": TAU_BASE,
            "byol.fuse_views": fused,
            "model.channels_last": False,
        }
    )
    logged: list[dict] = []
    result = Trainer(config, tiny_splits, make_accelerator("no"), None, on_log=logged.append).fit()
    assert result.state.step == STEPS and len(views) == STEPS
    total = len(tiny_splits.pretrain) // BATCH
    reference = ReferenceByol(initial["model"], optimizer, total=total, warmup=2, fused=fused)
    losses = [reference.step(k, v1, v2) for k, (v1, v2) in enumerate(views)]

    # rtol 1e-5, as for the tensors below: oneDNN's AVX2 float32 kernels sum in another order
    # than its AVX-512 ones, and after two AdamW steps the third loss moved by 1.6e-6 relative
    assert [r["loss"] for r in logged] == pytest.approx(losses, rel=1e-5, abs=1e-6)
    model = result.model
    ours = _state(
        {
            "backbone": model.backbone,
            "projector": model.projector,
            "predictor": model.predictor,
            "target_backbone": model.target_backbone,
            "target_projector": model.target_projector,
        }
    )
    theirs = _state(
        {
            "backbone": reference.backbone,
            "projector": reference.projector,
            "predictor": reference.predictor,
            "target_backbone": reference.target_backbone,
            "target_projector": reference.target_projector,
        }
    )
    assert list(ours) == list(theirs)
    assert reference.noise < 1e-5
    # ... and the BatchNorm running means that average their outputs
    noisy = {*ZERO_GRADIENT, *(f"target_{k}" for k in ZERO_GRADIENT if k.startswith("proj"))}
    noisy |= {"projector.1.running_mean", "predictor.1.running_mean"}
    noisy |= {"target_projector.1.running_mean"}
    start = _state({"backbone": initial["model"].backbone})
    for key, value in ours.items():
        if optimizer == "adamw" and key in noisy:
            bound = 2 * sum(reference.lrs)
            torch.testing.assert_close(value, theirs[key], rtol=0, atol=bound, msg=key)
            continue
        torch.testing.assert_close(value, theirs[key], rtol=1e-5, atol=1e-6, msg=key)
    moved = [k for k in start if not torch.equal(ours[k], start[k])]
    assert "backbone.conv1.weight" in moved and "backbone.bn1.running_mean" in moved
    if optimizer == "adamw":
        assert reference.clipped == STEPS  # the clipping path was exercised
