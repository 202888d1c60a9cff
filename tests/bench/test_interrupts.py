"""SIGTERM and Ctrl-C outside the training loop: status 130, the resume hint, then a resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from byolbench.bench.interrupts import interruptible, signals_held, sigterm_as_interrupt
from byolbench.bench.progress import read_sessions
from byolbench.train.trainer import TrainingInterrupted

ROOT = Path(__file__).resolve().parents[2]
SETS = {
    "data.max_train_samples": "64",
    # a quarter of the pixels: evaluating the 2,000 test images still takes seconds, time enough
    # for the signal to land in it
    "data.image_size": "16",
    "train.epochs": "1",
    "train.batch_size": "32",
    "train.mixed_precision": "no",
    "train.log_every": "1",
    "model.projector_hidden_dim": "32",
    "model.predictor_hidden_dim": "32",
    "model.projector_dim": "16",
    "eval.protocols": "knn",
    "eval.knn_sweep": "",
    "eval.random_baseline": "false",
}


def _command(results: Path) -> list[str]:
    args = [sys.executable, "-m", "byolbench", "run", "--backbones", "test_resnet"]
    args += ["--datasets", "cifar10-mini", "--results-dir", str(results)]
    for key, value in SETS.items():
        args += ["--set", f"{key}={value}"]
    return args


def _start(results: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        _command(results),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _signal_when(proc: subprocess.Popen, ready, signum: int = signal.SIGTERM) -> str:
    deadline = time.time() + 300
    while not ready():
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline, "the run never reached the point to interrupt"
        time.sleep(0.01)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    return " ".join(output.split())


def _run_dir(results: Path) -> Path | None:
    found = list((results / "runs").glob("*")) if (results / "runs").is_dir() else []
    return found[0] if found else None


def test_sigterm_during_evaluation_says_how_to_resume_and_the_rerun_does_not_train_again(tmp_path):
    results = tmp_path / "results"
    proc = _start(results)

    def evaluating() -> bool:  # the final weights are written just before evaluation
        run_dir = _run_dir(results)
        return run_dir is not None and (run_dir / "model.safetensors").exists()

    text = _signal_when(proc, evaluating)
    assert proc.returncode == 130, text
    assert (
        "stopped while evaluating cell" in text and "run the same command again to resume" in text
    )
    assert "Traceback" not in text
    run_dir = _run_dir(results)
    assert not (run_dir / "eval.json").exists()

    again = _start(results)
    output, _ = again.communicate(timeout=600)
    text = " ".join(output.split())
    assert again.returncode == 0, text
    assert "resuming cell" in text and "at step 2 of 2 from" in text and "step-00000002" in text
    sessions = read_sessions(run_dir)
    assert [s["status"] for s in sessions] == ["interrupted", "done"]
    assert sessions[1]["resumed_from"].endswith("step-00000002")
    assert sessions[1]["start_step"] == sessions[1]["end_step"] == 2  # not trained again
    assert (run_dir / "eval.json").exists()


def test_sigterm_during_start_up_gets_the_resume_hint(tmp_path):
    results = tmp_path / "results"
    proc = _start(results)

    def claimed() -> bool:  # the cell is claimed before its accelerator and data are made
        run_dir = _run_dir(results)
        return run_dir is not None and (run_dir / "claim.json").exists()

    text = _signal_when(proc, claimed)
    assert proc.returncode == 130, text
    assert "run the same command again to resume" in text and "Traceback" not in text
    run_dir = _run_dir(results)
    assert not (run_dir / "claim.json").exists()  # released on the way out
    assert [s["status"] for s in read_sessions(run_dir)] == ["interrupted"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_become_an_interrupt_with_the_stage_named(signum):
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # e.g. pytest run in the background
        previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    else:
        previous_int = signal.getsignal(signal.SIGINT)
    before = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(TrainingInterrupted) as info:  # noqa: SIM117
            with sigterm_as_interrupt(), interruptible("evaluating cell c", "its weights are kept"):
                os.kill(os.getpid(), signum)
                time.sleep(5)
    finally:
        signal.signal(signal.SIGINT, previous_int)
    message = str(info.value)
    assert message.startswith("stopped while evaluating cell c; its weights are kept;")
    assert message.endswith("run the same command again to resume")
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_held_signal_is_noted_and_a_second_one_raises(signum):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with signals_held() as arrived:
        os.kill(os.getpid(), signum)
        time.sleep(0.2)  # delivered meanwhile, but not raised
        assert arrived == [signum]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signum)
            time.sleep(5)
    assert {s: signal.getsignal(s) for s in before} == before
