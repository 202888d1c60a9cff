"""A tiny, fast training configuration shared by trainer tests."""

from __future__ import annotations

from typing import Any

from byolbench.config import RunConfig

TINY = {
    "model.backbone": "test_resnet",
    "model.projector_hidden_dim": 32,
    "model.projector_dim": 16,
    "model.predictor_hidden_dim": 32,
    "train.epochs": 1,
    "train.batch_size": 8,
    "train.log_every": 2,
    "train.mixed_precision": "no",
    "optim.warmup_epochs": 0.0,
    "eval.protocols": "knn",
}


def tiny_config(**overrides: object) -> RunConfig:
    """TINY with dotted overrides (``train__epochs=2`` style keys are not used)."""
    return RunConfig().replace({**TINY, **{k: v for k, v in overrides.items()}})


def record_view_sizes(monkeypatch: Any) -> list[int]:
    """Patches ``BYOL.forward`` to append each step's view side to the returned list."""
    from byolbench.byol import model as byol_model

    seen: list[int] = []
    original = byol_model.BYOL.forward

    def recording(self: Any, view1: Any, view2: Any, *small_views: Any) -> Any:
        seen.append(view1.shape[-1])
        return original(self, view1, view2, *small_views)

    monkeypatch.setattr(byol_model.BYOL, "forward", recording)
    return seen


def record_ema_rates(monkeypatch: Any) -> list[float]:
    """Patches ``BYOL.update_target`` to append each EMA update's tau to the returned list."""
    from byolbench.byol.model import BYOL

    taus: list[float] = []
    original = BYOL.update_target

    def recording(self: Any, tau: float) -> None:
        taus.append(tau)
        original(self, tau)

    monkeypatch.setattr(BYOL, "update_target", recording)
    return taus


def record_optimizer_groups(monkeypatch: Any, optimizer_class: type) -> list[list[dict]]:
    """Patches ``optimizer_class.step`` to append a copy of its parameter groups' settings
    (everything but the parameters) at each step to the returned list."""
    seen: list[list[dict]] = []
    original = optimizer_class.step

    def recording(self: Any, closure: Any = None) -> Any:
        seen.append([{k: v for k, v in g.items() if k != "params"} for g in self.param_groups])
        return original(self, closure)

    monkeypatch.setattr(optimizer_class, "step", recording)
    return seen
