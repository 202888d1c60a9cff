"""Two CPU processes through `accelerate launch` (gloo): sharding, scaling, EMA, sync."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from torch.distributed.elastic.utils.distributed import get_free_port

from byolbench.train.optim import warmup_cosine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    launcher = shutil.which("accelerate")
    assert launcher, "accelerate's launcher is not on PATH"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            launcher,
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--main_process_port",
            str(get_free_port()),
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "tests.train.dist_worker",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


def test_two_processes_ran(ranks):
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world"] == 2 for r in ranks)


def test_data_is_sharded_without_overlap(ranks):
    for epoch in ("0", "1"):
        first, second = set(ranks[0]["seen"][epoch]), set(ranks[1]["seen"][epoch])
        assert not first & second
        assert len(first) == len(second) == 32 and first | second == set(range(64))


def test_global_batch_lr_and_ema_scale_with_processes(ranks):
    for r in ranks:
        assert r["global_batch"] == 16  # 8 per process x 2 processes
        assert r["steps"] == r["ema_updates"] == 8  # 4 optimizer steps per epoch x 2
        peak = 0.8 * 16 / 256
        expected = [warmup_cosine(s, 8, 4, peak) for s in range(1, 9)]
        assert r["lrs"] == pytest.approx(expected)


def test_parameters_and_metrics_identical_across_ranks(ranks):
    assert ranks[0]["online"] == ranks[1]["online"]
    assert ranks[0]["target"] == ranks[1]["target"]
    assert ranks[0]["losses"] == ranks[1]["losses"]  # reduced over processes


def test_features_gathered_in_order_without_padding(ranks):
    for r in ranks:
        assert r["features_shape"][0] == 32  # 32 test images; batches of 5 do not divide it
        assert r["features_max_diff"] < 1e-5
