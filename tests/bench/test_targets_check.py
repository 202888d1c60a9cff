"""benchmarks/targets_check.sh: one command for the three time-to-accuracy targets on the
machine at hand, in a folder named after the machine kind."""

from pathlib import Path

import pytest

from tests.bench.cpu_scripts import run_script

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
