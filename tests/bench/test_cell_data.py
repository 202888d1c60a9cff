"""What a cell trains and evaluates on: the training size of an image folder, the labelled
split kept whole under --max-train-samples, and a true random init beside a pretrained one."""

from __future__ import annotations

import json

import pytest
import timm
import torch
from safetensors.torch import save_file

from byolbench.bench import runner
from byolbench.bench.aggregate import aggregate, comparison_table
from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.runner import RunOptions, run_matrix
from byolbench.bench.store import ResultsStore
from byolbench.data import imagefolder
from byolbench.export.evaluate import EvaluateRequest, evaluate_source
from byolbench.export.source import open_source
from byolbench.export.writer import export_backbone
from tests.data.helpers import write_coloured_folder

TINY = {
    "train.epochs": "1",
    "train.batch_size": "4",
    "train.mixed_precision": "no",
    "model.projector_hidden_dim": "32",
    "model.predictor_hidden_dim": "32",
    "model.projector_dim": "16",
    "eval.protocols": "knn",
    "eval.knn_k": "5",
    "eval.knn_sweep": "",
}


def _run(tmp_path, dataset: str, **sets: str) -> list[dict]:
    spec = MatrixSpec(["test_resnet"], [dataset], sets={**TINY, **sets})
    outcomes = run_matrix(expand(spec), RunOptions(results_dir=tmp_path / "results", cpu=True))
    assert [o.status for o in outcomes] == ["done"], [o.error for o in outcomes]
    return outcomes[0].rows


def _record_evaluations(monkeypatch) -> list[tuple[str, int, dict[str, torch.Tensor]]]:
    """Records (method, labelled images, backbone weights) of every evaluation of a cell."""
    seen = []
    original = runner.evaluate_backbone

    def recording(backbone, splits, config, image_size, method, **kwargs):
        state = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
        seen.append((method, len(splits.train), state))
        return original(backbone, splits, config, image_size, method, **kwargs)

    monkeypatch.setattr(runner, "evaluate_backbone", recording)
    return seen


def test_folder_of_mixed_sizes_trains_and_evaluates_at_the_training_size(tmp_path, monkeypatch):
    monkeypatch.setattr(imagefolder, "DEFAULT_IMAGE_SIZE", 32)  # 224 in real use
    data = write_coloured_folder(tmp_path / "shots")
    rows = _run(tmp_path, f"imagefolder:{data}")
    assert {r["image_size"] for r in rows} == {32}  # not the 36 px it is stored at
    run_dir = tmp_path / "results" / "runs" / rows[0]["cell_id"]
    record = json.loads((run_dir / "backbone.json").read_text())
    assert record["backbone"]["image_size"] == 32
    assert (record["crop_pct"], record["stored_image_size"]) == (0.875, 36)
    # the normalisation measured on all three colours is recorded with the weights
    assert record["mean"] == pytest.approx([0.34, 0.34, 0.34], abs=0.02)
    exported = export_backbone(open_source(run_dir), tmp_path / "export")
    pretrained_cfg = exported.config["pretrained_cfg"]
    assert pretrained_cfg["crop_pct"] == 0.875 and pretrained_cfg["input_size"] == [3, 32, 32]
    assert pretrained_cfg["mean"] == record["mean"]
    # `byolbench evaluate` uses the same evaluation transform: the same kNN accuracy
    again = evaluate_source(open_source(run_dir), EvaluateRequest(f"imagefolder:{data}"))
    byol_knn = next(r for r in rows if r["method"] == "byol")
    assert again[0]["image_size"] == 32 and again[0]["protocol_details"]["eval_crop_pct"] == 0.875
    assert again[0]["top1"] == byol_knn["top1"]


def test_max_train_samples_shrinks_pretraining_only(tmp_path, monkeypatch):
    seen = _record_evaluations(monkeypatch)
    data = write_coloured_folder(tmp_path / "shots", sizes=((24, 24),) * 6)  # 18 train images
    rows = _run(tmp_path, f"imagefolder:{data}", **{"data.max_train_samples": "10"})
    assert [(method, labelled) for method, labelled, _ in seen] == [("byol", 18), ("random", 18)]
    assert {(r["pretrain_samples"], r["train_samples"]) for r in rows} == {(10, 18)}
    assert {r["steps"] for r in rows} == {10 // 4}  # pretraining saw 10 images per epoch
    stored = ResultsStore(tmp_path / "results").read()
    assert set(stored["pretrain_samples"]) == {10} and set(stored["train_samples"]) == {18}


@pytest.fixture
def fake_pretrained(tmp_path, monkeypatch):
    """timm's pretrained loading reads a local checkpoint instead of downloading one."""
    reference = timm.create_model("test_resnet")
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for param in reference.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
    checkpoint = tmp_path / "test_resnet_pretrained.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, checkpoint)
    real = timm.create_model

    def create_model(name, pretrained=False, **kwargs):
        if pretrained:
            kwargs["pretrained_cfg_overlay"] = {"file": str(checkpoint)}
        return real(name, pretrained=pretrained, **kwargs)

    monkeypatch.setattr(timm, "create_model", create_model)
    return {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}


def test_pretrained_runs_keep_a_true_random_init_row(tmp_path, monkeypatch, fake_pretrained):
    seen = _record_evaluations(monkeypatch)
    data = write_coloured_folder(tmp_path / "shots", sizes=((24, 24),) * 4)
    rows = _run(tmp_path, f"imagefolder:{data}", **{"model.pretrained": "true"})
    assert [r["method"] for r in rows] == ["byol", "random", "pretrained-init"]
    weights = {method: state for method, _, state in seen}
    key = "layer1.0.conv1.weight"  # the 32 px stem is new either way; later layers are not
    assert torch.equal(weights["pretrained-init"][key], fake_pretrained[key])
    assert not torch.allclose(weights["random"][key], fake_pretrained[key])
    summary = aggregate(ResultsStore(tmp_path / "results").read())
    table = comparison_table(summary, rows[0]["dataset"])
    assert {"kNN BYOL", "kNN random", "kNN pretrained init"} <= set(table.columns)
    init = next(r for r in rows if r["method"] == "pretrained-init")["top1"]
    byol = next(r for r in rows if r["method"] == "byol")["top1"]
    assert table["kNN gain over pretrained init"].iloc[0] == f"{byol - init:+.2f}"
