"""Pre-flight checks: every problem of the whole matrix at once, exit 2, nothing started."""

from __future__ import annotations

import os

import pytest

from byolbench.bench import runner as runner_module
from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.preflight import check_cells
from byolbench.bench.runner import RunOptions, run_matrix
from byolbench.cli.main import main
from byolbench.errors import ProblemsError
from tests.bench.folders import write_corrupt_folder
from tests.export_helpers import write_image_folder

FOLDER_SETS = {
    "train.epochs": "1",
    "train.batch_size": "8",
    "train.mixed_precision": "no",
    "train.log_every": "1",
    "model.projector_hidden_dim": "32",
    "model.predictor_hidden_dim": "32",
    "model.projector_dim": "16",
    "eval.protocols": "knn",
    "eval.knn_sweep": "",
    "eval.random_baseline": "false",
}


def _run(capsys, *args: str) -> tuple[int, list[str], str]:
    """``main(["run", ...])``: exit status, the non-empty stderr lines, and stdout."""
    with pytest.raises(SystemExit) as exit_info:
        main(["run", *args])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    return int(exit_info.value.code), lines, captured.out


def test_every_problem_of_the_matrix_is_listed_at_once_and_nothing_starts(tmp_path, capsys):
    results = tmp_path / "results"
    bad = {
        "train.log_every": "0",
        "eval.batch_size": "0",
        "model.projector_dim": "0",
        "eval.knn_k": "100000",
        "train.max_steps": "-1",
        "optim.lr": "inf",
        "eval.linear_max_iter": "0",
        "eval.protocols": "",
    }
    args = ["--backbones", "resnet1800,test_resnet", "--datasets", "cifar10-mini,cifar10-mimi"]
    args += ["--augmentations", "byol-smal", "--batch-size", "100000"]
    args += ["--results-dir", str(results)]
    for key, value in bad.items():
        args += ["--set", f"{key}={value}"]
    code, lines, _ = _run(capsys, *args)
    assert code == 2
    assert "Traceback" not in "\n".join(lines)
    assert lines[0].startswith("error: ") and "nothing was started" in lines[0]
    problems = lines[1:]
    for key, value in bad.items():
        shown = value or "''"
        assert any(line.strip().startswith(f"{key}={shown}") for line in problems), (key, lines)
    for fragment in ("'resnet1800'", "'cifar10-mimi'", "'byol-smal'", "train.batch_size=100000"):
        assert sum(fragment in line for line in problems) == 1, (fragment, lines)
    assert len(problems) == len(bad) + 4  # each problem once, though it concerns many cells
    assert not results.exists()  # nothing started


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("optim.lr=nan", "optim.lr=nan: expected a finite number > 0"),
        ("train.epochs=0", "train.epochs=0: expected an integer >= 1"),
        ("train.seed=-1", "train.seed=-1"),
        ("augment.crop_min_scale=0", "augment.crop_min_scale=0.0"),
        ("eval.linear_l2_grid=", "eval.linear_l2_grid=''"),
        ("model.patch_drop_rate=1.5", "model.patch_drop_rate=1.5: expected a fraction in [0, 1)"),
    ],
)
def test_single_bad_settings_are_one_line(setting, fragment, tmp_path, capsys):
    code, lines, _ = _run(
        capsys,
        "--backbones",
        "test_resnet",
        "--datasets",
        "cifar10-mini",
        "--set",
        setting,
        "--results-dir",
        str(tmp_path / "r"),
    )
    assert code == 2 and len(lines) == 1 and fragment in lines[0], lines
    assert "e.g. " in lines[0]  # how to fix it


def _run_on_mini(capsys, tmp_path, backbones: str, setting: str) -> tuple[int, list[str]]:
    """``run`` of ``backbones`` on cifar10-mini with one ``--set``: status, stderr lines."""
    code, lines, _ = _run(
        capsys,
        "--backbones",
        backbones,
        "--datasets",
        "cifar10-mini",
        "--set",
        setting,
        "--results-dir",
        str(tmp_path / "r"),
    )
    return code, lines


