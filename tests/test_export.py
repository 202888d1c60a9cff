"""Export, weight sources, evaluation of any weights and embeddings (byolbench.export)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from byolbench.config import from_dict
from byolbench.errors import CheckpointError, ConfigError, DataError
from byolbench.export import export_backbone, open_source
from byolbench.export.embeddings import check_output, embed_folder, write_embeddings
from byolbench.export.evaluate import EvaluateRequest, evaluate_pretrained, evaluate_source
from byolbench.export.pretrained import create_pretrained_backbone
from byolbench.train.trainer import build_model
from tests.export_helpers import fake_hub_cache, write_image_folder

PLAIN_TIMM = r"""
import json, re, sys
import timm, torch
from safetensors.torch import load_file, save_file

x = load_file(sys.argv[1])["x"]
features, errors = {}, {}
for i, folder in enumerate(sys.argv[3:]):
    readme = open(folder + "/README.md").read()
    for j, code in enumerate(re.findall(r"```python\n(.*?)```", readme, re.S)):
        scope = {}
        exec(code, scope)
        with torch.no_grad():
            features[f"{i}.readme{j}"] = scope["model"](x).contiguous()
    try:
        model = timm.create_model("local-dir:" + folder, pretrained=True).eval()
        with torch.no_grad():
            features[f"{i}.local"] = model(x).contiguous()
    except RuntimeError as exc:
        errors[i] = str(exc)
