"""Matrix runs: failures recorded, fail-fast, and kill-then-rerun without repeats or losses."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.progress import read_sessions
from byolbench.bench.runner import RunOptions, run_matrix
from byolbench.bench.store import ResultsStore
from tests.bench.folders import write_corrupt_folder, write_small_folder

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "data.max_train_samples": "128",
    "train.epochs": "1",
    "train.batch_size": "32",
    "train.mixed_precision": "no",
    "train.log_every": "1",
    "model.projector_hidden_dim": "32",
    "model.predictor_hidden_dim": "32",
    "model.projector_dim": "16",
    "eval.protocols": "knn",
    "eval.knn_sweep": "",  # only the headline k=200: one kNN row per method
}


def _cells(datasets, seeds=(0,)):
    return expand(MatrixSpec(["test_resnet"], list(datasets), seeds=list(seeds), sets=TINY))


def test_failed_cell_is_recorded_and_the_matrix_goes_on(tmp_path):
    corrupt = write_corrupt_folder(tmp_path / "corrupt")
    small = write_small_folder(tmp_path / "small")
    cells = _cells([f"imagefolder:{corrupt}", small])
    outcomes = run_matrix(cells, RunOptions(results_dir=tmp_path / "results"))
    assert [o.status for o in outcomes] == ["failed", "done"]
    assert "could be decoded" in outcomes[0].error
    failures = pd.read_csv(tmp_path / "results" / "failures.csv")
    assert len(failures) == 1 and "could be decoded" in failures["error"].iloc[0]
    error = json.loads((outcomes[0].run_dir / "error.json").read_text())
    assert "could be decoded" in error["error"] and error["traceback"]
    rows = ResultsStore(tmp_path / "results").read()
    assert set(rows["dataset"]) == {small} and len(rows) == 2  # byol + random kNN


def test_fail_fast_stops_at_the_first_failure(tmp_path):
    from byolbench.errors import DataError

    corrupt = write_corrupt_folder(tmp_path / "corrupt")
    cells = _cells([f"imagefolder:{corrupt}", write_small_folder(tmp_path / "small")])
    with pytest.raises(DataError):
        run_matrix(cells, RunOptions(results_dir=tmp_path / "results", fail_fast=True))
    assert not (tmp_path / "results" / "runs.csv").exists()
    assert (tmp_path / "results" / "failures.csv").exists()


def _cli(results: Path, dataset: str) -> subprocess.Popen:
    args = [
        sys.executable,
        "-m",
        "byolbench",
        "run",
        "--backbones",
        "test_resnet",
        "--datasets",
        dataset,
        "--seeds",
        "0,1,2",
        "--results-dir",
        str(results),
    ]
    # 12 epochs of 4 steps: from its first checkpoint the second cell trains 44 more steps, so
    # the kill below lands mid-training even when the polling loop is slow; seconds a cell
    for key, value in {**TINY, "train.epochs": "12", "train.checkpoint_every": "4"}.items():
        args += ["--set", f"{key}={value}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_killed_matrix_reruns_without_repeating_or_losing_cells(tmp_path):
    results = tmp_path / "results"
    dataset = write_small_folder(tmp_path / "small")
    proc = _cli(results, dataset)
    deadline = time.time() + 300
    # kill while the second cell trains: the first cell's rows are in, a checkpoint exists
    while time.time() < deadline:
        rows = ResultsStore(results).read()
        second = list((results / "runs").glob("*__s1__*/checkpoints/step-*"))
        if len(rows) == 2 and second:
            break
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert len(ResultsStore(results).read()) == 2

    again = _cli(results, dataset)
    output, _ = again.communicate(timeout=600)
    assert again.returncode == 0, output
    text = " ".join(output.split())
    assert "1 already finished" in text
    assert "resuming cell" in text and "__s1__" in text and "from " in text, output  # on console
    (second_dir,) = (results / "runs").glob("*__s1__*")
    sessions = read_sessions(second_dir)
    assert [s["status"] for s in sessions] == ["killed", "done"]  # the record shows the kill
    assert sessions[1]["resumed_from"] and sessions[1]["start_step"] > 0
    rows = ResultsStore(results).read()
    assert len(rows) == 6  # 3 seeds x (byol, random) x kNN, each exactly once
    assert sorted(rows["seed"].tolist()) == [0, 0, 1, 1, 2, 2]
    assert not rows.duplicated(["cell_id", "method", "protocol"]).any()