def test_image_size_below_the_backbones_minimum(tmp_path, capsys):
    code, lines = _run_on_mini(capsys, tmp_path, "test_convnext", "data.image_size=16")
    assert code == 2 and len(lines) == 1, lines
    assert "data.image_size=16: too small for backbone test_convnext" in lines[0]
    assert "use at least 32 px" in lines[0]


def test_patch_dropout_on_a_convnet_is_refused_before_any_cell(tmp_path, capsys):
    setting = "model.patch_drop_rate=0.5"
    code, lines = _run_on_mini(capsys, tmp_path, "test_resnet,test_vit", setting)
    assert code == 2 and len(lines) == 1, lines  # test_vit takes it
    assert "model.patch_drop_rate=0.5: backbone 'test_resnet' has no patch tokens" in lines[0]
    assert "--set model.patch_drop_rate=0" in lines[0]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "setting", ["augment.view_size_fraction=0.75", "augment.progressive_min_size=8"]
)
def test_views_smaller_than_the_images_of_a_vit_are_refused_before_any_cell(
    setting, tmp_path, capsys
):
    code, lines = _run_on_mini(capsys, tmp_path, "test_resnet,test_vit", setting)
    assert code == 2 and len(lines) == 1, lines  # test_resnet takes them
    assert f"{setting}: backbone 'test_vit' is a vision transformer" in lines[0]
    assert "--set augment.progressive_min_size=0 --set augment.view_size_fraction=1" in lines[0]
    assert not (tmp_path / "r").exists()


def test_stage_widths_on_a_vit_or_of_the_wrong_count_are_refused_before_any_cell(tmp_path, capsys):
    code, lines = _run_on_mini(capsys, tmp_path, "test_resnet,test_vit", "model.channels=8,8,8,8")
    assert code == 2 and len(lines) == 1, lines  # test_resnet takes four widths
    assert "model.channels=8,8,8,8: backbone 'test_vit' takes no stage widths" in lines[0]
    assert "--set model.channels=" in lines[0]
    code, lines = _run_on_mini(capsys, tmp_path, "test_resnet", "model.channels=8,8")
    assert code == 2 and lines == [
        "error: model.channels=8,8: 'test_resnet' has 4 stages, so it takes 4 widths "
        "(e.g. 32,64,128,256)"
    ], lines
    code, lines = _run_on_mini(capsys, tmp_path, "test_resnet", "model.channels=8,0,8,8")
    assert code == 2 and "model.channels" in lines[0] and "integer >= 1" in lines[0], lines
    assert not (tmp_path / "r").exists()


def test_a_stem_width_where_no_deep_stem_takes_it_is_refused_before_any_cell(tmp_path, capsys):
    code, lines = _run_on_mini(capsys, tmp_path, "test_resnet,test_vit", "model.stem_width=8")
    assert code == 2 and len(lines) == 1, lines  # test_resnet's stem is deep
    assert "model.stem_width=8: backbone 'test_vit' takes no stem width" in lines[0]
    assert "--set model.stem_width=0" in lines[0]
    code, lines = _run_on_mini(capsys, tmp_path, "resnet18", "model.stem_width=8")
    assert code == 2 and "'resnet18' has a one-conv stem" in lines[0], lines
    code, lines = _run_on_mini(capsys, tmp_path, "test_resnet", "model.stem_width=-1")
    assert code == 2 and "model.stem_width" in lines[0] and "integer >= 1" in lines[0], lines
    assert not (tmp_path / "r").exists()


def test_dataset_missing_offline_is_found_before_any_cell(tmp_path, capsys):
    code, lines, _ = _run(
        capsys,
        "--backbones",
        "test_resnet",
        "--datasets",
        "cifar10",
        "--data-dir",
        str(tmp_path / "data"),
        "--set",
        "data.download=false",
        "--results-dir",
        str(tmp_path / "r"),
    )
    assert code == 2 and len(lines) == 1, lines
    assert "dataset cifar10 is not in" in lines[0] and "data.download" in lines[0]
    assert not (tmp_path / "r").exists()


