"""`byolbench run` as two CPU processes (`accelerate launch`, gloo): one process group trains
the cell once, the claim is taken by rank 0 only (a SLURM job of two tasks runs the same way)."""

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
from torch.distributed.elastic.utils.distributed import get_free_port

from tests.export_helpers import write_image_folder

ROOT = Path(__file__).resolve().parents[2]


def test_two_cpu_processes_train_one_cell_together(tmp_path):
    data = write_image_folder(tmp_path / "data", classes=4, train=8, test=2, size=16)
    launcher = shutil.which("accelerate")
    assert launcher, "accelerate's launcher is not on PATH"
    args = [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
            "--main_process_port", str(get_free_port()),
            "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "byolbench", "run",
            "--backbones", "test_resnet", "--datasets", f"imagefolder:{data}", "--epochs", "1",
            "--batch-size", "4", "--mixed-precision", "no", "--results-dir",
            str(tmp_path / "results")]  # fmt: skip
    for item in (
        "model.projector_hidden_dim=16",
        "model.predictor_hidden_dim=16",
        "model.projector_dim=8",
        "eval.protocols=knn",
        "eval.knn_sweep=",
        "eval.random_baseline=false",
    ):
        args += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "is running in" not in proc.stdout + proc.stderr  # no rank saw the other's claim
    rows = pd.read_csv(tmp_path / "results" / "runs.csv")
    assert len(rows) == 1
    # 32 images, 4 per process per step, 2 processes: a global batch of 8, 4 steps
    assert (int(rows["num_processes"][0]), int(rows["batch_size"][0])) == (2, 8)
    assert int(rows["steps"][0]) == 4
