"""Damaged checkpoints, non-finite losses, collapse warnings and stop requests."""

import logging
import math
import signal

import pytest
import torch
from safetensors.torch import load_file

from byolbench.byol.model import BYOL, ByolOutput
from byolbench.errors import TrainingError
from byolbench.train.accel import make_accelerator
from byolbench.train.checkpoint import CheckpointManager
from byolbench.train.trainer import Trainer, TrainingInterrupted
from tests.train.helpers import tiny_config


def _train(tmp_path, splits, **overrides):
    config = tiny_config(**{"train.checkpoint_every": 2, "train.keep_checkpoints": 5, **overrides})
    return Trainer(config, splits, make_accelerator("no"), tmp_path).fit()


def test_truncated_newest_checkpoint_is_skipped_with_warning(tmp_path, tiny_splits, caplog):
    _train(tmp_path, tiny_splits)
    manager = CheckpointManager(tmp_path / "checkpoints")
    newest, previous = manager.candidates()[:2]
    model_file = newest / "model.safetensors"
    model_file.write_bytes(model_file.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="byolbench"):
        found = manager.latest_valid()
    assert found is not None and found[0] == previous
    assert newest.name in caplog.text and "truncated" in caplog.text


def test_altered_checkpoint_is_skipped(tmp_path, tiny_splits):
    _train(tmp_path, tiny_splits)
    manager = CheckpointManager(tmp_path / "checkpoints")
    newest = manager.candidates()[0]
    data = bytearray((newest / "optimizer.pt").read_bytes())
    data[-20] ^= 0xFF
    (newest / "optimizer.pt").write_bytes(bytes(data))
    assert manager.latest_valid()[0] == manager.candidates()[1]


def test_keeps_only_the_newest_checkpoints(tmp_path, tiny_splits):
    _train(tmp_path, tiny_splits, **{"train.keep_checkpoints": 2})
    names = [p.name for p in CheckpointManager(tmp_path / "checkpoints").candidates()]
    assert names == ["step-00000008", "step-00000006"]
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))


def test_non_finite_loss_stops_with_a_clear_message(tmp_path, tiny_splits, monkeypatch):
    original = BYOL.forward
    calls = {"n": 0}

    def poisoned(self, view1, view2):
        out = original(self, view1, view2)
        calls["n"] += 1
        if calls["n"] >= 4:  # from the 4th step on
            return ByolOutput(out.loss * float("nan"), out.projection_std)
        return out

    monkeypatch.setattr(BYOL, "forward", poisoned)
    with pytest.raises(TrainingError) as info:
        _train(tmp_path, tiny_splits, **{"train.log_every": 100})
    message = str(info.value)
    assert "non-finite loss" in message and "step 4" in message
    assert "last finite loss" in message and "optim.lr" in message
    kept = CheckpointManager(tmp_path / "checkpoints").latest_valid()
    assert kept is not None and kept[0].name == "step-00000002"
    weights = load_file(kept[0] / "model.safetensors")
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())


def test_collapse_is_detected_without_predictor_and_tau_zero(tiny_splits, caplog):
    config = tiny_config(
        **{
            "model.use_predictor": False,
            "byol.tau_base": 0.0,
            "train.epochs": 6,
            "optim.name": "sgd",
            "optim.lr": 50.0,
            "train.log_every": 1,
            "train.collapse_window": 3,
        }
    )
    with caplog.at_level(logging.WARNING, logger="byolbench"):
        result = Trainer(config, tiny_splits, make_accelerator("no"), None).fit()
    stds = [r["projection_std"] for r in result.history]
    assert stds[-1] < 0.2 / math.sqrt(16)
    assert "collapse" in caplog.text and "model.use_predictor" in caplog.text


def test_healthy_run_gives_no_collapse_warning(tiny_splits, caplog):
    with caplog.at_level(logging.WARNING, logger="byolbench"):
        Trainer(tiny_config(), tiny_splits, make_accelerator("no"), None).fit()
    assert "collapse" not in caplog.text


def test_stop_request_writes_checkpoint_and_says_how_to_resume(tmp_path, tiny_splits):
    steps = []

    def on_step(step, total):
        steps.append(step)
        if step == 3:
            signal.raise_signal(signal.SIGINT)

    config = tiny_config(**{"train.epochs": 2})
    trainer = Trainer(config, tiny_splits, make_accelerator("no"), tmp_path, on_step=on_step)
    with pytest.raises(TrainingInterrupted, match="run the same command again"):
        trainer.fit()
    assert steps[-1] == 3
    newest = CheckpointManager(tmp_path / "checkpoints").latest_valid()
    assert newest is not None and newest[0].name == "step-00000003"
    resumed = Trainer(config, tiny_splits, make_accelerator("no"), tmp_path).fit()
    assert resumed.resumed_from.endswith("step-00000003") and resumed.state.step == 16
