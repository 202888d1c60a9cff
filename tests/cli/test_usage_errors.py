"""Usage errors: the usual usage line and status 2, never a traceback.

typer 0.16+ raises its vendored click's exceptions, which ``click.ClickException`` does not
match and CliRunner hides; so the cases run through the installed console script in real
subprocesses (three of them, in parallel, to keep the suite fast) and all of them through
``main()``, the function the console script calls.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from byolbench.cli.main import main

ROOT = Path(__file__).resolve().parents[2]

USAGE_CASES = {
    "mistyped option": (["run", "--epoch", "1"], "No such option: --epoch"),
    "unknown command": (["frobnicate"], "No such command 'frobnicate'"),
    "bad choice": (["list", "backbonez"], "backbonez"),
    "missing option": (["export", "RUN"], "Missing option '--out'"),
    "not an integer": (["run", "--batch-size", "abc"], "--batch-size"),
    "no arguments": ([], "Commands"),
}


def _console_script() -> str:
    beside = Path(sys.executable).with_name("byolbench")
    found = str(beside) if beside.is_file() else shutil.which("byolbench")
    if found is None:
        pytest.skip("the byolbench console script is not installed")
    return found


def _check(case: str, code: int, stderr: str) -> None:
    fragment = USAGE_CASES[case][1]
    assert code == 2, (case, stderr)
    assert "Traceback" not in stderr, stderr
    assert fragment in stderr, stderr
    if case != "no arguments":
        assert "Usage: " in stderr and "--help" in stderr, stderr


def test_usage_errors_through_the_console_script():
    script = _console_script()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    cases = ["mistyped option", "no arguments", "unknown command"]
    procs = {
        case: subprocess.Popen(
            [script, *USAGE_CASES[case][0]],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for case in cases
    }
    for case, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=240)
        _check(case, proc.returncode, stderr + stdout)  # a bare `byolbench` prints its help


@pytest.mark.parametrize("case", list(USAGE_CASES))
def test_usage_errors_through_main(case, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(USAGE_CASES[case][0])
    captured = capsys.readouterr()
    _check(case, exit_info.value.code, captured.err + captured.out)


@pytest.mark.parametrize(
    ("option", "value"),
    [("--seeds", ""), ("--backbones", ""), ("--datasets", " , "), ("--augmentations", "")],
)
def test_empty_lists_are_refused_before_any_work(option, value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", option, value, "--results-dir", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and option in lines[0] and "names nothing" in lines[0], lines
    assert not (tmp_path / "r").exists()
