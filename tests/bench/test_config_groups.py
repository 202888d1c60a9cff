"""A table cell is one configuration over its seeds: nothing else is ever averaged in."""

import json

import pytest

from byolbench.bench.aggregate import aggregate, comparison_table
from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.runner import RunOptions, run_matrix
from byolbench.bench.store import ResultsStore
from byolbench.config import RunConfig
from byolbench.export import open_source
from byolbench.export.evaluate import EvaluateRequest, evaluate_source, write_evaluation
from tests.bench.fake_results import result_row
from tests.bench.folders import write_small_folder

TINY = {
    "data.max_train_samples": "128",
    "train.epochs": "1",
    "train.batch_size": "32",
    "train.mixed_precision": "no",
    "model.projector_hidden_dim": "32",
    "model.predictor_hidden_dim": "32",
    "model.projector_dim": "16",
    "eval.protocols": "knn",
    "eval.knn_sweep": "",
}


def _row(seed, top1, lr=0.2, **extra):
    config = RunConfig().replace({"optim.lr": lr, "train.seed": seed})
    return result_row(
        "cifar10",
        "resnet18",
        seed,
        "byol",
        "knn",
        top1,
        cell_id=f"c{seed}-{lr}",
        config_hash=config.config_hash(),
        config_group=config.config_group(),
        settings=json.dumps(config.settings()),
        variant="k=200",
        **extra,
    )


def test_seeds_share_a_group_and_other_settings_do_not():
    base = RunConfig()
    assert base.replace({"train.seed": 3}).config_group() == base.config_group()
    assert base.replace({"train.seed": 3}).config_hash() != base.config_hash()
    for key, value in {
        "optim.lr": 0.5,
        "train.batch_size": 128,
        "data.image_size": 64,
        "train.max_steps": 10,
        "data.max_train_samples": 1000,
        "train.mixed_precision": "no",
    }.items():
        assert base.replace({key: value}).config_group() != base.config_group(), key
    # logging cadence does not change results, so it does not split a group
    assert base.replace({"train.log_every": 1}).config_group() == base.config_group()


def test_three_seeds_of_one_config_give_n3_mean_and_sample_std():
    import pandas as pd

    rows = pd.DataFrame([_row(0, 80.0), _row(1, 82.0), _row(2, 84.0)])
    summary = aggregate(rows)
    assert len(summary) == 1
    group = summary.iloc[0]
    assert group["n_seeds"] == 3
    assert group["top1_mean"] == pytest.approx(82.0)
    assert group["top1_std"] == pytest.approx(2.0)  # sample std (ddof=1)
    table = comparison_table(summary, "cifar10")
    assert table.iloc[0]["seeds"] == 3 and table.iloc[0]["kNN BYOL"] == "82.00 ± 2.00"


def test_seeds_of_one_time_budget_that_ran_different_epochs_share_one_row():
    import pandas as pd

    rows = pd.DataFrame(
        [
            _row(0, 40.0, epochs=12.54, time_budget="8m"),
            _row(1, 41.0, epochs=13.22, time_budget="8m"),
            _row(2, 39.0, epochs=12.51, time_budget="8m"),
            _row(0, 30.0, lr=0.5, epochs=4),
        ]
    )
    summary = aggregate(rows)
    assert len(summary) == 2
    budgeted = summary[summary["n_seeds"] == 3].iloc[0]
    assert budgeted["top1_mean"] == pytest.approx(40.0)
    assert budgeted["epochs"] == pytest.approx(12.76)  # the mean of the seeds' epochs
    table = comparison_table(summary, "cifar10")
    assert sorted(table["seeds"]) == [1, 3]
    assert "40.00 ± 1.00" in set(table["kNN BYOL"])


def test_runs_differing_only_in_lr_stay_two_rows_and_say_what_differs():
    import pandas as pd

    rows = pd.DataFrame([_row(0, 80.0, lr=0.2), _row(0, 60.0, lr=1.0)])
    summary = aggregate(rows)
    assert len(summary) == 2 and sorted(summary["top1_mean"]) == [60.0, 80.0]
    assert (summary["n_seeds"] == 1).all()
    table = comparison_table(summary, "cifar10")
    assert len(table) == 2
    assert sorted(table["differs"]) == ["optim.lr=0.2", "optim.lr=1.0"]
    assert dict(zip(table["differs"], table["kNN BYOL"], strict=True)) == {
        "optim.lr=0.2": "80.00",
        "optim.lr=1.0": "60.00",
    }


def test_a_duplicate_of_the_same_config_and_seed_is_left_out_and_counted():
    import pandas as pd

    first = _row(0, 80.0)
    copy = {**first, "cell_id": "copied-elsewhere", "top1": 10.0, "timestamp": "2024-01-01"}
    summary = aggregate(pd.DataFrame([first, copy]))
    assert len(summary) == 1
    assert summary.iloc[0]["top1_mean"] == 80.0 and summary.iloc[0]["n_seeds"] == 1
    assert summary.iloc[0]["n_duplicates"] == 1


def test_evaluate_rows_of_a_run_are_reported_apart(tmp_path):
    """The reproduction of the bug: a run's own kNN row and `evaluate`'s row of the same run
    were averaged into one cell shown as one seed."""
    results = tmp_path / "results"
    dataset = write_small_folder(tmp_path / "small")
    cells = expand(MatrixSpec(["test_resnet"], [dataset], sets=TINY))
    (outcome,) = run_matrix(cells, RunOptions(results_dir=results))
    assert outcome.status == "done"
    request = EvaluateRequest(dataset, ("knn",), device="cpu", mixed_precision="no")
    rows = evaluate_source(open_source(outcome.run_dir), request)
    write_evaluation(results, rows)

    frame = ResultsStore(results).read()
    assert set(frame["source"]) == {"run", "evaluate"}
    summary = aggregate(frame)
    byol = summary[(summary["method"] == "byol") & (summary["protocol"] == "knn")]
    assert len(byol) == 2 and set(byol["source"]) == {"run", "evaluate"}
    assert (byol["n_seeds"] == 1).all()
    table = comparison_table(summary, dataset)
    assert list(table["source"]) == ["evaluate", "run"] or list(table["source"]) == [
        "run",
        "evaluate",
    ]
    run_row = table[table["source"] == "run"].iloc[0]
    own = frame[(frame["source"] == "run") & (frame["method"] == "byol")]["top1"].iloc[0]
    assert run_row["kNN BYOL"] == f"{own:.2f}"

    again = evaluate_source(open_source(outcome.run_dir), request)
    write_evaluation(results, again)  # the same evaluation again replaces, never adds
    assert len(ResultsStore(results).read()) == len(frame)
