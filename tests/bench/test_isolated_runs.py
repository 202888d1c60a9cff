"""benchmarks/bench_lib/isolated.py: a measurement's process returns its result, a dead one
stops the script, and a killed script takes its measurement with it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from bench_lib.isolated import run_isolated  # noqa: E402

from tests.bench import isolated_jobs  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_the_result_comes_back():
    assert run_isolated(isolated_jobs.add, {"a": 2, "b": 3}) == 5


def test_a_child_that_dies_stops_the_script_in_one_line():
    with pytest.raises(SystemExit, match=r"^fail failed in its process \(see the traceback"):
        run_isolated(isolated_jobs.fail, {"n": 1})


def test_a_killed_script_takes_its_measurement_with_it(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from bench_lib.isolated import run_isolated;"
        "from tests.bench import isolated_jobs;"
        "run_isolated(isolated_jobs.sleep_forever, {'pid_file': sys.argv[2]})"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(BENCHMARKS), str(pid_file)], cwd=ROOT
    )
    child = 0
    try:
        assert _wait_for(pid_file.exists, 60), "the measurement never started"
        child = int(pid_file.read_text())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)  # no handler, no cleanup in the parent
        parent.wait(10)
        assert _wait_for(lambda: not _alive(child), 10), "the measurement outlived its script"
    finally:
        parent.kill()
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)
