"""benchmarks/targets_check.sh: one command for the three time-to-accuracy targets on the
machine at hand, in a folder named after the machine kind."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.bench.cpu_scripts import BENCHMARKS, fake_cpuinfo, run_script

BASE = "flags\t\t: fpu sse2 avx avx2"


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        ("", "avx2"),
        (" avx512f", "avx512"),
        (" avx512f avx512_bf16", "avx512-bf16"),
        (" avx512f avx512_bf16 amx_tile amx_bf16", "amx"),
    ],
)
def test_the_folder_names_the_machine_kind(tmp_path: Path, extra: str, kind: str) -> None:
    result = run_script("targets_check.sh", tmp_path, BASE + extra, "--dry-run")
    assert result.returncode == 0, result.stderr
    folders = {
        Path(word).parts[2]
        for word in result.stdout.split()
        if word.startswith("benchmarks/results/")
    }
    assert folders == {f"targets-{kind}"}


def test_the_commands_are_the_default_run_four_race_seeds_then_the_table(tmp_path: Path) -> None:
    result = run_script("targets_check.sh", tmp_path, BASE + " avx512f amx_bf16", "--dry-run")
    out = "benchmarks/results/targets-amx"
    commands = result.stdout.strip().splitlines()
    assert commands[0] == f"byolbench run --seeds 0,1,2 --results-dir {out}/default"
    for seed in range(4):
        race = commands[1 + seed]
        assert race.startswith("python benchmarks/race.py --budgets 10m")
        assert "--contenders byolbench,lightly-docs" in race
        assert race.endswith(f"--seed {seed} --out {out}/seed{seed}")
    targets = commands[5]
    assert targets.startswith(f"python benchmarks/targets.py --results {out}/default ")
    assert [a for a in targets.split() if a.startswith(out + "/seed")] == [
        f"{out}/seed{seed}" for seed in range(4)
    ]
    assert targets.endswith(f"> {out}/targets.md") and len(commands) == 6


def test_an_unknown_option_is_bad_usage_before_anything_runs(tmp_path: Path) -> None:
    result = run_script("targets_check.sh", tmp_path, BASE, "--fast")
    assert result.returncode == 2 and result.stdout == ""
    assert "'--fast'" in result.stderr and "--dry-run" in result.stderr


def _scratch_checkout(tmp_path: Path, stand_ins: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """The script copied into a scratch checkout (so nothing is written into this one), and an
    environment whose PATH puts executables with the given bash bodies first."""
    script = tmp_path / "checkout" / "benchmarks" / "targets_check.sh"
    script.parent.mkdir(parents=True)
    shutil.copy(BENCHMARKS / "targets_check.sh", script)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in stand_ins.items():
        (bin_dir / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return script, {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _run_checkout(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_the_measuring_path_runs_each_command_in_order_and_saves_the_table(
    tmp_path: Path,
) -> None:
    log = tmp_path / "calls.log"
    table = "| target | measured |"
    logging_body = f'echo "$*" >> {log}'
    prints_table = f'[[ "$1" == benchmarks/targets.py ]] && echo "{table}"; true'
    script, env = _scratch_checkout(
        tmp_path, {"byolbench": logging_body, "python": f"{logging_body}\n{prints_table}"}
    )
    cpuinfo = fake_cpuinfo(tmp_path, BASE + " avx512f avx512_bf16")
    result = _run_checkout(script, {**env, "BYOLBENCH_CPUINFO": str(cpuinfo)})
    assert result.returncode == 0, result.stderr
    calls = [line.split()[0] for line in log.read_text().splitlines()]
    assert calls == ["run", *["benchmarks/race.py"] * 4, "benchmarks/targets.py"]
    out = script.parents[1] / "benchmarks" / "results" / "targets-avx512-bf16"
    assert (out / "targets.md").read_text() == table + "\n"
    assert table in result.stdout


def test_a_failing_step_stops_the_script_with_its_status(tmp_path: Path) -> None:
    script, env = _scratch_checkout(tmp_path, {"byolbench": "exit 1", "python": "exit 0"})
    result = _run_checkout(script, env)
    assert result.returncode == 1
    assert "race.py" not in result.stdout
