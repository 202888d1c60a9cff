"""Aggregation over seeds against hand-computed values on a hand-written runs.csv."""

import math

import pandas as pd
import pytest

from byolbench.bench.aggregate import (
    aggregate,
    check_columns,
    comparison_records,
    comparison_table,
    latest_per_cell,
    to_markdown,
)
from byolbench.bench.store import ResultsStore
from byolbench.errors import DataError

HEADER = (
    "timestamp,cell_id,config_hash,dataset,backbone,augmentation,seed,method,protocol,"
    "top1,top5,epochs,pretrain_seconds,images_per_second\n"
)
# Three seeds of one setting: BYOL kNN top-1 80, 82, 84 (mean 82, sample std 2),
# top-5 90, 93, 96 (mean 93, std 3); random kNN 30, 31, 35 (mean 32, std sqrt(7)).
# Seed 0's BYOL row was re-run: the stale row (top-1 10) is older and must be dropped, even
# though it comes later in the file.
RUNS = (
    HEADER
    + """\
2025-01-02T00:00:00+00:00,c0,h,cifar10,resnet18,byol-small,0,byol,knn,80,90,100,600,100
2025-01-01T00:00:00+00:00,c0,h,cifar10,resnet18,byol-small,0,random,knn,30,60,100,600,100
2025-01-01T00:00:00+00:00,c1,h,cifar10,resnet18,byol-small,1,byol,knn,82,93,100,660,110
2025-01-01T00:00:00+00:00,c1,h,cifar10,resnet18,byol-small,1,random,knn,31,61,100,660,110
2025-01-01T00:00:00+00:00,c2,h,cifar10,resnet18,byol-small,2,byol,knn,84,96,100,720,120
2025-01-01T00:00:00+00:00,c2,h,cifar10,resnet18,byol-small,2,random,knn,35,65,100,720,120
2025-01-01T00:00:00+00:00,c0,h,cifar10,resnet18,byol-small,0,byol,knn,10,20,100,600,100
2025-01-01T00:00:00+00:00,v0,h,cifar10,vit_small,byol-small,0,byol,linear,70,88,100,300,50
"""
)


@pytest.fixture
def rows(tmp_path) -> pd.DataFrame:
    (tmp_path / "runs.csv").write_text(RUNS)
    return ResultsStore(tmp_path).read()


def _group(summary: pd.DataFrame, backbone: str, method: str, protocol: str) -> pd.Series:
    hit = summary[
        (summary["backbone"] == backbone)
        & (summary["method"] == method)
        & (summary["protocol"] == protocol)
    ]
    assert len(hit) == 1
    return hit.iloc[0]


def test_mean_std_and_seed_count_match_hand_computed(rows):
    summary = aggregate(rows)
    assert len(summary) == 3
    byol = _group(summary, "resnet18", "byol", "knn")
    assert byol["top1_mean"] == pytest.approx(82.0)
    assert byol["top1_std"] == pytest.approx(2.0)
    assert byol["top5_mean"] == pytest.approx(93.0)
    assert byol["top5_std"] == pytest.approx(3.0)
    assert byol["n_seeds"] == 3
    assert byol["pretrain_seconds"] == pytest.approx(660.0)
    assert byol["images_per_second"] == pytest.approx(110.0)
    random = _group(summary, "resnet18", "random", "knn")
    assert random["top1_mean"] == pytest.approx(32.0)
    assert random["top1_std"] == pytest.approx(math.sqrt(7.0))


def test_single_seed_has_nan_std(rows):
    vit = _group(aggregate(rows), "vit_small", "byol", "linear")
    assert vit["n_seeds"] == 1 and vit["top1_mean"] == 70.0 and math.isnan(vit["top1_std"])


def test_newest_row_wins_for_a_rerun_cell(rows):
    kept = latest_per_cell(rows)
    c0 = kept[(kept["cell_id"] == "c0") & (kept["method"] == "byol")]
    assert c0["top1"].tolist() == [80]
    assert len(kept) == len(rows) - 1


def test_equal_timestamps_keep_the_row_written_last():
    frame = pd.DataFrame(
        {
            "timestamp": ["t", "t"],
            "cell_id": ["c", "c"],
            "config_hash": ["h", "h"],
            "method": ["byol", "byol"],
            "protocol": ["knn", "knn"],
            "top1": [1.0, 2.0],
        }
    )
    assert latest_per_cell(frame)["top1"].tolist() == [2.0]


