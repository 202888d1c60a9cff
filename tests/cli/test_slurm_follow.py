"""Following submitted cells (`--wait`): a live table on a terminal, a line per change in a log,
lost jobs stop the wait; and `byolbench report` merging the cells' rows files."""

import io

import pytest
from rich.console import Console
from typer.testing import CliRunner

from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.plan import PlannedCell
from byolbench.bench.runner import record_failure
from byolbench.bench.slurm.records import record_submission
from byolbench.bench.store import ResultsStore
from byolbench.cli import slurm_cmd
from byolbench.cli.main import app
from byolbench.errors import DataError
from tests.bench.fake_results import result_row


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """Three submitted cells: one done, one failed, one whose job left the queue."""
    cells = expand(MatrixSpec(["test_resnet"], ["cifar10-mini"], seeds=[0, 1, 2]))
    results = tmp_path / "results"
    store = ResultsStore(results)
    store.write_cell_rows(cells[0].cell_id, cells[0].config.config_hash(), [{"x": 1}])
    record_failure(store, cells[1], DataError("no such folder"))
    record_submission(results, {c.cell_id: f"5_{i}" for i, c in enumerate(cells)}, "bb", {})
    monkeypatch.setattr("byolbench.bench.status.queued_jobs", lambda names: {})  # queue: empty
    monkeypatch.setattr(slurm_cmd, "POLL_SECONDS", 0.01)
    return results, [PlannedCell.of(c) for c in cells]


@pytest.mark.parametrize("terminal", [True, False])
def test_follow_ends_when_every_cell_is_done_failed_or_lost(folder, monkeypatch, terminal):
    results, planned = folder
    out = io.StringIO()
    fake = Console(file=out, force_terminal=terminal, width=200, color_system=None)
    monkeypatch.setattr(slurm_cmd, "console", fake)
    final = slurm_cmd.follow(results, planned, [c.cell_id for c in planned])
    states = [c.state for c in final.cells]
    assert states == ["done", "failed", "pending"]
    assert "5_2 is no longer queued and left no results" in final.cells[2].detail
    text = out.getvalue()
    assert "3 cell(s): 1 done, 0 running, 1 failed, 1 pending" in text
    assert "no such folder" in text
    if not terminal:  # a log gets one line per state change, then the table
        assert text.count("done cifar10-mini / test_resnet / auto / seed 0") == 1


def test_report_rebuilds_runs_csv_from_the_cells_rows_files(tmp_path, monkeypatch):
    results = tmp_path / "results"
    store = ResultsStore(results)
    for seed, top1 in ((0, 80.0), (1, 82.0)):
        rows = [
            result_row("cifar10", "resnet18", seed, "byol", "knn", top1),
            result_row("cifar10", "resnet18", seed, "random", "knn", 30.0),
        ]
        store.write_cell_rows(rows[0]["cell_id"], "h", rows, rebuild=False)
    assert not store.runs_csv.exists()  # as jobs leave it when none rebuilt the index
    result = CliRunner().invoke(app, ["report", str(results)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert len(store.read()) == 4 and "81.00 ± 1.41" in result.output