save_file(features, sys.argv[2])
print(json.dumps({"errors": errors, "byolbench_imported": "byolbench" in sys.modules}))
"""


@pytest.fixture(scope="module")
def exports(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("exports")
    return {
        name: export_backbone(open_source(runs[name]), out / name, with_heads=True).folder
        for name in ("test_resnet", "test_vit")
    }


def online_backbone(run_dir: Path) -> torch.nn.Module:
    """The trained online backbone, rebuilt the way the trainer built it."""
    config = from_dict(json.loads((run_dir / "config.json").read_text()))
    image_size = json.loads((run_dir / "backbone.json").read_text())["backbone"]["image_size"]
    model = build_model(config, image_size)
    model.load_state_dict(load_file(run_dir / "model.safetensors"))
    return model.backbone.eval()


def one_line_error(exc_info: pytest.ExceptionInfo) -> str:
    text = str(exc_info.value)
    assert "\n" not in text and text
    return text


def test_plain_timm_gives_the_online_backbones_features(runs, exports, tmp_path):
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    save_file({"x": x}, tmp_path / "x.safetensors")
    folders = [str(exports["test_resnet"]), str(exports["test_vit"])]
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PLAIN_TIMM,
            str(tmp_path / "x.safetensors"),
            str(tmp_path / "features.safetensors"),
            *folders,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["byolbench_imported"] is False
    features = load_file(tmp_path / "features.safetensors")
    with torch.no_grad():
        expected = {
            i: online_backbone(runs[name])(x) for i, name in enumerate(("test_resnet", "test_vit"))
        }
    # ResNet with the small-image stem: the README snippet; ViT with patch 4: both README
    # snippets (local-dir and pretrained_cfg_overlay) and timm's local-dir loading itself.
    for key in ("0.readme0", "1.readme0", "1.readme1", "1.local"):
        reference = expected[int(key[0])]
        assert features[key].shape == reference.shape, key
        assert (features[key] - reference).abs().max().item() < 1e-5, key
    # timm alone cannot rebuild the stem and says so instead of loading the wrong layer
    assert "0.local" not in features and "conv1" in report["errors"]["0"]


def test_export_holds_the_online_backbone_heads_and_records(runs, exports):
    run_state = load_file(runs["test_resnet"] / "model.safetensors")
    exported = load_file(exports["test_resnet"] / "model.safetensors")
    assert set(exported) == {k[len("backbone.") :] for k in run_state if k.startswith("backbone.")}
    assert all(torch.equal(v, run_state[f"backbone.{k}"]) for k, v in exported.items())
    assert any(
        not torch.equal(v, run_state[f"target_backbone.{k}"])
        for k, v in exported.items()
        if v.is_floating_point()
    )
    heads = load_file(exports["test_resnet"] / "heads.safetensors")
    assert heads and all(k.startswith(("projector.", "predictor.")) for k in heads)
    assert all(torch.equal(v, run_state[k]) for k, v in heads.items())

    config = json.loads((exports["test_resnet"] / "config.json").read_text())
    assert config["architecture"] == "test_resnet" and config["num_classes"] == 0
    assert config["byolbench"]["small_image_stem"]["conv1"]["stride"] == 1
    recorded = json.loads((runs["test_resnet"] / "backbone.json").read_text())
    assert config["pretrained_cfg"]["mean"] == recorded["mean"]
    assert config["pretrained_cfg"]["input_size"] == [3, 32, 32]
    vit = json.loads((exports["test_vit"] / "config.json").read_text())
    assert vit["model_args"]["patch_size"] == 4 and vit["model_args"]["img_size"] == 32
    assert vit["byolbench"]["small_image_stem"] is None

    readme = (exports["test_resnet"] / "README.md").read_text()
    knn = json.loads((runs["test_resnet"] / "eval.json").read_text())["rows"][0]
    assert f"| knn | {knn['top1']} |" in readme
    assert "| optim.lr | `1.0` |" in readme and "| train.epochs | `1` |" in readme
    assert "3x3 stride-1" in readme and "local-dir" in readme


def test_checkpoints_and_unfinished_runs_are_sources(runs, tmp_path):
    run = runs["test_vit"]
    recorded = json.loads((run / "backbone.json").read_text())["backbone"]
    source = open_source(run / "checkpoints" / "step-00000001")
    assert source.kind == "checkpoint" and source.steps == 1
    checkpoint_state = load_file(run / "checkpoints" / "step-00000001" / "model.safetensors")
    assert all(
        torch.equal(v, checkpoint_state[f"backbone.{k}"]) for k, v in source.backbone_state.items()
    )
    assert source.spec.to_dict() == recorded

    unfinished = tmp_path / "unfinished"  # no final weights, no backbone.json yet
    unfinished.mkdir()
    shutil.copy(run / "config.json", unfinished)
    shutil.copytree(run / "checkpoints", unfinished / "checkpoints")
    newest = open_source(unfinished)
    assert newest.kind == "checkpoint" and newest.steps == 2
    assert newest.spec.to_dict() == recorded  # rebuilt from config.json + the dataset
    assert newest.mean == tuple(json.loads((run / "backbone.json").read_text())["mean"])
    result = export_backbone(newest, tmp_path / "out")
    assert "Not evaluated yet" in (result.folder / "README.md").read_text()


def test_weights_of_another_architecture_are_refused(runs, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name in ("backbone.json", "config.json"):
        shutil.copy(runs["test_resnet"] / name, mixed)
    shutil.copy(runs["test_vit"] / "model.safetensors", mixed)
    source = open_source(mixed)
    with pytest.raises(CheckpointError) as exc_info:
        export_backbone(source, tmp_path / "out")
    text = one_line_error(exc_info)
    assert "do not fit test_resnet" in text and "different architecture" in text
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_damaged_files_are_refused(runs, exports, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["test_resnet"], run, ignore=shutil.ignore_patterns("checkpoints"))
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError) as exc_info:
        open_source(run)
    assert "truncated or corrupt" in one_line_error(exc_info)

    export = tmp_path / "export"
    shutil.copytree(exports["test_vit"], export)
    data = bytearray((export / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF  # same size, one flipped byte in the last tensor
    (export / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as exc_info:
        open_source(export)
    assert "SHA-256" in one_line_error(exc_info)

    checkpoint = tmp_path / "run2" / "checkpoints" / "step-00000002"
    shutil.copytree(runs["test_resnet"] / "checkpoints" / "step-00000002", checkpoint)
    shutil.copy(runs["test_resnet"] / "config.json", tmp_path / "run2")
    with open(checkpoint / "model.safetensors", "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(CheckpointError) as exc_info:
        open_source(checkpoint)
    assert "truncated" in one_line_error(exc_info)


def test_folders_without_weights_are_refused(exports, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError) as exc_info:
        open_source(empty)
    assert "no weights in" in one_line_error(exc_info)
    config_only = tmp_path / "config-only"
    config_only.mkdir()
    shutil.copy(exports["test_vit"] / "config.json", config_only)
    with pytest.raises(CheckpointError) as exc_info:
        open_source(config_only)
    assert "no model.safetensors" in one_line_error(exc_info)
    with pytest.raises(CheckpointError) as exc_info:
        open_source(tmp_path / "missing")
    assert "does not exist" in one_line_error(exc_info)


def test_export_refuses_overwrite_and_missing_heads(exports, tmp_path):
    source = open_source(exports["test_vit"])
    with pytest.raises(ConfigError) as exc_info:
        export_backbone(source, exports["test_resnet"])
    assert "--force" in one_line_error(exc_info)
    plain = export_backbone(source, tmp_path / "plain").folder  # an export of an export
    assert not (plain / "heads.safetensors").exists()
    with pytest.raises(CheckpointError) as exc_info:
        export_backbone(open_source(plain), tmp_path / "again", with_heads=True)
    assert "no projector or predictor" in one_line_error(exc_info)


def test_evaluation_reproduces_the_runs_own_numbers(runs, exports, tmp_path):
    dataset = f"imagefolder:{runs['data']}"
    own = json.loads((runs["test_resnet"] / "eval.json").read_text())["rows"][0]
    request = EvaluateRequest(dataset, ("knn",), device="cpu")
    for path in (runs["test_resnet"], exports["test_resnet"]):
        (row,) = evaluate_source(open_source(path), request)
        assert (row["method"], row["protocol"], row["backbone"]) == ("byol", "knn", "test_resnet")
        assert row["top1"] == own["top1"] and row["top5"] == own["top5"]
        assert row["epochs"] == 1 and row["config_hash"] == own["config_hash"]
        assert row["cell_id"].startswith("evaluate__") and row["cell_id"] != own["cell_id"]
        assert row["source"] == "evaluate" and row["config_group"] == own["config_group"]

    other = write_image_folder(tmp_path / "other", classes=3, train=8, test=4, seed=1)
    rows = evaluate_source(
        open_source(exports["test_vit"]),
        EvaluateRequest(f"imagefolder:{other}", ("knn", "linear"), device="cpu"),
    )
    assert [r["protocol"] for r in rows] == ["knn", "linear"]
    assert rows[0]["backbone"] == "test_vit" and rows[0]["source"] == "evaluate"
    assert (rows[0]["dataset"], rows[0]["eval_dataset"]) == (dataset, f"imagefolder:{other}")
    assert rows[0]["protocol_details"]["pretrained_on"] == dataset

    with pytest.raises(ConfigError) as exc_info:
        evaluate_source(
            open_source(exports["test_vit"]), EvaluateRequest(dataset, image_size=64, device="cpu")
        )
    assert "--image-size 64" in one_line_error(exc_info)


def test_evaluation_precision_is_recorded_and_checked(runs):
    dataset = f"imagefolder:{runs['data']}"
    source = open_source(runs["test_resnet"])
    (fp32,) = evaluate_source(source, EvaluateRequest(dataset, ("knn",), device="cpu"))
    bf16_request = EvaluateRequest(dataset, ("knn",), device="cpu", mixed_precision="bf16")
    (bf16,) = evaluate_source(source, bf16_request)
    assert (fp32["mixed_precision"], bf16["mixed_precision"]) == ("no", "bf16")
    assert bf16["cell_id"] != fp32["cell_id"]
    with pytest.raises(ConfigError) as exc_info:
        evaluate_source(
            source, EvaluateRequest(dataset, ("knn",), device="cpu", mixed_precision="fp8")
        )
    assert "choose from auto, no, bf16, fp16" in one_line_error(exc_info)


def test_timm_pretrained_weights_come_from_the_local_cache_only(runs, tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    request = EvaluateRequest(f"imagefolder:{runs['data']}", ("knn",), image_size=32, device="cpu")
    with pytest.raises(ConfigError) as exc_info:
        evaluate_pretrained("test_resnet", request)
    assert "would need a download" in one_line_error(exc_info)

    cache = tmp_path / "hub"
    state = timm.create_model("test_resnet").state_dict()  # with its 1000-class head
    fake_hub_cache(cache, "timm/test_resnet.r160_in1k", state)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    connections: list[object] = []
    offline_before = os.environ.get("HF_HUB_OFFLINE")
    monkeypatch.setattr(
        socket.socket, "connect", lambda _self, address: connections.append(address)
    )
    model = create_pretrained_backbone("test_resnet", 32)
    assert connections == []  # offline mode: not even a metadata request
    assert os.environ.get("HF_HUB_OFFLINE") == offline_before
    assert torch.equal(model.state_dict()["conv1.0.weight"], state["conv1.0.weight"])
    rows = evaluate_pretrained("test_resnet", request)  # the default kNN sweep
    assert [r["variant"] for r in rows] == ["k=10", "k=16"]  # capped at the 16 train images
    row = rows[-1]
    assert row["method"] == "timm-pretrained" and row["backbone"] == "test_resnet"
    assert row["image_size"] == 32 and 0 <= row["top1"] <= 100


def test_embeddings_of_a_folder(exports, tmp_path, caplog):
    images = tmp_path / "images"
    (images / "a").mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    for i, array in enumerate(arrays):
        Image.fromarray(array).save(images / ("a" if i else "") / f"{i}.png")
    (images / "a" / "broken.jpg").write_bytes(b"not an image")
    source = open_source(exports["test_vit"])
    model = source.load()
    result = embed_folder(model, images, 32, source.mean, source.std, normalize=True)
    assert result.files == ["0.png", "a/1.png", "a/2.png"]
    assert len(result.skipped) == 1 and "broken.jpg" in result.skipped[0]
    assert "broken.jpg" in caplog.text
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor(source.mean).view(1, 3, 1, 1)
    std = torch.tensor(source.std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(model((x - mean) / std), dim=1)
    assert np.abs(result.vectors - expected.numpy()).max() < 1e-5

    written = write_embeddings(tmp_path / "emb.npy", result, {"model": "test"})
    assert written == [tmp_path / "emb.npy", tmp_path / "emb.json"]
    assert np.array_equal(np.load(tmp_path / "emb.npy"), result.vectors)
    assert json.loads((tmp_path / "emb.json").read_text())["files"] == result.files
    with pytest.raises(DataError):
        embed_folder(model, tmp_path / "emb-nothing", 32, source.mean, source.std)


def test_output_formats(monkeypatch, tmp_path):
    with pytest.raises(ConfigError) as exc_info:
        check_output(tmp_path / "emb.csv")
    assert ".npy" in one_line_error(exc_info)
    real_find_spec = __import__("importlib").util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec",
        lambda name, *a: None if name == "pyarrow" else real_find_spec(name, *a),
    )
    with pytest.raises(ConfigError) as exc_info:
        check_output(tmp_path / "emb.parquet")
    assert "pip install pyarrow" in one_line_error(exc_info)


def test_parquet_round_trip(exports, tmp_path):
    import pyarrow.parquet as pq  # in the dev extra

    from byolbench.export.embeddings import Embeddings

    result = Embeddings(["a.png", "b.png"], np.arange(6, dtype=np.float32).reshape(2, 3))
    write_embeddings(tmp_path / "emb.parquet", result, {"model": "test"})
    table = pq.read_table(tmp_path / "emb.parquet")
    assert table.column("file").to_pylist() == ["a.png", "b.png"]
    assert np.array_equal(np.array(table.column("embedding").to_pylist()), result.vectors)