def test_comparison_records_and_gain(rows):
    records = comparison_records(aggregate(rows), "cifar10")
    resnet = records[records["backbone"] == "resnet18"].iloc[0]
    assert resnet["protocol"] == "knn"
    assert resnet["gain_top1"] == pytest.approx(50.0)
    assert resnet["byol_n_seeds"] == 3 and resnet["random_n_seeds"] == 3
    vit = records[records["backbone"] == "vit_small"].iloc[0]
    assert vit["random_n_seeds"] == 0 and math.isnan(vit["gain_top1"])


def test_comparison_table_formats_mean_std_gain_and_seeds(rows):
    table = comparison_table(aggregate(rows), "cifar10")
    resnet = table[table["backbone"] == "resnet18"].iloc[0]
    assert resnet["seeds"] == 3
    assert resnet["kNN BYOL"] == "82.00 ± 2.00"
    assert resnet["kNN random"] == "32.00 ± 2.65"
    assert resnet["kNN gain"] == "+50.00"
    assert resnet["pretrain min"] == "11.0"
    vit = table[table["backbone"] == "vit_small"].iloc[0]
    assert vit["linear BYOL"] == "70.00" and vit["linear random"] == "-"
    assert vit["kNN BYOL"] == "-"  # vit_small has no kNN rows
    assert comparison_table(aggregate(rows), "stl10").empty


def test_reference_column_is_added_per_protocol(rows):
    seen = []
    table = comparison_table(
        aggregate(rows), "cifar10", lambda record: seen.append(record["protocol"]) or "REF"
    )
    assert {"kNN published", "linear published"} <= set(table.columns)
    assert sorted(seen) == ["knn", "linear"]


def test_markdown_escapes_pipes_and_counts_rows():
    table = pd.DataFrame({"backbone": ["a|b", "c"], "x": ["1", "2"]})
    text = to_markdown(table)
    lines = text.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("|") for line in lines)
    assert "a\\|b" in lines[2]
    assert to_markdown(pd.DataFrame()) == "_no results_\n"


def test_missing_columns_is_a_one_line_error():
    with pytest.raises(DataError, match=r"lacks columns \['timestamp'") as info:
        check_columns(pd.DataFrame({"top1": [1.0]}), "x/runs.csv")
    assert "\n" not in str(info.value)


def test_empty_rows_give_empty_summary():
    summary = aggregate(pd.DataFrame(columns=["dataset", "top1"]))
    assert summary.empty and "top1_mean" in summary.columns


def test_a_kNN_row_written_before_k_variants_sits_beside_newer_k200_rows(tmp_path):
    header = HEADER.strip() + ",variant,protocol_details\n"
    legacy = '"{""k"": 200, ""temperature"": 0.1}"'
    k200 = '"{""k"": 200, ""headline"": true}"'
    k10 = '"{""k"": 10}"'
    (tmp_path / "runs.csv").write_text(
        header
        + f"""\
2025-01-01T00:00:00+00:00,old,h1,cifar10,resnet18,byol-small,0,byol,knn,38,80,4,600,100,,{legacy}
2025-01-01T00:00:00+00:00,old,h1,cifar10,resnet18,byol-small,0,random,knn,30,60,4,600,100,,{legacy}
2025-01-02T00:00:00+00:00,new,h2,cifar10,resnet18,byol-small,0,byol,knn,37,80,1.5,480,90,k=200,{k200}
2025-01-02T00:00:00+00:00,new,h2,cifar10,resnet18,byol-small,0,byol,knn,36,80,1.5,480,90,k=10,{k10}
2025-01-02T00:00:00+00:00,new,h2,cifar10,resnet18,byol-small,0,random,knn,31,60,1.5,480,90,k=200,{k200}
2025-01-02T00:00:00+00:00,new,h2,cifar10,resnet18,byol-small,0,random,knn,29,60,1.5,480,90,k=10,{k10}
"""
    )
    table = comparison_table(aggregate(ResultsStore(tmp_path).read()), "cifar10")
    shown = table.set_index("epochs")[["kNN BYOL", "kNN random", "kNN gain"]]
    assert shown.loc[4].tolist() == ["38.00", "30.00", "+8.00"]  # the legacy row, not "-"
    assert shown.loc[1.5].tolist() == ["37.00", "31.00", "+6.00"]  # the headline k=200
