"""Two real ``byolbench run`` processes started together on one results folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from byolbench.bench.progress import read_sessions
from byolbench.bench.store import ResultsStore
from tests.export_helpers import write_image_folder

ROOT = Path(__file__).resolve().parents[2]
SETS = {
    "train.epochs": "10",  # 80 steps: long enough that the second process finds it running
    "train.batch_size": "8",
    "train.mixed_precision": "no",
    "model.projector_hidden_dim": "32",
    "model.predictor_hidden_dim": "32",
    "model.projector_dim": "16",
    "eval.protocols": "knn",
    "eval.knn_sweep": "",
    "eval.random_baseline": "false",
}


def _start(data: Path, results: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "byolbench", "run", "--backbones", "test_resnet"]
    args += ["--datasets", f"imagefolder:{data}", "--results-dir", str(results), *extra]
    for key, value in SETS.items():
        args += ["--set", f"{key}={value}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _both(data: Path, results: Path, *extra: str) -> list[tuple[int, str]]:
    procs = [_start(data, results, *extra), _start(data, results, *extra)]
    finished = []
    for proc in procs:
        output, _ = proc.communicate(timeout=600)
        finished.append((proc.returncode, " ".join(output.split())))
    return finished


def _check_results(results: Path) -> None:
    store = ResultsStore(results)
    rows = store.read()
    assert len(rows) == 1 and not rows.duplicated(["cell_id", "method", "protocol"]).any()
    assert not store.failures_csv.exists() and store.current_failures() == []
    (cell_id,) = store.cell_ids()
    sessions = read_sessions(store.run_dir(cell_id))
    assert [s["status"] for s in sessions] == ["done"]  # trained once, by one process
    assert not (store.run_dir(cell_id) / "claim.json").exists()


def test_the_second_process_skips_the_cell_the_first_is_training(tmp_path):
    data = write_image_folder(tmp_path / "pets", classes=4, train=16, test=4, size=16)
    outcomes = _both(data, tmp_path / "results")
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    trained = [text for _, text in outcomes if "1 cell(s) run" in text]
    skipped = [text for _, text in outcomes if "1 running in another process" in text]
    assert len(trained) == 1 and len(skipped) == 1, outcomes
    assert "is running in pid" in skipped[0] and "0 failed" in skipped[0]
    assert "Traceback" not in trained[0] + skipped[0]
    _check_results(tmp_path / "results")


def test_wait_for_running_waits_then_finds_the_cell_finished(tmp_path):
    data = write_image_folder(tmp_path / "pets", classes=4, train=16, test=4, size=16)
    outcomes = _both(data, tmp_path / "results", "--wait-for-running")
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    trained = [text for _, text in outcomes if "1 cell(s) run" in text]
    waited = [text for _, text in outcomes if "waiting for cell" in text]
    assert len(trained) == 1 and len(waited) == 1, outcomes
    assert "0 cell(s) run, 1 already finished and skipped, 0 failed" in waited[0]
    _check_results(tmp_path / "results")
    frame = pd.read_csv(tmp_path / "results" / "runs.csv")
    assert len(frame) == 1
