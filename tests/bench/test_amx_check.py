"""benchmarks/amx_check.sh: refuses a CPU without AMX-BF16 before measuring anything, and
names the section's measurements."""

import subprocess
from pathlib import Path

import pytest

from tests.bench.cpu_scripts import run_script

FLAGS = "flags\t\t: fpu sse2 avx512f avx512_bf16"


def _run(tmp_path: Path, flags: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_script("amx_check.sh", tmp_path, flags, *args)


@pytest.mark.parametrize("args", [(), ("--dry-run",)])
def test_a_cpu_without_amx_is_refused_in_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = _run(tmp_path, FLAGS, *args)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "amx_bf16" in lines[0] and "--force" in lines[0]


def test_an_unknown_option_is_bad_usage(tmp_path: Path) -> None:
    result = _run(tmp_path, FLAGS + " amx_bf16", "--fast")
    assert result.returncode == 2 and "'--fast'" in result.stderr and "--dry-run" in result.stderr


def test_an_amx_cpu_gets_the_sections_measurements(tmp_path: Path) -> None:
    result = _run(tmp_path, FLAGS + " amx_tile amx_bf16", "--dry-run")
    assert result.returncode == 0, result.stderr
    commands = result.stdout.strip().splitlines()
    assert len(commands) == 4
    assert "throughput.py --models resnet18,resnet10t --no-peer --levers" in commands[0]
    assert [c.split(" > ")[1].split("/")[-1] for c in commands] == [
        "throughput.txt",
        "profile-resnet18.txt",
        "profile-resnet10t.txt",
        "preset-step.txt",
    ]
    assert "--model resnet18" in commands[1] and "--model resnet10t" in commands[2]
    assert "train.compile=true" in commands[3]
