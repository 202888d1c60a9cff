"""`byolbench run --executor slurm` without a cluster: what a dry run shows, and one-line
errors (exit 2) for missing tools and bad options before anything is submitted or written."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.store import ResultsStore
from byolbench.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ["run", "--backbones", "test_resnet", "--datasets", "cifar10-mini", "--seeds", "0,1,2"]


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def _main(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
        raise SystemExit(0)
    captured = capsys.readouterr()
    return info.value.code, " ".join(captured.out.split()), captured.err.strip()


def test_dry_run_shows_resources_jobs_and_skips_finished_cells(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch: a dry run does not need SLURM
    results = tmp_path / "results"
    finished = expand(MatrixSpec(["test_resnet"], ["cifar10-mini"], seeds=[1]))[0]
    ResultsStore(results).write_cell_rows(finished.cell_id, finished.config.config_hash(), [{}])
    args = [*MATRIX, "--results-dir", str(results), "--executor", "slurm", "--dry-run"]
    args += ["--partition", "gpu", "--gpus-per-node", "4", "--time", "2:00:00"]
    args += ["--sbatch", "constraint=a100", "--account", "lab"]
    code, out, _ = _main(args, capsys)
    assert code == 0, out
    assert "would submit 2 SLURM job(s) as one job array" in out
    for text in ("partition gpu", "GPUs 4 per node", "processes 4 per node (Accelerate)",
                 "2:00:00 (120 min", "account lab", "sbatch --constraint=a100",
                 f"logs {results / 'slurm'}/"):  # fmt: skip
        assert text in out, text
    assert f"{finished.cell_id} finished: skipped" in out
    assert re.search(r"__s0__\w+ submit", out) and re.search(r"__s2__\w+ submit", out)
    assert not (results / "matrix.json").exists() and not (results / "slurm").exists()


def test_shard_dry_run_lists_its_cells_only(tmp_path, capsys):
    args = [*MATRIX, "--results-dir", str(tmp_path), "--shard", "2/2", "--dry-run"]
    code, out, _ = _main(args, capsys)
    assert code == 0
    assert "shard 2/2: 1 of the matrix's 3 cells (positions 2)" in out
    assert "1 cell(s) (a dry run trains nothing)" in out and "__s1__" in out


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--executor", "pbs"], "--executor 'pbs' is not known; valid: local, slurm"),
        (["--partition", "gpu"], "--partition only apply to --executor slurm"),
        (["--wait"], "--wait only apply to --executor slurm"),
        (["--shard", "3/2"], "--shard '3/2' is out of range"),
        (["--executor", "slurm", "--time", "soon"], "is not a SLURM time limit"),
        (["--executor", "slurm", "--nodes", "0"], "integer >= 1"),
    ],
)
def test_bad_cluster_options_are_one_line(tmp_path, capsys, extra, needle):
    code, _, err = _main([*MATRIX, "--results-dir", str(tmp_path / "r"), *extra], capsys)
    assert code == 2 and needle in " ".join(err.split()), err
    assert not (tmp_path / "r").exists()


def test_missing_sbatch_is_one_line_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    args = [*MATRIX, "--results-dir", str(tmp_path / "r"), "--executor", "slurm"]
    code, _, err = _main(args, capsys)
    assert code == 2 and "needs SLURM's sbatch, which is not on PATH" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "r" / "matrix.json").exists()


def test_missing_submitit_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit raises ImportError
    args = [*MATRIX, "--results-dir", str(tmp_path / "r"), "--executor", "slurm"]
    code, _, err = _main(args, capsys)
    assert code == 2 and "pip install 'byolbench[slurm]'" in err and len(err.splitlines()) == 1


def test_unknown_executor_key_in_the_matrix_file(tmp_path, capsys):
    path = tmp_path / "m.toml"
    path.write_text(
        '[matrix]\nbackbones = ["test_resnet"]\ndatasets = ["cifar10-mini"]\n[executor]\ngpus = 4\n'
    )
    args = ["run", "--config", str(path), "--executor", "slurm", "--dry-run"]
    code, _, err = _main(args, capsys)
    assert code == 2 and "unknown key executor.gpus" in err and "did you mean gpus_per_node" in err


def test_the_installed_script_exits_2_on_a_bad_executor(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "byolbench",
            *MATRIX,
            "--results-dir",
            str(tmp_path),
            "--executor",
            "kubernetes",
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "--shard 1/N ... N/N" in " ".join(proc.stderr.split())
