"""A tiny, fast training configuration shared by trainer tests."""

from __future__ import annotations

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
