"""benchmarks/race.py: the byolbench recipe it races, with and without --set levers."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import race  # noqa: E402

from byolbench.errors import ConfigError  # noqa: E402


def test_the_race_runs_the_quick_preset_to_the_budget():
    config = race.quick_config("10m", 3)
    assert config.train.time_budget == "10m" and config.train.seed == 3
    assert config.model.backbone == "resnet10t"
    assert config.augment.progressive_min_size == 16  # the preset's progressive resizing


def test_set_overrides_change_the_raced_recipe():
    config = race.quick_config("10m", 0, {"augment.progressive_min_size": "0"})
    assert config.augment.progressive_min_size == 0
    with pytest.raises(ConfigError, match="augment.progressive_fraction"):
        race.quick_config("10m", 0, {"augment.progressive_fraction": "2"})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "augment.progressive_min_size=16"], "--set and --variant go together"),
        (["--budgets", "soon"], "--budgets"),
        (["--variant", "small", "--set", "augment.nope=1"], "augment.nope"),
    ],
)
def test_bad_levers_stop_before_any_training(argv, message, tmp_path):
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "race.py"), "--out", str(tmp_path), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and message in done.stderr
    assert not any(tmp_path.iterdir())


def test_a_variant_trains_its_own_row_and_shows_the_saved_plain_one_beside_it():
    rows = race.raced_rows(["byolbench", "lightly-docs"], "progressive")
    assert rows == [
        ("byolbench", "byolbench", False),
        ("byolbench", "byolbench[progressive]", True),
        ("lightly-docs", "lightly-docs", True),
    ]
    assert race.raced_rows(["byolbench"], None) == [("byolbench", "byolbench", True)]


def test_saved_variants_are_shown_beside_the_one_that_trains(tmp_path):
    for name in ("byolbench[tau]-10m-s0", "byolbench[mc2]-10m-s0", "byolbench[tau]-5m-s0"):
        (tmp_path / f"{name}.json").write_text("{}")
    (tmp_path / "byolbench-10m-s0.json").write_text("{}")
    saved = race.saved_variants(tmp_path, "10m", 0)
    assert saved == ["mc2", "tau"]
    assert race.saved_variants(tmp_path / "missing", "10m", 0) == []
    assert race.raced_rows(["byolbench"], "progressive", saved) == [
        ("byolbench", "byolbench", False),
        ("byolbench", "byolbench[mc2]", False),
        ("byolbench", "byolbench[progressive]", True),
        ("byolbench", "byolbench[tau]", False),
    ]
    assert race.raced_rows(["byolbench"], None, ["tau"]) == [
        ("byolbench", "byolbench", True),
        ("byolbench", "byolbench[tau]", False),
    ]


@pytest.mark.parametrize("native", [True, False])
def test_lightlys_loop_gets_bf16_only_where_the_cpu_computes_it(native, monkeypatch):
    from byolbench.train import precision

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: native)
    assert race.engine_recipe(steps_per_epoch=100).bf16 is native
