"""Every protocol inside `byolbench run`, transfer rows, and the same protocols afterwards
with `byolbench evaluate`, on a tiny image folder."""

import functools
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.report import build_report, load_rows, write_report
from byolbench.bench.runner import RunOptions, run_matrix
from byolbench.bench.store import ResultsStore
from byolbench.config import parse_overrides
from byolbench.errors import ConfigError
from byolbench.export import open_source
from byolbench.export.evaluate import EvaluateRequest, evaluate_source
from tests.export_helpers import write_image_folder

ALL = "knn,linear,finetune,online-linear,fewshot"
SETS = [
    "model.projector_hidden_dim=32",
    "model.predictor_hidden_dim=32",
    "model.projector_dim=16",
    f"eval.protocols={ALL}",
    "eval.linear_max_iter=20",
    "eval.finetune_epochs=1",
    "eval.finetune_batch_size=16",
    "eval.fewshot_fractions=0.25,0.5",
    "eval.rankme_every=2",
]


@functools.cache
def _run(base: Path) -> dict[str, Path]:
    pets = write_image_folder(base / "pets", classes=4, train=10, test=4, size=16)
    cars = write_image_folder(base / "cars", classes=3, train=8, test=4, size=16, seed=1)
    spec = MatrixSpec(["test_resnet"], [f"imagefolder:{pets}"], preset="standard")
    spec.cli = {"train.epochs": 2, "train.batch_size": 8, "train.mixed_precision": "no"}
    spec.sets = parse_overrides([*SETS, f"eval.datasets=imagefolder:{cars}"])
    (outcome,) = run_matrix(expand(spec), RunOptions(results_dir=base / "results", cpu=True))
    assert outcome.status == "done", outcome.error
    return {"pets": pets, "cars": cars, "results": base / "results", "run": outcome.run_dir}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("protocols"))


def _rows(run) -> pd.DataFrame:
    frame = ResultsStore(run["results"]).read()
    frame["variant"] = frame["variant"].fillna("")
    return frame


def test_every_protocol_has_a_byol_and_a_random_row(run):
    frame = _rows(run)
    own = frame[frame["eval_dataset"] == frame["dataset"]]
    expected = {
        ("knn", "k=10"),
        ("knn", "k=20"),
        ("knn", "k=40"),  # 100 and 200 capped at the 40 training images
        ("linear", ""),
        ("finetune", ""),
        ("online-linear", ""),
        ("fewshot", "labels=25%"),
        ("fewshot", "labels=50%"),
    }
    for method in ("byol", "random"):
        part = own[own["method"] == method]
        assert set(zip(part["protocol"], part["variant"], strict=True)) == expected, method
    assert frame["top1"].between(0, 100).all() and frame["rankme"].between(1, 64).all()
    details = {
        (r.method, r.protocol): json.loads(r.protocol_details)
        for r in own.itertuples()
        if r.protocol in ("online-linear", "finetune")
    }
    assert "during BYOL" in details[("byol", "online-linear")]["trained"]
    assert "frozen init backbone" in details[("random", "online-linear")]["trained"]
    assert details[("byol", "online-linear")]["updates"] == 10  # 2 epochs x 5 batches
    assert details[("random", "online-linear")]["updates"] == 10  # the same recipe
    assert details[("byol", "finetune")]["optimizer"] == "sgd"
    assert (run["run"] / "online_probe.safetensors").is_file()
    metrics = (run["run"] / "metrics.jsonl").read_text()
    assert '"rankme"' in metrics and '"online_linear_epoch_top1"' in metrics


def test_transfer_rows_carry_both_datasets(run):
    frame = _rows(run)
    pets, cars = f"imagefolder:{run['pets']}", f"imagefolder:{run['cars']}"
    transfer = frame[frame["eval_dataset"] == cars]
    assert (transfer["dataset"] == pets).all() and (transfer["train_samples"] == 24).all()
    assert set(transfer["method"]) == {"byol", "random"}
    assert set(transfer["protocol"]) == {"knn", "linear", "finetune", "fewshot"}  # no online
    assert (frame.loc[frame["eval_dataset"] == pets, "train_samples"] == 40).all()
    assert transfer["rankme"].notna().all()


def test_report_shows_transfer_rankme_and_quality_plots(run, tmp_path):
    report = build_report(load_rows(run["results"]), run["results"])
    paths = {p.name for p in write_report(report, tmp_path)}
    assert {"transfer.md", "transfer.csv"} <= paths
    assert any(name.startswith("quality_") for name in paths)
    (pets,) = report.tables
    assert "RankMe BYOL" in pets.display.columns and "fine-tune BYOL" in pets.display.columns
    assert "online linear BYOL" in pets.display.columns
    transfer = (tmp_path / "transfer.md").read_text()
    assert "Transfer, kNN" in transfer and f"imagefolder:{run['cars']} BYOL" in transfer
    html = (tmp_path / "report.html").read_text()
    assert 'id="transfer"' in html and "Online linear:" in html and "Fine-tune:" in html
    data = pd.read_csv(tmp_path / "transfer.csv")
    assert set(data["eval_dataset"]) == {f"imagefolder:{run['cars']}"}
    assert data["byol_top1_mean"].notna().all() and data["random_top1_mean"].notna().all()


def test_evaluate_reruns_the_protocols_on_the_saved_weights(run):
    pets = f"imagefolder:{run['pets']}"
    own = _rows(run)
    own = own[(own["method"] == "byol") & (own["eval_dataset"] == pets)]
    request = EvaluateRequest(pets, ("online-linear", "fewshot"), device="cpu")
    rows = evaluate_source(open_source(run["run"]), request)
    by_key = {(r["protocol"], r["variant"]): r for r in rows}
    for key in (("online-linear", ""), ("fewshot", "labels=25%")):
        expected = own[(own["protocol"] == key[0]) & (own["variant"] == key[1])]["top1"].iloc[0]
        assert by_key[key]["top1"] == pytest.approx(expected), key
        assert math.isfinite(by_key[key]["rankme"])

    cars = f"imagefolder:{run['cars']}"
    with pytest.raises(ConfigError) as info:
        evaluate_source(open_source(run["run"]), EvaluateRequest(cars, ("online-linear",)))
    assert "trained on" in str(info.value) and "\n" not in str(info.value)
    own_protocols = evaluate_source(
        open_source(run["run"]), EvaluateRequest(cars, device="cpu")
    )  # the run's own protocols, without the probe that only fits its own labels
    assert {r["protocol"] for r in own_protocols} == {"knn", "linear", "finetune", "fewshot"}


def test_unknown_transfer_datasets_fail_before_training(tmp_path):
    spec = MatrixSpec(
        ["test_resnet"], ["cifar10-mini"], sets=parse_overrides(["eval.datasets=cifar1000"])
    )
    with pytest.raises(ConfigError) as info:
        run_matrix(expand(spec), RunOptions(results_dir=tmp_path))
    assert "cifar1000" in str(info.value) and "cifar100" in str(info.value)
    assert not (tmp_path / "runs").exists()
