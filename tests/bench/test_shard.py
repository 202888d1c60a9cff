"""``--shard I/N``: disjoint, deterministic parts that cover the matrix exactly once, and
shards run as separate processes into one results folder merge into one index."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.shard import Shard, parse_shard
from byolbench.errors import ConfigError
from tests.export_helpers import write_image_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text", ["1/1", "1/4", "4/4", " 2 / 3 "])
def test_parse_valid(text):
    shard = parse_shard(text)
    assert 1 <= shard.index <= shard.count
    assert str(shard) == text.replace(" ", "")


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "a/b", "3", "", "-1/2", "1/2/3"])
def test_parse_invalid_is_one_line_with_the_fix(text):
    with pytest.raises(ConfigError) as info:
        parse_shard(text)
    message = str(info.value)
    assert "\n" not in message and "--shard I/N" in message and "1 <= I <= N" in message


@pytest.mark.parametrize("count", [1, 2, 3, 7, 12, 13])
def test_shards_cover_every_item_exactly_once(count):
    items = list(range(12))
    parts = [Shard(i, count).select(items) for i in range(1, count + 1)]
    merged = sorted(x for part in parts for x in part)
    assert merged == items
    sizes = [len(part) for part in parts]
    assert max(sizes) - min(sizes) <= 1
    for index, part in enumerate(parts, start=1):
        assert part == sorted(part)  # the matrix's own order is kept
        assert [items.index(x) + 1 for x in part] == Shard(index, count).positions(len(items))


def test_shards_of_a_real_matrix_are_deterministic_and_disjoint():
    spec = MatrixSpec(["test_resnet", "test_vit"], ["cifar10-mini"], seeds=[0, 1, 2])
    ids = [cell.cell_id for cell in expand(spec)]
    again = [cell.cell_id for cell in expand(spec)]
    assert ids == again and len(set(ids)) == 6
    parts = [[c.cell_id for c in Shard(i, 4).select(expand(spec))] for i in (1, 2, 3, 4)]
    assert sorted(sum(parts, [])) == sorted(ids)
    assert parts[0] == [ids[0], ids[4]] and parts[3] == [ids[3]]


def _shard_process(data: Path, results: Path, shard: str) -> subprocess.Popen:
    args = [
        sys.executable,
        "-m",
        "byolbench",
        "run",
        "--backbones",
        "test_resnet",
        "--datasets",
        f"imagefolder:{data}",
        "--seeds",
        "0,1,2",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--mixed-precision",
        "no",
        "--results-dir",
        str(results),
        "--shard",
        shard,
    ]
    for item in (
        "model.projector_hidden_dim=32",
        "model.predictor_hidden_dim=32",
        "model.projector_dim=16",
        "eval.protocols=knn",
        "eval.knn_sweep=",
    ):
        args += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_two_shard_processes_at_once_fill_one_index_exactly_once(tmp_path):
    data = write_image_folder(tmp_path / "data")
    results = tmp_path / "results"
    first, second = _shard_process(data, results, "1/2"), _shard_process(data, results, "2/2")
    outputs = [proc.communicate(timeout=300)[0] for proc in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert "shard 1/2: 2 of the matrix's 3 cells (positions 1, 3)" in " ".join(outputs[0].split())
    assert "shard 2/2: 1 of the matrix's 3 cells (positions 2)" in " ".join(outputs[1].split())
    rows = pd.read_csv(results / "runs.csv")
    # 3 seeds x (byol, random) x kNN, each exactly once, whichever shard rebuilt the index last
    assert len(rows) == 6 and sorted(rows["seed"]) == [0, 0, 1, 1, 2, 2]
    assert not rows.duplicated(["cell_id", "method", "protocol"]).any()
    plan = json.loads((results / "matrix.json").read_text())
    assert len(plan["cells"]) == 3  # the whole matrix, whatever the shard

    (results / "runs.csv").unlink()
    status = subprocess.run(
        [sys.executable, "-m", "byolbench", "status", str(results), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["counts"] == {
        "done": 3,
        "running": 0,
        "failed": 0,
        "pending": 0,
    }
    assert len(pd.read_csv(results / "runs.csv")) == 6  # status rebuilt the index
