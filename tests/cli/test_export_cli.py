"""``byolbench export``, ``evaluate`` and ``embed`` through the real CLI."""

from __future__ import annotations

import json

import huggingface_hub.constants
import numpy as np
import pandas as pd
import pytest
import timm
from PIL import Image
from typer.testing import CliRunner

from byolbench.bench.store import RESULT_COLUMNS
from byolbench.cli.main import app, main
from tests.export_helpers import fake_hub_cache


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def red_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Runs ``main`` expecting a ``ByolbenchError``; returns its one stderr line."""
    with pytest.raises(SystemExit) as exc_info:
        main(list(args))
    assert exc_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    return lines[0]


@pytest.mark.parametrize("command", ["export", "evaluate", "embed"])
def test_help_shows_an_example(command):
    output = invoke(command, "--help")
    assert "Example" in output and f"byolbench {command}" in output


def test_export_then_evaluate_and_embed(runs, tmp_path):
    out = tmp_path / "vit-byol"
    output = invoke("export", str(runs["test_vit"]), "--out", str(out), "--with-heads")
    assert "local-dir" in output
    assert {p.name for p in out.iterdir()} == {
        "model.safetensors",
        "heads.safetensors",
        "config.json",
        "training.json",
        "README.md",
    }

    results = tmp_path / "results"
    dataset = f"imagefolder:{runs['data']}"
    output = invoke(
        "evaluate",
        str(out),
        "--dataset",
        dataset,
        "--protocol",
        "knn",
        "--results-dir",
        str(results),
        "--cpu",
    )
    assert "wrote 1 row(s)" in output
    frame = pd.read_csv(results / "runs.csv")
    assert list(frame.columns) == list(RESULT_COLUMNS)
    assert frame.loc[0, "method"] == "byol" and frame.loc[0, "protocol"] == "knn"
    assert frame.loc[0, "backbone"] == "test_vit" and frame.loc[0, "dataset"] == dataset
    own = json.loads((runs["test_vit"] / "eval.json").read_text())["rows"][0]
    assert frame.loc[0, "top1"] == pytest.approx(own["top1"])
    invoke("report", str(results))  # the new rows fit the comparison tables

    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        Image.fromarray(np.full((40, 36, 3), 60 * i, np.uint8)).save(images / f"{i}.jpg")
    output = invoke(
        "embed",
        str(out),
        "--images",
        str(images),
        "--out",
        str(tmp_path / "emb.npy"),
        "--normalize",
        "--cpu",
    )
    assert "embedded 2 image(s) into 64 dimensions" in output
    vectors = np.load(tmp_path / "emb.npy")
    assert vectors.shape == (2, 64) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert json.loads((tmp_path / "emb.json").read_text())["files"] == ["0.jpg", "1.jpg"]


def test_evaluate_timm_pretrained_from_cache(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    dataset = f"imagefolder:{runs['data']}"
    args = [
        "evaluate",
        "test_resnet",
        "--pretrained",
        "--dataset",
        dataset,
        "--image-size",
        "32",
        "--protocol",
        "knn",
        "--results-dir",
        str(tmp_path / "results"),
        "--cpu",
    ]
    assert "would need a download" in red_line(capsys, *args)
    assert "add --pretrained" in red_line(capsys, *[a for a in args if a != "--pretrained"])

    fake_hub_cache(
        tmp_path / "hub",
        "timm/test_resnet.r160_in1k",
        timm.create_model("test_resnet").state_dict(),
    )
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    invoke(*args)
    frame = pd.read_csv(tmp_path / "results" / "runs.csv")
    assert set(frame["method"]) == {"timm-pretrained"} and (frame["image_size"] == 32).all()
    assert sorted(frame["variant"]) == ["k=10", "k=16"]  # the kNN sweep, capped at 16 images


def test_errors_are_one_red_line(runs, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no weights in" in red_line(capsys, "export", str(empty), "--out", str(tmp_path / "o"))
    assert "--protocol" in red_line(
        capsys,
        "evaluate",
        str(runs["test_resnet"]),
        "--dataset",
        "cifar10-mini",
        "--protocol",
        "svm",
    )
    assert "must end in .npy" in red_line(
        capsys,
        "embed",
        str(runs["test_resnet"]),
        "--images",
        str(empty),
        "--out",
        str(tmp_path / "e.csv"),
    )
    assert "no images found" in red_line(
        capsys,
        "embed",
        str(runs["test_resnet"]),
        "--images",
        str(empty),
        "--out",
        str(tmp_path / "e.npy"),
    )
