"""Killed runs resume from the newest complete checkpoint and end bit for bit the same."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from byolbench.train.checkpoint import CheckpointManager

ROOT = Path(__file__).resolve().parents[2]


def _worker(run_dir: Path, out: Path, epochs: int = 6) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.train.resume_worker", str(run_dir), str(out), str(epochs)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_checkpoint(run_dir: Path, proc: subprocess.Popen, min_step: int) -> None:
    deadline = time.time() + 120
    manager = CheckpointManager(run_dir / "checkpoints")
    while time.time() < deadline:
        steps = [int(p.name.split("-")[1]) for p in manager.candidates()]
        if steps and max(steps) >= min_step:
            return
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.01)
    raise AssertionError("no checkpoint appeared")


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path):
    reference = _worker(tmp_path / "ref", tmp_path / "ref.safetensors")
    assert reference.wait(timeout=300) == 0, reference.stdout.read()

    killed = _worker(tmp_path / "run", tmp_path / "never.safetensors")
    _wait_for_checkpoint(tmp_path / "run", killed, min_step=7)  # 16 steps per epoch: mid epoch
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert not (tmp_path / "never.safetensors").exists()

    resumed = _worker(tmp_path / "run", tmp_path / "resumed.safetensors")
    assert resumed.wait(timeout=300) == 0
    output = resumed.stdout.read()
    assert "resumed_from=" in output and "step-" in output, output
    expected = load_file(tmp_path / "ref.safetensors")
    got = load_file(tmp_path / "resumed.safetensors")
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
