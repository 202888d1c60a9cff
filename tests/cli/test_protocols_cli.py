"""`--protocols` on `run` and `evaluate`, `--eval-datasets`, and `report --variants`."""

import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from byolbench.cli.main import app, main
from tests.bench.fake_results import result_row, write_runs
from tests.export_helpers import write_image_folder

VALID = "valid: knn, linear, finetune, online-linear, fewshot"


def _red_line(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exc_info:
        main(list(args))
    assert exc_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    return " ".join(lines[0].split())


def test_unknown_protocol_on_run_is_one_line_listing_the_valid_names(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "byolbench", "run", "--protocols", "knn,svm", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    text = " ".join(lines[0].split())
    assert "unknown protocol 'svm'" in text and VALID in text


def test_unknown_protocol_in_a_set_override_or_on_evaluate(capsys, tmp_path):
    line = _red_line(capsys, "run", "--set", "eval.protocols=knn,probe", "--dry-run")
    assert "eval.protocols" in line and "'probe'" in line and VALID in line
    for option in ("--protocols", "--protocol"):  # the old spelling still works
        line = _red_line(
            capsys, "evaluate", str(tmp_path), "--dataset", "cifar10-mini", option, "svm"
        )
        assert "unknown protocol 'svm'" in line and VALID in line


def test_run_with_protocols_and_eval_datasets(tmp_path):
    pets = write_image_folder(tmp_path / "pets", classes=3, train=6, test=3, size=16)
    cars = write_image_folder(tmp_path / "cars", classes=2, train=6, test=3, size=16, seed=1)
    args = [
        "run",
        "--backbones",
        "test_resnet",
        "--datasets",
        f"imagefolder:{pets}",
        "--epochs",
        "1",
        "--batch-size",
        "6",
        "--mixed-precision",
        "no",
        "--protocols",
        "knn,fewshot",
        "--eval-datasets",
        f"imagefolder:{cars}",
        "--results-dir",
        str(tmp_path / "results"),
        "--set",
        "model.projector_hidden_dim=32",
        "--set",
        "model.predictor_hidden_dim=32",
        "--set",
        "model.projector_dim=16",
        "--set",
        "eval.fewshot_fractions=0.5",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "results" / "runs.csv")
    assert set(frame["protocol"]) == {"knn", "fewshot"}
    assert set(frame["eval_dataset"]) == {f"imagefolder:{pets}", f"imagefolder:{cars}"}
    assert "Transfer, kNN" in result.output and "Transfer, few-shot labels=50%" in result.output
    summary = (tmp_path / "results" / "summary.md").read_text()
    assert "## Transfer" in summary


def test_report_variants_option(tmp_path):
    rows = []
    for k, top1 in ((20, 70.0), (200, 75.0)):
        for method in ("byol", "random"):
            rows.append(result_row("cifar10", "resnet18", 0, method, "knn", top1, variant=f"k={k}"))
    write_runs(tmp_path, rows)
    default = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "a")])
    assert default.exit_code == 0, default.output
    headline = (tmp_path / "a" / "cifar10.md").read_text()
    assert "| kNN BYOL |" in headline and "kNN k=20 BYOL" not in headline
    every = CliRunner().invoke(
        app, ["report", str(tmp_path), "--variants", "--out", str(tmp_path / "b")]
    )
    assert every.exit_code == 0, every.output
    table = (tmp_path / "b" / "cifar10.md").read_text()
    assert "kNN k=20 BYOL" in table and "kNN k=200 BYOL" in table
