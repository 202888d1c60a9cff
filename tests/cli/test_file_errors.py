"""Files and folders that are wrong for ``evaluate``, ``embed``, ``export``, ``report``: one
line naming the path and what to do; a full disk never leaves a truncated index."""

from __future__ import annotations

import errno
import logging
import os

import numpy as np
import pytest

from byolbench import atomic
from byolbench.cli.main import main
from tests.data.helpers import write_image
from tests.data.test_hostile_images import write_bomb


def _fails(capsys, code: int, *args: str) -> str:
    """Runs ``main`` expecting exit ``code``; returns its one stderr line."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert exit_info.value.code == code, captured
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


def test_evaluate_refuses_bad_values_and_a_results_file(runs, tmp_path, capsys):
    run = str(runs["test_resnet"])
    data = f"imagefolder:{runs['data']}"
    line = _fails(capsys, 2, "evaluate", run, "--dataset", data, "--image-size", "-5")
    assert "--image-size -5" in line
    line = _fails(capsys, 2, "evaluate", run, "--dataset", data, "--max-train-samples", "-1")
    assert "--max-train-samples -1" in line
    results = tmp_path / "results.csv"
    results.write_text("x")
    line = _fails(capsys, 2, "evaluate", run, "--dataset", data, "--results-dir", str(results))
    assert str(results) in line and "is a file" in line


def test_evaluate_on_a_full_disk_exits_1_and_keeps_the_index(runs, tmp_path, capsys, monkeypatch):
    run = str(runs["test_resnet"])
    data = f"imagefolder:{runs['data']}"
    results = tmp_path / "results"
    results.mkdir()
    index = "timestamp,cell_id\n2024-01-01T00:00:00+00:00,earlier\n"
    (results / "runs.csv").write_text(index)
    real_replace = os.replace

    def disk_full(src, dst):
        if os.path.basename(dst) == "eval.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", disk_full)
    line = _fails(capsys, 1, "evaluate", run, "--dataset", data, "--results-dir", str(results))
    assert "eval.json" in line and "No space left on device" in line
    assert (results / "runs.csv").read_text() == index
    assert not list(results.rglob("eval.json")) and not list(results.rglob(".*.tmp"))


def test_embed_refuses_a_folder_as_output_and_a_zero_batch(runs, tmp_path, capsys):
    run = str(runs["test_resnet"])
    images = tmp_path / "photos"
    write_image(images / "a.png")
    taken = tmp_path / "taken.npy"
    taken.mkdir()
    line = _fails(capsys, 2, "embed", run, "--images", str(images), "--out", str(taken))
    assert str(taken) in line and "is a folder" in line
    out = str(tmp_path / "e.npy")
    line = _fails(
        capsys, 2, "embed", run, "--images", str(images), "--out", out, "--batch-size", "0"
    )
    assert "--batch-size 0" in line


def test_embed_skips_a_decompression_bomb_naming_it(runs, tmp_path, capsys, caplog):
    images = tmp_path / "photos"
    write_image(images / "a.png")
    write_image(images / "b.png", colour=3)
    bomb = write_bomb(images / "huge.png")
    out = tmp_path / "e.npy"
    with caplog.at_level(logging.WARNING, logger="byolbench"):
        main(["embed", str(runs["test_resnet"]), "--images", str(images), "--out", str(out)])
    assert np.load(out).shape[0] == 2
    assert str(bomb) in caplog.text
    assert "skipped 1 unreadable" in capsys.readouterr().out


def test_report_of_a_results_file(tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("not a folder")
    line = _fails(capsys, 2, "report", str(target))
    assert str(target) in line
