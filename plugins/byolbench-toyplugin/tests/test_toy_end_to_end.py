"""End to end: `byolbench run` with the plugin's backbone, augmentation and dataset."""

import pytest

pytest.importorskip(
    "byolbench_toyplugin",
    reason="byolbench-toyplugin is not installed: pip install -e plugins/byolbench-toyplugin",
)

import pandas as pd  # noqa: E402
from byolbench.cli.main import app  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

TINY_ARGS = [
    "run",
    "--backbones",
    "toy_convnet",
    "--datasets",
    "toy-shapes",
    "--augmentations",
    "toy-mild",
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--max-train-samples",
    "128",
    "--mixed-precision",
    "no",
    "--set",
    "model.projector_hidden_dim=32",
    "--set",
    "model.predictor_hidden_dim=32",
    "--set",
    "model.projector_dim=16",
    "--set",
    "eval.linear_max_iter=20",
    "--set",
    "eval.linear_l2_grid=0.001",
    "--set",
    "eval.knn_k=20",
    "--set",
    "eval.knn_sweep=",  # the headline k only
]


def test_run_with_every_plugin_kind(tmp_path):
    result = CliRunner().invoke(app, [*TINY_ARGS, "--results-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "runs.csv")
    assert len(frame) == 4
    assert (frame["backbone"] == "toy_convnet").all()
    assert (frame["dataset"] == "toy-shapes").all()
    assert (frame["augmentation"] == "toy-mild").all()
    assert set(zip(frame["method"], frame["protocol"], strict=True)) == {
        ("byol", "knn"),
        ("byol", "linear"),
        ("random", "knn"),
        ("random", "linear"),
    }
    assert (frame["steps"] == 128 // 32).all() and (frame["image_size"] == 32).all()
    assert frame["top1"].between(0, 100).all()
    assert (frame["top1"] > 25).any()  # better than chance somewhere on 4 classes
