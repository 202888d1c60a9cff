"""benchmarks/profile_step.py builds throughput.py's trainer (their shared config builder)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from profile_step import _trainer  # noqa: E402
from throughput import MODELS  # noqa: E402


def test_the_profiled_trainer_is_the_default_lever_row() -> None:
    trainer = _trainer("resnet10t", 4, 3, lambda step, total: None)
    config = trainer.config
    assert config.model.backbone == MODELS["resnet10t"][0]
    assert (config.train.batch_size, config.train.max_steps) == (4, 3)
    assert config.model.channels_last and not config.train.compile
