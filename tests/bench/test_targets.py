"""benchmarks/targets.py: the time-to-accuracy targets from saved rows of the current preset."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from race import quick_config, recipe_key  # noqa: E402
from targets import SeedFigures, default_run_figures, race_figures, table  # noqa: E402

from byolbench.bench.presets import preset_overrides  # noqa: E402


def _runs_csv(folder: Path) -> Path:
    """runs.csv rows of the quick preset's cells for seeds 0 and 1, and of another recipe."""
    budget = preset_overrides("quick")["train.time_budget"]
    rows = []

    def add(config_hash: str, seed: int, method: str, protocol: str, top1: float, k: int = 0):
        details = {"k": k, "headline": True} if k == 200 else {"k": k} if k else {}
        rows.append(
            {
                "config_hash": config_hash,
                "seed": seed,
                "method": method,
                "protocol": protocol,
                "protocol_details": json.dumps(details),
                "top1": top1,
            }
        )

    for seed, (knn, linear) in {0: (44.0, 55.0), 1: (45.0, 53.0)}.items():
        current = quick_config(budget, seed).config_hash()
        add(current, seed, "byol", "knn", knn, 200)
        add(current, seed, "byol", "knn", knn + 3, 20)  # not the headline k
        add(current, seed, "random", "knn", 30.0 + seed, 200)
        add(current, seed, "byol", "linear", linear)
        add(current, seed, "random", "linear", 40.0)
    add("0123456789ab", 2, "byol", "knn", 99.0, 200)  # an earlier preset's cell
    add("0123456789ab", 2, "random", "knn", 1.0, 200)
    path = folder / "runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _race_folder(folder: Path, seed: int, ours: float, docs: float) -> Path:
    cache = folder / "race-cifar10-mini"
    cache.mkdir(parents=True)
    net = {"backbone": "resnet10t", "small_image_stem": "auto", "channels": [32, 64, 128, 256]}

    def save(name: str, result: dict) -> None:
        (cache / name).write_text(json.dumps(result))

    key = recipe_key("byolbench", "10m", seed, {}, 0)
    save(f"byolbench-10m-s{seed}.json", {**net, "knn_top1": ours, "recipe_key": key})
    save(f"byolbench[again]-10m-s{seed}.json", {**net, "knn_top1": ours + 1, "recipe_key": key})
    save(f"byolbench@old-10m-s{seed}.json", {**net, "knn_top1": 90.0, "recipe_key": "old"})
    save(f"byolbench-5m-s{seed}.json", {**net, "knn_top1": 80.0, "recipe_key": key})
    docs_key = recipe_key("lightly-docs", "10m", seed, {}, 0)
    save(
        f"lightly-docs-10m-s{seed}.json",
        {"backbone": "resnet18", "channels": [], "knn_top1": docs, "recipe_key": docs_key},
    )
    save(f"random-resnet10t-c32-64-128-256-s{seed}.json", {"knn_top1": 29.0})
    save(f"random-resnet18-s{seed}.json", {"knn_top1": 30.0})
    return folder


def test_only_the_current_presets_headline_rows_count(tmp_path: Path) -> None:
    runs = _runs_csv(tmp_path)
    knn = default_run_figures(runs, "knn")
    assert knn == [SeedFigures(0, 44.0, 30.0), SeedFigures(1, 45.0, 31.0)]
    assert default_run_figures(runs, "linear") == [
        SeedFigures(0, 55.0, 40.0),
        SeedFigures(1, 53.0, 40.0),
    ]


def test_race_lead_averages_the_current_recipes_runs_per_seed(tmp_path: Path) -> None:
    folders = [
        _race_folder(tmp_path / "s0", 0, 42.0, 33.0),
        _race_folder(tmp_path / "s1", 1, 44.0, 32.0),
    ]
    ours, theirs = race_figures(folders, "cifar10-mini")
    assert ours == [SeedFigures(0, 42.5, 29.0), SeedFigures(1, 44.5, 29.0)]
    assert theirs == [SeedFigures(0, 33.0, 30.0), SeedFigures(1, 32.0, 30.0)]


def test_the_table_says_which_targets_are_met() -> None:
    knn = [SeedFigures(0, 44.0, 30.0), SeedFigures(1, 45.0, 31.0)]  # gain +14.00
    linear = [SeedFigures(0, 55.0, 40.0)]  # +15.00
    ours, theirs = [SeedFigures(0, 43.0, 29.0)], [SeedFigures(0, 33.0, 30.0)]  # lead +11.00
    text = table(knn, linear, ours, theirs)
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if "|" in line}
    assert "**+14.00**" in rows["default run: kNN gain (k=200)"]
    assert rows["default run: kNN gain (k=200)"].endswith("| no (-1.00) |")
    assert rows["default run: linear-probe gain"].endswith("| yes |")
    assert "**+11.00**" in rows["race at 10m: lead over lightly-docs in kNN gain"]
    assert "not measured" in table([], [], [], []).splitlines()[2]


def test_the_script_prints_the_table_and_refuses_a_missing_folder(tmp_path: Path) -> None:
    _runs_csv(tmp_path)
    race = _race_folder(tmp_path / "race", 0, 42.0, 33.0)
    script = [sys.executable, str(BENCHMARKS / "targets.py"), "--results", str(tmp_path)]
    done = subprocess.run([*script, "--race", str(race)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "| default run: kNN gain (k=200) | >= +15 | **+14.00**" in done.stdout
    missing = subprocess.run(
        [*script, "--race", str(tmp_path / "nowhere")], capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "nowhere not found" in missing.stderr and len(missing.stderr.splitlines()) == 1
