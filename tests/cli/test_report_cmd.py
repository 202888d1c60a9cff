"""``byolbench report`` through the CLI, and the summary ``byolbench run`` ends with."""

import pytest
from typer.testing import CliRunner

from byolbench.cli.console import console
from byolbench.cli.main import app, main
from byolbench.cli.tables import show_and_write_summary
from tests.bench.fake_results import two_dataset_results


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    """Tables wide enough that cells never wrap, whatever terminal runs the tests."""
    monkeypatch.setattr(console, "_width", 250)


def test_report_writes_files_and_prints_tables(tmp_path):
    results = tmp_path / "results"
    two_dataset_results(results)
    result = CliRunner().invoke(app, ["report", str(results)])
    assert result.exit_code == 0, result.output
    out = results / "report"
    for name in (
        "report.html",
        "report.md",
        "cifar10.md",
        "cifar10.csv",
        "stl10.md",
        "stl10.csv",
        "accuracy_cifar10.png",
        "accuracy_stl10.png",
        "loss_cifar10.png",
    ):
        assert (out / name).is_file(), name
    assert "cifar10: top-1 accuracy (%)" in result.output
    assert "stl10: top-1 accuracy (%)" in result.output
    assert "81.00 ± 1.41" in result.output and "+50.50" in result.output
    assert "[1] resnet18 (cifar stem) on cifar10" in result.output
    assert "wrote 9 files (2 dataset table(s), 3 plot(s))" in result.output


def test_report_out_option(tmp_path):
    results = tmp_path / "results"
    two_dataset_results(results, with_metrics=False)
    target = tmp_path / "site" / "byol"
    result = CliRunner().invoke(app, ["report", str(results), "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "report.html").is_file() and not (results / "report").exists()


@pytest.mark.parametrize("content", [None, ""])
def test_missing_or_empty_results_print_one_red_line(tmp_path, capsys, content):
    if content is not None:
        (tmp_path / "runs.csv").write_text(content)
    with pytest.raises(SystemExit) as info:
        main(["report", str(tmp_path)])
    assert info.value.code == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no results")
    assert "Traceback" not in captured.err + captured.out


def test_help_has_an_example():
    result = CliRunner().invoke(app, ["report", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and "byolbench report results/ --out" in result.output
    assert "--out" in result.output


def test_run_summary_has_references_and_handles_no_results(tmp_path, capsys):
    assert show_and_write_summary(tmp_path / "none", []) is None
    assert "no results yet" in capsys.readouterr().out
    results = tmp_path / "results"
    two_dataset_results(results, with_metrics=False)
    path = show_and_write_summary(results, ["cifar10"])
    assert path == results / "summary.md"
    text = path.read_text()
    assert "| resnet18 |" in text and "kNN published" in text and "## stl10" in text
    assert "byolbench report" in capsys.readouterr().out
