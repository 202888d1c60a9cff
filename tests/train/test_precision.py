"""Precision edge cases that change numbers on GPUs, checked on the CPU with fakes."""

from __future__ import annotations

import pytest
import torch

from byolbench.byol.model import BYOL
from byolbench.byol.momentum import tau_schedule
from byolbench.errors import TrainingError
from byolbench.train import trainer as trainer_module
from byolbench.train.accel import make_accelerator
from byolbench.train.optim import scaled_lr, warmup_cosine
from byolbench.train.precision import resolve_mixed_precision
from byolbench.train.trainer import Trainer
from tests.train.helpers import tiny_config


@pytest.mark.parametrize(
    ("capability", "expected"),
    [((7, 0), "fp16"), ((7, 5), "fp16"), ((8, 0), "bf16"), ((8, 6), "bf16"), ((9, 0), "bf16")],
)
def test_auto_precision_picks_fp16_on_gpus_without_native_bf16(monkeypatch, capability, expected):
    # torch answers True on V100 (7.0) and T4 (7.5) because it counts emulated bf16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)
    assert resolve_mixed_precision("auto", "cuda") == expected


class SkippingScaler:
    """Stands in for ``torch.amp.GradScaler``: skips the optimizer step on chosen calls (as
    an fp16 overflow does) and applies it otherwise, recording what it saw."""

    def __init__(self, events: list[tuple], skip: set[int] | None = None) -> None:
        self.events = events
        self.skip = skip
        self.calls = 0

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        return loss

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:
        del optimizer

    def step(self, optimizer: torch.optim.Optimizer, closure: object = None) -> None:
        del closure
        self.calls += 1
        skipped = self.skip is None or self.calls in self.skip
        self.events.append(("step", skipped, optimizer.param_groups[0]["lr"]))
        if not skipped:
            optimizer.step()

    def update(self) -> None:
        pass


def _skipping_trainer(monkeypatch, tiny_splits, skip: set[int] | None, **overrides: object):
    events: list[tuple] = []
    original = BYOL.update_target

    def recording(self: BYOL, tau: float) -> None:
        events.append(("ema", tau))
        original(self, tau)

    monkeypatch.setattr(BYOL, "update_target", recording)
    config = tiny_config(
        **{"optim.name": "sgd", "optim.lr": 0.4, "optim.warmup_epochs": 0.5, **overrides}
    )
    accelerator = make_accelerator("no")
    accelerator.scaler = SkippingScaler(events, skip)  # what fp16 would install on a GPU
    return Trainer(config, tiny_splits, accelerator, None), events, config


def test_a_step_the_scaler_skips_moves_no_counter_schedule_or_ema(monkeypatch, tiny_splits):
    trainer, events, config = _skipping_trainer(monkeypatch, tiny_splits, skip={3})
    result = trainer.fit()
    steps = [e for e in events if e[0] == "step"]
    # 8 optimizer steps per epoch; the skipped batch is made up by one more batch
    assert len(steps) == 9 and result.state.step == 8 == result.total_steps
    assert trainer.skipped_steps == 1 and trainer.ema_updates == 8
    # no EMA right after the skipped step, and the taus run 0..7 without a gap
    after_skip = events[events.index(steps[2]) + 1]
    assert after_skip[0] == "step"
    taus = [e[1] for e in events if e[0] == "ema"]
    assert taus == [tau_schedule(k, 8, config.byol.tau_base) for k in range(8)]
    # the learning rate of the skipped step is used again by the step that replaces it
    peak = scaled_lr(config.optim, trainer.global_batch)
    expected = [warmup_cosine(k, 8, 4, peak) for k in (0, 1, 2, 2, 3, 4, 5, 6, 7)]
    assert [e[2] for e in steps] == pytest.approx(expected, rel=1e-12)


def test_steps_skipped_forever_stop_with_a_clear_error(monkeypatch, tiny_splits):
    monkeypatch.setattr(trainer_module, "MAX_SKIPPED_IN_A_ROW", 3)
    trainer, events, _ = _skipping_trainer(monkeypatch, tiny_splits, skip=None)
    with pytest.raises(TrainingError, match="skipped 3 optimizer steps in a row"):
        trainer.fit()
    assert not [e for e in events if e[0] == "ema"]
