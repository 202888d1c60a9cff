"""Rows are written once per cell, whatever happens to the files between runs."""

from __future__ import annotations

import errno
import os
import shutil
import time

import pandas as pd
import pytest

from byolbench import atomic
from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.progress import read_sessions
from byolbench.bench.runner import RunOptions, run_matrix
from byolbench.bench.store import STALE_TEMP_SECONDS, ResultsStore
from byolbench.cli.main import main
from tests.bench.folders import write_corrupt_folder
from tests.bench.test_preflight import FOLDER_SETS
from tests.export_helpers import write_image_folder


@pytest.fixture
def folder(tmp_path):
    return write_image_folder(tmp_path / "pets", classes=3, train=6, test=3, size=16)


def _cells(folder, seeds=(0,)):
    return expand(
        MatrixSpec(["test_resnet"], [f"imagefolder:{folder}"], seeds=list(seeds), sets=FOLDER_SETS)
    )


def _run(cells, results, **options):
    return run_matrix(cells, RunOptions(results_dir=results, **options))


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_lost_rows_file_is_restored_from_the_index_without_training_again(folder, tmp_path, damage):
    results = tmp_path / "results"
    cells = _cells(folder)
    (first,) = _run(cells, results)
    assert first.status == "done"
    rows_file = first.run_dir / "eval.json"
    before = ResultsStore(results).read()
    if damage == "truncated":
        rows_file.write_text(rows_file.read_text()[:40])
    else:
        rows_file.unlink()
    metrics = (first.run_dir / "metrics.jsonl").read_text()

    (again,) = _run(cells, results)
    assert again.status == "skipped"
    assert (first.run_dir / "metrics.jsonl").read_text() == metrics  # not trained again
    assert len(read_sessions(first.run_dir)) == 1
    after = ResultsStore(results).read()
    assert len(after) == len(before) == 1
    assert after["top1"].tolist() == before["top1"].tolist()
    assert ResultsStore(results).cell_rows(cells[0].cell_id, cells[0].config.config_hash())


def test_failures_csv_and_report_forget_a_cell_that_succeeded_later(folder, tmp_path, capsys):
    data = tmp_path / "flaky"
    write_corrupt_folder(data)
    results = tmp_path / "results"
    (failed,) = _run(_cells(data), results)
    _run(_cells(folder), results)  # a good cell, so the report has rows
    assert failed.status == "failed"
    assert len(pd.read_csv(results / "failures.csv")) == 1
    main(["report", str(results), "--out", str(tmp_path / "report")])
    shown = " ".join(capsys.readouterr().out.split())
    assert "1 cell(s) failed and have not succeeded since" in shown
    assert failed.cell.cell_id in shown
    assert failed.cell.cell_id in (tmp_path / "report" / "failures.md").read_text()

    shutil.rmtree(data)
    write_image_folder(data, classes=2, train=8, test=2, size=16)
    (done,) = _run(_cells(data), results)
    assert done.status == "done" and done.run_dir == failed.run_dir
    assert not (results / "failures.csv").exists()
    assert not (done.run_dir / "error.json").exists()
    assert ResultsStore(results).read_failures().empty
    main(["report", str(results), "--out", str(tmp_path / "report")])
    assert "failed" not in capsys.readouterr().out
    assert not (tmp_path / "report" / "failures.md").exists()


def test_temporary_files_of_killed_rewrites_are_removed(folder, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    orphan = results / ".runs.csv.abc123.tmp"
    orphan.write_text("timestamp,cell_id\n2024-01-01,half-writ")
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(orphan, (old, old))
    fresh = results / ".runs.csv.def456.tmp"  # another process's write in progress
    fresh.write_text("x")
    _run(_cells(folder), results)
    assert not orphan.exists() and fresh.exists()


def test_finished_cells_drop_their_checkpoints_unless_kept(folder, tmp_path):
    (done,) = _run(_cells(folder), tmp_path / "a")
    assert not (done.run_dir / "checkpoints").exists()
    (kept,) = _run(_cells(folder), tmp_path / "b", keep_checkpoints=True)
    assert list((kept.run_dir / "checkpoints").glob("step-*"))


def test_full_disk_while_writing_rows_records_nothing_as_done(
    folder, tmp_path, monkeypatch, capsys
):
    results = tmp_path / "results"
    args = ["run", "--backbones", "test_resnet", "--datasets", f"imagefolder:{folder}"]
    args += ["--results-dir", str(results), "--seeds", "0"]
    for key, value in FOLDER_SETS.items():
        args += ["--set", f"{key}={value}"]
    main(args)
    index = (results / "runs.csv").read_text()
    capsys.readouterr()

    real_replace = os.replace
    full = {"eval.json", "error.json", "runs.csv", "failures.csv"}

    def disk_full(src, dst):
        if os.path.basename(dst) in full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", disk_full)
    second = list(args)
    second[second.index("--seeds") + 1] = "1"
    with pytest.raises(SystemExit) as exit_info:
        main(second)
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    text = " ".join(captured.out.split())
    assert "0 cell(s) run, 0 already finished and skipped, 1 failed" in text
    assert "No space left on device" in text and "eval.json" in text
    assert "Traceback" not in captured.err + captured.out
    assert (results / "runs.csv").read_text() == index  # never truncated
    (seed1,) = [p for p in (results / "runs").iterdir() if "__s1__" in p.name]
    assert not (seed1 / "eval.json").exists()  # not recorded as done
    assert not list(results.glob(".*.tmp")) and not list(seed1.glob(".*.tmp"))

    monkeypatch.setattr(atomic.os, "replace", real_replace)
    main(second)  # space again: the cell finishes from its last checkpoint, not from scratch
    sessions = read_sessions(seed1)
    assert [s["status"] for s in sessions] == ["failed", "done"]
    assert sessions[1]["resumed_from"] and sessions[1]["start_step"] == sessions[1]["end_step"]
    assert len(pd.read_csv(results / "runs.csv")) == 2
