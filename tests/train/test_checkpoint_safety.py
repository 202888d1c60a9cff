"""A checkpoint whose optimizer.pt cannot be read with weights_only=True is skipped."""

from __future__ import annotations

import collections
import errno
import json
import logging

import pytest
import torch

from byolbench.hashing import sha256_file
from byolbench.train.accel import make_accelerator
from byolbench.train.checkpoint import CheckpointManager
from byolbench.train.trainer import Trainer
from tests.train.helpers import tiny_config


class Gadget:
    """Any object outside torch's weights-only allow list."""

    def __init__(self) -> None:
        self.payload = "runs code when unpickled with weights_only=False"


def _poison(checkpoint) -> None:
    """Rewrites optimizer.pt with a pickled object and fixes the manifest to match, as a
    checkpoint from someone else (or an older writer) would be."""
    optimizer_file = checkpoint / "optimizer.pt"
    payload = torch.load(optimizer_file, weights_only=True)
    payload["extra"] = Gadget()
    payload["counts"] = collections.Counter(a=1)
    torch.save(payload, optimizer_file)
    state_file = checkpoint / "state.json"
    record = json.loads(state_file.read_text())
    record["files"]["optimizer.pt"] = {
        "size": optimizer_file.stat().st_size,
        "sha256": sha256_file(optimizer_file),
    }
    state_file.write_text(json.dumps(record))


def test_unsafe_optimizer_file_is_skipped_naming_it_and_the_previous_checkpoint_used(
    tmp_path, tiny_splits, caplog
):
    config = tiny_config(**{"train.checkpoint_every": 2, "train.keep_checkpoints": 5})
    Trainer(config, tiny_splits, make_accelerator("no"), tmp_path).fit()
    manager = CheckpointManager(tmp_path / "checkpoints")
    newest, previous = manager.candidates()[:2]
    _poison(newest)
    with caplog.at_level(logging.WARNING, logger="byolbench"):
        found = manager.latest_valid()
    assert found is not None and found[0] == previous
    assert str(newest / "optimizer.pt") in caplog.text and "weights_only=True" in caplog.text

    # a rerun resumes from the previous checkpoint instead of failing on every rerun
    more = tiny_config(
        **{"train.checkpoint_every": 2, "train.keep_checkpoints": 5, "train.epochs": 1}
    )
    result = Trainer(more, tiny_splits, make_accelerator("no"), tmp_path).fit()
    assert result.resumed_from == str(previous)
    assert result.state.step == 8


def test_a_full_disk_while_checkpointing_leaves_no_checkpoint_taken_as_valid(
    tmp_path, tiny_splits, monkeypatch
):
    from byolbench.train import checkpoint as checkpoint_module

    real_save = checkpoint_module.torch.save
    calls = {"n": 0}

    def save_until_full(obj, path):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint: half the file, then the disk is full
            with open(path, "wb") as handle:
                handle.write(b"\x80\x02half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path)

    monkeypatch.setattr(checkpoint_module.torch, "save", save_until_full)
    config = tiny_config(**{"train.checkpoint_every": 2, "train.keep_checkpoints": 5})
    with pytest.raises(OSError, match="No space left"):
        Trainer(config, tiny_splits, make_accelerator("no"), tmp_path).fit()
    manager = CheckpointManager(tmp_path / "checkpoints")
    assert [p.name for p in manager.candidates()] == ["step-00000002"]
    found = manager.latest_valid()
    assert found is not None and found[0].name == "step-00000002"

    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    result = Trainer(config, tiny_splits, make_accelerator("no"), tmp_path).fit()
    assert result.resumed_from.endswith("step-00000002") and result.state.step == 8
