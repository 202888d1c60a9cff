"""End to end: a tiny matrix through the real CLI."""

import json

import pandas as pd
from typer.testing import CliRunner

from byolbench.bench.store import RESULT_COLUMNS
from byolbench.cli.main import app

TINY_ARGS = [
    "run",
    "--backbones",
    "test_resnet",
    "--datasets",
    "cifar10-mini",
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--max-train-samples",
    "256",
    "--mixed-precision",
    "no",
    "--set",
    "model.projector_hidden_dim=32",
    "--set",
    "model.predictor_hidden_dim=32",
    "--set",
    "model.projector_dim=16",
    "--set",
    "eval.linear_max_iter=30",
    "--set",
    "data.image_size=16",  # the 2,000 test images' features dominate the run: a quarter at 16 px
]


def test_tiny_matrix_end_to_end(tmp_path):
    runner = CliRunner()
    args = [*TINY_ARGS, "--results-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "runs.csv")
    assert list(frame.columns) == list(RESULT_COLUMNS)
    assert len(frame) == 10  # per method: the kNN sweep (4 k) and the linear probe
    variants = frame["variant"].fillna("")
    assert set(zip(frame["method"], frame["protocol"], variants, strict=True)) == {
        (method, protocol, variant)
        for method in ("byol", "random")
        for protocol, variant in [
            ("knn", "k=10"),
            ("knn", "k=20"),
            ("knn", "k=100"),
            ("knn", "k=200"),
            ("linear", ""),
        ]
    }
    assert frame["rankme"].between(1, 512).all()  # at most the feature width
    assert frame["top1"].between(0, 100).all() and (frame["top5"] >= frame["top1"]).all()
    assert (frame["top1"] > 10).any()  # better than chance somewhere on 10 classes
    assert (frame["backbone"] == "test_resnet").all() and (frame["dataset"] == "cifar10-mini").all()
    assert (frame["epochs"] == 1).all() and (frame["batch_size"] == 32).all()
    assert (frame["steps"] == 256 // 32).all()
    assert (frame["pretrain_seconds"] > 0).all() and (frame["images_per_second"] > 0).all()
    assert frame["timestamp"].notna().all() and frame["config_hash"].nunique() == 1
    assert "cifar10-mini: top-1 accuracy" in result.output
    assert "1 cell(s) run, 0 already finished and skipped, 0 failed" in " ".join(
        result.output.split()
    )
    summary = (tmp_path / "summary.md").read_text()
    assert "| test_resnet |" in summary
    run_dir = tmp_path / "runs" / frame["cell_id"].iloc[0]
    for name in ("config.json", "env.json", "metrics.jsonl", "eval.json", "model.safetensors"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "checkpoints").exists()
    env = json.loads((run_dir / "env.json").read_text())
    for key in (
        "python",
        "torch",
        "timm",
        "accelerate",
        "byolbench",
        "git_commit",
        "device",
        "num_processes",
    ):
        assert key in env, key
    assert env["num_processes"] == 1 and env["device"].startswith("cpu")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["backbone"] == "test_resnet" and config["train"]["epochs"] == 1
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert metrics and {"step", "loss", "lr", "tau", "projection_std", "images_per_second"} <= set(
        metrics[-1]
    )

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "0 cell(s) run, 1 already finished and skipped, 0 failed" in " ".join(
        again.output.split()
    )
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 10  # nothing repeated


def test_unknown_backbone_is_one_red_line(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "byolbench",
            "run",
            "--backbones",
            "resnet_18",
            "--datasets",
            "cifar10-mini",
            "--results-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "resnet18" in lines[0] and "Traceback" not in proc.stderr


def test_error_text_in_square_brackets_is_printed_as_is(capsys):
    import pytest

    from byolbench.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--set", "optim.lrr=1", "--dry-run"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "valid keys in [optim]: name, lr" in " ".join(err.split())


def test_quick_default_names_the_pretraining_length_the_run_will_use(tmp_path):
    runner = CliRunner()
    for extra, length in (
        ([], "9 minutes of pretraining"),
        (["--epochs", "12"], "12 epochs of pretraining"),
        (["--time-budget", "90s"], "90 seconds of pretraining"),
        (["--set", "train.max_steps=50"], "50 steps of pretraining"),
        (["--time-budget", "1m"], "quick preset (1 minute of pretraining"),
        (["--preset", "standard"], "standard preset (200 epochs of pretraining"),
    ):
        args = ["run", "--dry-run", "--results-dir", str(tmp_path), *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert length in " ".join(result.output.split()), (extra, result.output)
