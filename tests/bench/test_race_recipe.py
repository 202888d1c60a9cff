"""benchmarks/race.py: the byolbench recipe it races, with and without --set levers."""

import json
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
    assert config.augment.view_size_fraction == 0.75  # of 24 px views (images of 32 px)
    assert config.model.channels == (32, 64, 128, 256)  # and its half-width net
    assert race.engine_recipe(steps_per_epoch=100).channels == (32, 64, 128, 256)


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


def test_a_variant_trains_only_its_own_byolbench_row():
    rows = race.raced_rows(["byolbench", "lightly-docs"], "progressive")
    assert rows == [
        ("byolbench", "byolbench[progressive]"),
        ("lightly-docs", "lightly-docs"),
    ]
    assert race.raced_rows(["byolbench"], None) == [("byolbench", "byolbench")]


def _save(folder, name, backbone, top1):
    (folder / f"{name}.json").write_text(json.dumps({"backbone": backbone, "knn_top1": top1}))


def test_the_table_keeps_every_saved_result_whichever_contender_ran_last(tmp_path):
    _save(tmp_path, "lightly-engine-10m-s0", "resnet10t", 36.0)
    _save(tmp_path, "byolbench[prog-b32]-10m-s0", "resnet10t", 37.5)
    _save(tmp_path, "byolbench-30m-s0", "resnet10t", 42.0)
    _save(tmp_path, "byolbench-10m-s0", "resnet10t", 36.5)
    _save(tmp_path, "lightly-docs-10m-s0", "resnet18", 33.0)
    _save(tmp_path, "byolbench-10m-s1", "resnet10t", 99.0)
    _save(tmp_path, "random-resnet10t-s0", "resnet10t", 30.0)
    rows = race.table_rows(tmp_path, 0)
    assert [(r["contender"], r["budget"]) for r in rows] == [
        ("byolbench", "10m"),
        ("byolbench", "30m"),
        ("byolbench[prog-b32]", "10m"),
        ("lightly-engine", "10m"),
    ]
    assert rows[0]["budget_seconds"] == 600 and rows[1]["gain"] == pytest.approx(12.0)
    _save(tmp_path, "random-resnet18-s0", "resnet18", 31.0)
    rows = race.table_rows(tmp_path, 0)
    assert rows[-1]["contender"] == "lightly-docs" and rows[-1]["gain"] == pytest.approx(2.0)
    assert race.table_rows(tmp_path / "missing", 0) == []


def test_a_lever_that_changes_the_stem_is_compared_with_its_own_net_at_random_init(tmp_path):
    changed = {"backbone": "resnet10t", "small_image_stem": "off", "knn_top1": 40.0}
    (tmp_path / "byolbench[stem-off]-10m-s0.json").write_text(json.dumps(changed))
    _save(tmp_path, "byolbench-10m-s0", "resnet10t", 36.5)
    _save(tmp_path, "random-resnet10t-s0", "resnet10t", 30.0)
    assert race.random_init_name(changed, 0) == "random-resnet10t-stem-off-s0.json"
    assert [r["contender"] for r in race.table_rows(tmp_path, 0)] == ["byolbench"]
    _save(tmp_path, "random-resnet10t-stem-off-s0", "resnet10t", 25.0)
    rows = race.table_rows(tmp_path, 0)
    assert rows[1]["gain"] == pytest.approx(15.0) and rows[0]["gain"] == pytest.approx(6.5)
    assert race.net_label(rows[1]) == "resnet10t (stem off)"
    assert race.net_label(rows[0]) == "resnet10t"


def test_a_narrower_net_is_compared_with_its_own_net_at_random_init(tmp_path):
    narrow = {"backbone": "resnet10t", "channels": [32, 64, 128, 256], "knn_top1": 38.0}
    (tmp_path / "byolbench[half]-10m-s0.json").write_text(json.dumps(narrow))
    _save(tmp_path, "random-resnet10t-s0", "resnet10t", 30.0)
    assert race.random_init_name(narrow, 0) == "random-resnet10t-c32-64-128-256-s0.json"
    assert race.table_rows(tmp_path, 0) == []  # not beside the full-width net's number
    _save(tmp_path, "random-resnet10t-c32-64-128-256-s0", "resnet10t", 27.0)
    (row,) = race.table_rows(tmp_path, 0)
    assert row["gain"] == pytest.approx(11.0)
    assert race.net_label(row) == "resnet10t (channels 32,64,128,256)"
    plain = {"backbone": "resnet10t", "channels": [], "small_image_stem": "auto"}
    assert race.net_options(plain) == {} and race.net_label(plain) == "resnet10t"