def test_image_folder_problems(tmp_path):
    one_class = write_image_folder(tmp_path / "one", classes=1)
    orphan = write_image_folder(tmp_path / "orphan", classes=3)
    for image in (orphan / "train" / "c2").iterdir():
        image.unlink()  # c2 keeps its test images but has no training images
    cells = expand(
        MatrixSpec(
            ["test_resnet"],
            [
                f"imagefolder:{tmp_path / 'missing'}",
                f"imagefolder:{one_class}",
                f"imagefolder:{orphan}",
            ],
            sets={**FOLDER_SETS, "train.batch_size": "2"},
        ),
        validate=False,
    )
    problems = check_cells(cells).problems
    assert len(problems) == 3, problems
    assert "does not exist" in problems[0]
    assert "1 class folder(s) with images" in problems[1] and "at least 2 classes" in problems[1]
    assert "c2" in problems[2] and "no training images" in problems[2]


def test_results_folder_that_is_a_file_or_read_only(tmp_path, capsys, monkeypatch):
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    args = ["--backbones", "test_resnet", "--datasets", "cifar10-mini"]
    code, lines, _ = _run(capsys, *args, "--results-dir", str(target))
    assert code == 2 and len(lines) == 1 and "is a file, not a folder" in lines[0], lines

    read_only = tmp_path / "ro"
    read_only.mkdir()
    real_access = os.access

    def no_write(path, mode):  # root may write anywhere: pretend the folder is read-only
        if str(path) == str(read_only) and mode & os.W_OK:
            return False
        return real_access(path, mode)

    monkeypatch.setattr(os, "access", no_write)
    code, lines, _ = _run(capsys, *args, "--results-dir", str(read_only))
    assert code == 2 and len(lines) == 1 and "cannot be written" in lines[0], lines


def test_dry_run_reports_the_same_problems(tmp_path, capsys):
    code, lines, out = _run(
        capsys,
        "--backbones",
        "test_resnet",
        "--datasets",
        "cifar10-mini",
        "--set",
        "train.log_every=0",
        "--set",
        "eval.batch_size=0",
        "--dry-run",
    )
    assert code == 2
    assert "1 cell(s)" in out  # the cells are still shown
    assert any("train.log_every=0" in line for line in lines)
    assert any("eval.batch_size=0" in line for line in lines)


def test_dry_run_of_a_good_matrix_passes(capsys):
    main(["run", "--backbones", "test_resnet", "--datasets", "cifar10-mini", "--dry-run"])
    assert "pre-flight checks passed" in capsys.readouterr().out


def test_a_dataset_that_fails_to_load_is_tried_once_per_matrix(tmp_path, monkeypatch):
    corrupt = write_corrupt_folder(tmp_path / "corrupt")
    calls = []
    real_load = runner_module.load_dataset

    def counting_load(*args, **kwargs):
        calls.append(args[0])
        return real_load(*args, **kwargs)

    monkeypatch.setattr(runner_module, "load_dataset", counting_load)
    cells = expand(
        MatrixSpec(["test_resnet"], [f"imagefolder:{corrupt}"], seeds=[0, 1, 2], sets=FOLDER_SETS)
    )
    outcomes = run_matrix(cells, RunOptions(results_dir=tmp_path / "results"))
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert all("could be decoded" in o.error for o in outcomes)
    assert len(calls) == 1


def test_failed_cells_exit_1_after_the_summary(tmp_path, capsys):
    corrupt = write_corrupt_folder(tmp_path / "corrupt")
    args = ["--backbones", "test_resnet", "--datasets", f"imagefolder:{corrupt}"]
    args += ["--results-dir", str(tmp_path / "results")]
    for key, value in FOLDER_SETS.items():
        args += ["--set", f"{key}={value}"]
    code, _, out = _run(capsys, *args)
    assert code == 1
    text = " ".join(out.split())
    assert "0 cell(s) run, 0 already finished and skipped, 1 failed" in text
    assert "could be decoded" in text

    code, lines, _ = _run(capsys, *args, "--fail-fast")
    assert code == 1 and any("could be decoded" in line for line in lines), lines
    assert "Traceback" not in "\n".join(lines)


def test_library_run_matrix_refuses_before_any_cell(tmp_path):
    cells = expand(
        MatrixSpec(["test_resnet"], ["cifar10-mini"], sets={"train.log_every": "0"}), validate=False
    )
    with pytest.raises(ProblemsError, match="train.log_every=0"):
        run_matrix(cells, RunOptions(results_dir=tmp_path / "results"))
    assert not (tmp_path / "results").exists()