def test_a_narrower_stem_is_compared_with_its_own_net_at_random_init():
    narrow = {"backbone": "resnet10t", "channels": [32, 64, 128, 256], "stem_width": 16}
    assert race.random_init_name(narrow, 1) == "random-resnet10t-c32-64-128-256-sw16-s1.json"
    assert race.net_label(narrow) == "resnet10t (channels 32,64,128,256, stem width 16)"
    assert race.net_options({**narrow, "stem_width": 0}) == {"channels": [32, 64, 128, 256]}


@pytest.mark.parametrize("native", [True, False])
def test_lightlys_loop_gets_bf16_only_where_the_cpu_computes_it(native, monkeypatch):
    from byolbench.train import precision

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: native)
    assert race.engine_recipe(steps_per_epoch=100).bf16 is native


def test_a_result_of_an_earlier_recipe_is_set_aside_not_reused(tmp_path):
    key = race.recipe_key("byolbench", "10m", 0, {}, steps_per_epoch=156)
    assert key == race.quick_config("10m", 0).config_hash()
    assert key != race.recipe_key("byolbench", "10m", 0, {"byol.tau_base": "0.98"}, 156)
    docs = race.recipe_key("lightly-docs", "10m", 0, {}, 156)
    assert docs == race.recipe_key("lightly-docs", "20m", 1, {}, 39)  # its recipe is fixed
    assert race.recipe_key("lightly-engine", "10m", 0, {}, 156) not in (docs, key)

    current = tmp_path / "byolbench-10m-s0.json"
    current.write_text(json.dumps({"backbone": "resnet10t", "knn_top1": 41.0, "recipe_key": key}))
    assert race.retire_stale(current, key) is None and current.is_file()

    old = tmp_path / "lightly-docs-10m-s0.json"  # saved before results carried their recipe
    _save(tmp_path, "lightly-docs-10m-s0", "resnet18", 33.0)
    assert race.retire_stale(old, docs) == tmp_path / "lightly-docs@earlier-10m-s0.json"
    assert not old.exists()
    assert race.retire_stale(tmp_path / "byolbench[x]-10m-s0.json", key) is None

    variant = tmp_path / "byolbench[half-w]-10m-s0.json"
    variant.write_text(
        json.dumps({"backbone": "resnet10t", "knn_top1": 40.0, "recipe_key": "abcdef99"})
    )
    assert race.retire_stale(variant, key).name == "byolbench[half-w]@abcdef-10m-s0.json"
    variant.write_text(
        json.dumps({"backbone": "resnet10t", "knn_top1": 39.0, "recipe_key": "abcdef99"})
    )
    assert race.retire_stale(variant, key).name == "byolbench[half-w]@abcdef.2-10m-s0.json"

    _save(tmp_path, "random-resnet10t-s0", "resnet10t", 30.0)
    _save(tmp_path, "random-resnet18-s0", "resnet18", 31.0)
    labels = [r["contender"] for r in race.table_rows(tmp_path, 0)]
    assert labels == [
        "byolbench",
        "byolbench[half-w]@abcdef",
        "byolbench[half-w]@abcdef.2",
        "lightly-docs@earlier",
    ]


def test_every_plain_row_of_an_earlier_recipe_is_set_aside_before_a_race(tmp_path):
    def saved(name, key=None):
        result = {"backbone": "resnet10t", "knn_top1": 40.0}
        (tmp_path / f"{name}.json").write_text(json.dumps({**result, "recipe_key": key}))

    current = race.recipe_key("byolbench", "5m", 0, {}, 156)
    saved("byolbench-5m-s0", current)
    saved("byolbench-10m-s0")  # an earlier preset's, never raced again
    saved("lightly-engine-10m-s0", "0123456789ab")
    saved("byolbench[lever]-10m-s0")  # a variant: its --set is unknown here
    saved("byolbench-10m-s1")  # another seed
    retired = race.retire_earlier_recipes(tmp_path, 0, steps_per_epoch=156)
    assert sorted(p.name for p in retired) == [
        "byolbench@earlier-10m-s0.json",
        "lightly-engine@012345-10m-s0.json",
    ]
    assert (tmp_path / "byolbench-5m-s0.json").is_file()
    assert (tmp_path / "byolbench[lever]-10m-s0.json").is_file()
    assert (tmp_path / "byolbench-10m-s1.json").is_file()
    assert race.retire_earlier_recipes(tmp_path / "missing", 0, 156) == []
